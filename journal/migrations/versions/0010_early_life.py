"""The early-life journey: activated customers watched for dormancy (one row per early-life journey, and
its decisions for audit).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "early_life_journeys",
        sa.Column("journey_id", sa.String(220), primary_key=True),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("playbook_version", sa.String(100), nullable=False),
        sa.Column("recovery_group", sa.String(20), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("activated_at", sa.DateTime, nullable=False),
        sa.Column("last_activity_at", sa.DateTime),
        sa.Column("dormant_at", sa.DateTime),
        sa.Column("nudges", sa.Integer, nullable=False),
        sa.Column("re_engaged_at", sa.DateTime),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("outcome", sa.String(20)),
    )
    op.create_index("ix_early_life_journeys_customer_id", "early_life_journeys", ["customer_id"])
    op.create_index("ix_early_life_journeys_activated_at", "early_life_journeys", ["activated_at"])
    op.create_table(
        "early_life_entries",
        sa.Column("entry_id", sa.String(260), primary_key=True),
        sa.Column("journey_id", sa.String(220), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("reason", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_early_life_entries_journey_id", "early_life_entries", ["journey_id"])
    op.create_index("ix_early_life_entries_customer_id", "early_life_entries", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_early_life_entries_customer_id", table_name="early_life_entries")
    op.drop_index("ix_early_life_entries_journey_id", table_name="early_life_entries")
    op.drop_table("early_life_entries")
    op.drop_index("ix_early_life_journeys_activated_at", table_name="early_life_journeys")
    op.drop_index("ix_early_life_journeys_customer_id", table_name="early_life_journeys")
    op.drop_table("early_life_journeys")
