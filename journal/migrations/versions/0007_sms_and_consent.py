"""SMS the vendor took (message id to the vendor's id and status) and the customers' consent records.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_messages",
        sa.Column("message_id", sa.String(260), primary_key=True),
        sa.Column("message_sid", sa.String(64), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error_code", sa.String(10)),
        sa.Column("sent_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_sms_messages_customer_id", "sms_messages", ["customer_id"])
    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("opted_out", sa.Boolean, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("how", sa.String(40), nullable=False),
        sa.Column("words", sa.String(160), nullable=False),
    )
    op.create_index("ix_consent_records_customer_id", "consent_records", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_consent_records_customer_id", table_name="consent_records")
    op.drop_table("consent_records")
    op.drop_index("ix_sms_messages_customer_id", table_name="sms_messages")
    op.drop_table("sms_messages")
