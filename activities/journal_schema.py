"""The journal's tables: what the recovery report reads, kept outside Temporal's retention.

Customer ids only: no names, phone numbers or locations. Times are stored as naive UTC.
"""

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, Text

metadata = MetaData()

journeys = Table(
    "journeys",
    metadata,
    Column("workflow_id", String(200), primary_key=True),
    Column("customer_id", String(128), nullable=False, index=True),
    Column("playbook_version", String(100), nullable=False, index=True),
    Column("recovery_group", String(20), nullable=False),
    Column("started_at", DateTime, nullable=False, index=True),
    Column("stage", String(40), nullable=False),
    Column("status", String(40), nullable=False),
    Column("furthest_stage", String(40), nullable=False),
    Column("drop_off_stages", Text, nullable=False, default=""),
    Column("messages_sent", Integer, nullable=False, default=0),
    Column("outcome", String(20)),
    Column("outcome_reason", String(100)),
    Column("preceded_by", String(40)),
    Column("assisted", Boolean, nullable=False, default=False),
    Column("ended_at", DateTime),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("entry_id", String(260), primary_key=True),
    Column("workflow_id", String(200), nullable=False, index=True),
    Column("customer_id", String(128), nullable=False),
    Column("at", DateTime, nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("name", String(60), nullable=False),
    Column("stage", String(40), nullable=False),
    Column("reason", String(100), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
    Column("playbook_version", String(100), nullable=False),
)

customer_activity = Table(
    "customer_activity",
    metadata,
    Column("event_id", String(200), primary_key=True),
    Column("customer_id", String(128), nullable=False, index=True),
    Column("occurred_at", DateTime, nullable=False),
)
