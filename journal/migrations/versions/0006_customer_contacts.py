"""The contact directory: customers' phone numbers and push tokens, outside Temporal.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_contacts",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("phone", sa.String(16)),
        sa.Column("push_token", sa.Text),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_customer_contacts_phone", "customer_contacts", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_customer_contacts_phone", table_name="customer_contacts")
    op.drop_table("customer_contacts")
