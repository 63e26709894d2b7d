"""Journeys keyed by run (a customer may come back for a new journey), and the intake ledger.

`journeys` was keyed by workflow id; a customer whose journey ended gets a new run of the same
workflow id, so a journey is now `<workflow id>:<first run id, 8 characters>`, the prefix every
journal entry of the journey already has. Rows written before are given the prefix of their entries.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_COLUMNS = (
    "workflow_id, customer_id, playbook_version, recovery_group, started_at, stage, status, furthest_stage, "
    "drop_off_stages, messages_sent, outcome, outcome_reason, preceded_by, assisted, ended_at"
)
# An entry id is `<workflow id>:<8 characters of the first run id>:<e|d><n>`.
_PREFIX_OF_ENTRY = "substr({entry}, 1, length({workflow}) + 9)"


def _journeys_table(name: str, key: str) -> None:
    op.create_table(
        name,
        *([sa.Column("journey_id", sa.String(220), primary_key=True)] if key == "journey_id" else []),
        sa.Column("workflow_id", sa.String(200), primary_key=key == "workflow_id", nullable=False),
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


def _journeys_indexes(by_workflow: bool) -> None:
    op.create_index("ix_journeys_customer_id", "journeys", ["customer_id"])
    op.create_index("ix_journeys_playbook_version", "journeys", ["playbook_version"])
    op.create_index("ix_journeys_started_at", "journeys", ["started_at"])
    if by_workflow:
        op.create_index("ix_journeys_workflow_id", "journeys", ["workflow_id"])


def upgrade() -> None:
    with op.batch_alter_table("journal_entries") as batch:
        batch.add_column(sa.Column("journey_id", sa.String(220)))
    op.execute(
        f"UPDATE journal_entries SET journey_id = {_PREFIX_OF_ENTRY.format(entry='entry_id', workflow='workflow_id')}"
    )
    op.create_index("ix_journal_entries_journey_id", "journal_entries", ["journey_id"])

    _journeys_table("journeys_by_run", "journey_id")
    first_entry = (
        f"(SELECT {_PREFIX_OF_ENTRY.format(entry='MIN(e.entry_id)', workflow='j.workflow_id')} "
        "FROM journal_entries e WHERE e.workflow_id = j.workflow_id)"
    )
    op.execute(
        f"INSERT INTO journeys_by_run (journey_id, {_COLUMNS}) "
        f"SELECT COALESCE({first_entry}, j.workflow_id), {', '.join('j.' + c for c in _COLUMNS.split(', '))} "
        "FROM journeys j"
    )
    op.drop_table("journeys")
    op.rename_table("journeys_by_run", "journeys")
    _journeys_indexes(by_workflow=True)

    op.create_table(
        "intake_events",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_intake_events_received_at", "intake_events", ["received_at"])
    op.create_table(
        "ended_journeys",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("ended_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    """Back to one row per workflow id: the latest journey of each customer is kept."""
    op.drop_table("ended_journeys")
    op.drop_table("intake_events")
    _journeys_table("journeys_by_workflow", "workflow_id")
    op.execute(
        f"INSERT INTO journeys_by_workflow ({_COLUMNS}) SELECT {_COLUMNS} FROM journeys j WHERE NOT EXISTS ("
        "SELECT 1 FROM journeys k WHERE k.workflow_id = j.workflow_id "
        "AND (k.started_at > j.started_at OR (k.started_at = j.started_at AND k.journey_id > j.journey_id)))"
    )
    op.drop_table("journeys")
    op.rename_table("journeys_by_workflow", "journeys")
    _journeys_indexes(by_workflow=False)
    op.drop_index("ix_journal_entries_journey_id", "journal_entries")
    with op.batch_alter_table("journal_entries") as batch:
        batch.drop_column("journey_id")
