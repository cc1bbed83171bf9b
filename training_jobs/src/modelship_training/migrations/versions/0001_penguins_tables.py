"""penguins_raw and penguins_processed, as tables.py's create_all made them before Alembic

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: penguins_raw's columns after id, source and collected_at: palmerpenguins' raw dataset in snake_case.
RAW_COLUMNS: tuple[tuple[str, type[sa.types.TypeEngine]], ...] = (
    ("study_name", sa.Text),
    ("sample_number", sa.Integer),
    ("species", sa.Text),
    ("region", sa.Text),
    ("island", sa.Text),
    ("stage", sa.Text),
    ("individual_id", sa.Text),
    ("clutch_completion", sa.Text),
    ("date_egg", sa.Text),
    ("culmen_length_mm", sa.Float),
    ("culmen_depth_mm", sa.Float),
    ("flipper_length_mm", sa.Float),
    ("body_mass_g", sa.Float),
    ("sex", sa.Text),
    ("delta_15_n", sa.Float),
    ("delta_13_c", sa.Float),
    ("comments", sa.Text),
)
#: penguins_processed's encoded features (penguins.FEATURE_NAMES at this revision).
FEATURES = (
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "island_Biscoe",
    "island_Dream",
    "island_Torgersen",
    "sex_female",
    "sex_male",
)


def upgrade() -> None:
    op.create_table(
        "penguins_raw",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(name, kind(), nullable=True) for name, kind in RAW_COLUMNS),
    )
    op.create_index("ix_penguins_raw_source", "penguins_raw", ["source"])
    op.create_table(
        "penguins_processed",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("raw_id", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=False) for name in FEATURES),
        sa.Column("species_id", sa.Integer(), nullable=False),
        sa.Column("species", sa.String(32), nullable=False),
    )
    op.create_index("ix_penguins_processed_raw_id", "penguins_processed", ["raw_id"])


def downgrade() -> None:
    op.drop_table("penguins_processed")
    op.drop_table("penguins_raw")
