"""The journal: journeys, their events and decisions, and customer activity after completion.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journeys",
        sa.Column("workflow_id", sa.String(200), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("playbook_version", sa.String(100), nullable=False),
        sa.Column("recovery_group", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("furthest_stage", sa.String(40), nullable=False),
        sa.Column("drop_off_stages", sa.Text, nullable=False),
        sa.Column("messages_sent", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(20)),
        sa.Column("outcome_reason", sa.String(100)),
        sa.Column("preceded_by", sa.String(40)),
        sa.Column("assisted", sa.Boolean, nullable=False),
        sa.Column("ended_at", sa.DateTime),
    )
    op.create_index("ix_journeys_customer_id", "journeys", ["customer_id"])
    op.create_index("ix_journeys_playbook_version", "journeys", ["playbook_version"])
    op.create_index("ix_journeys_started_at", "journeys", ["started_at"])
    op.create_table(
        "journal_entries",
        sa.Column("entry_id", sa.String(260), primary_key=True),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("playbook_version", sa.String(100), nullable=False),
    )
    op.create_index("ix_journal_entries_workflow_id", "journal_entries", ["workflow_id"])
    op.create_index("ix_journal_entries_at", "journal_entries", ["at"])
    op.create_table(
        "customer_activity",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_customer_activity_customer_id", "customer_activity", ["customer_id"])


def downgrade() -> None:
    op.drop_table("customer_activity")
    op.drop_table("journal_entries")
    op.drop_table("journeys")
