"""rollouts and rollout_decisions tables; predictions.error

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTIVE = sa.text("finished_at IS NULL")


def upgrade() -> None:
    # Why a model server gave no answer; NULL for an answer (a rollout's error-rate gate counts these rows).
    op.add_column("predictions", sa.Column("error", sa.Text(), nullable=True))
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("champion_version", sa.String(32), nullable=False),
        sa.Column("candidate_version", sa.String(32), nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("candidate_weight", sa.Integer(), nullable=False),
        sa.Column("shadow_share", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
    )
    # One active rollout per model.
    op.create_index(
        "uq_rollouts_active_model",
        "rollouts",
        ["model_name"],
        unique=True,
        postgresql_where=ACTIVE,
        sqlite_where=ACTIVE,
    )
    op.create_index("ix_rollouts_model_name_started_at", "rollouts", ["model_name", "started_at"])
    op.create_table(
        "rollout_decisions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rollout_id", sa.Integer(), sa.ForeignKey("rollouts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("candidate_weight", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
    )
    op.create_index("ix_rollout_decisions_rollout_id", "rollout_decisions", ["rollout_id"])
    # The analysis reads one model's predictions over a time window, by version.
    op.create_index("ix_predictions_model_name_created_at", "predictions", ["model_name", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_predictions_model_name_created_at", table_name="predictions")
    op.drop_table("rollout_decisions")
    op.drop_table("rollouts")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("error")
