"""Sign-in throttling: failed sign-ins and wrong bearer tokens per account and per client address,
kept in the journal so every API process sees the same counts.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttle",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", sa.DateTime, nullable=False),
        sa.Column("not_before", sa.DateTime, nullable=False),
        sa.Column("locked", sa.Boolean, nullable=False),
        sa.Column("forget_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_sign_in_throttle_forget_at", "sign_in_throttle", ["forget_at"])


def downgrade() -> None:
    op.drop_index("ix_sign_in_throttle_forget_at", table_name="sign_in_throttle")
    op.drop_table("sign_in_throttle")
