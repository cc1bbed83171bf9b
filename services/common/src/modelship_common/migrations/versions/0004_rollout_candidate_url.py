"""rollouts.candidate_url: where a rollout's candidate model server answers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Set by the operator (or make demo's controller) once the candidate is ready; the gateway routes to it.
    with op.batch_alter_table("rollouts") as batch:
        batch.add_column(sa.Column("candidate_url", sa.String(512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rollouts") as batch:
        batch.drop_column("candidate_url")
