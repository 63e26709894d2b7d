"""Operators' controls: closed journeys and erasure records.

Finding journeys (`GET /v1/journeys`, `recovery journeys list`) reads `journeys` only: each row now
says when the journal last heard of the journey (`updated_at`) and how many nudges it sent
(`nudges_sent`; null on rows written before, which show their messages sent instead), and an index
serves the status filter in the listing's order.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("journeys") as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime))
        batch.add_column(sa.Column("nudges_sent", sa.Integer))
    op.execute("UPDATE journeys SET updated_at = COALESCE(ended_at, started_at)")
    op.create_index("ix_journeys_status_started_at", "journeys", ["status", "started_at"])
    # Erasure records (journal/erasure.py): a customer id's sha256, never the id.
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_hash", sa.String(64), nullable=False),
        sa.Column("erased_at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
    )
    op.create_index("ix_erasures_customer_hash", "erasures", ["customer_hash"])


def downgrade() -> None:
    op.drop_index("ix_erasures_customer_hash", table_name="erasures")
    op.drop_table("erasures")
    op.drop_index("ix_journeys_status_started_at", table_name="journeys")
    with op.batch_alter_table("journeys") as batch:
        batch.drop_column("nudges_sent")
        batch.drop_column("updated_at")
