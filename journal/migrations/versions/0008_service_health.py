"""Service health every process reads (outages that end at once).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_health",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("healthy", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "service_waiters",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("workflow_id", sa.String(200), primary_key=True),
        sa.Column("since", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("service_waiters")
    op.drop_table("service_health")
