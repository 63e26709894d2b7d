"""Human tasks in the journal: the agents' inbox lists them from here, not by querying every journey.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "human_tasks",
        sa.Column("journey_id", sa.String(220), primary_key=True),
        sa.Column("task_id", sa.String(200), primary_key=True),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("journey_stage", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("opened_at", sa.DateTime, nullable=False),
        sa.Column("due_at", sa.DateTime, nullable=False),
        sa.Column("timezone", sa.String(64)),
    )
    op.create_index("ix_human_tasks_state", "human_tasks", ["state"])


def downgrade() -> None:
    op.drop_index("ix_human_tasks_state", table_name="human_tasks")
    op.drop_table("human_tasks")
