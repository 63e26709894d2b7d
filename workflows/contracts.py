"""What crosses the boundary between the journey and the outside world.

The contracts the workflow asks of its activities.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from workflows.events import Location
from workflows.funnel import Channel, Stage


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True)


class OutboundMessage(_Contract):
    """A message to one customer. `message_id` is the idempotency key: the same id is delivered once."""

    message_id: str
    customer_id: str
    workflow_id: str
    channel: Channel
    kind: str
    stage: Stage
    attempt: int
    text: str
    deep_link: str | None = None
    created_at: datetime


class DeliveryReceipt(_Contract):
    message_id: str
    provider: str
    duplicate: bool = False


class StoreQuery(_Contract):
    customer_id: str
    location: Location | None = None


class Store(_Contract):
    store_id: str
    name: str
    address: str
    lat: float
    lon: float
    distance_km: float | None = None


class StaffNotification(_Contract):
    """Tells people, not customers: a task opened for support agents, or an alert for ops."""

    notification_id: str
    kind: str  # "task_opened", "task_overdue", "review_stalled"
    customer_id: str
    workflow_id: str
    stage: Stage
    summary: str
    task_id: str | None = None
    due_at: datetime | None = None
    created_at: datetime


class ServiceHealthQuery(_Contract):
    service: str


class ServiceHealth(_Contract):
    service: str
    healthy: bool


class JournalEntry(_Contract):
    """One event or decision of a journey, kept after Temporal's retention has deleted the history."""

    entry_id: str
    at: datetime
    kind: str  # "event" or "decision"
    name: str  # the event type or the decision's action
    stage: Stage
    reason: str = ""
    detail: str = ""


class JourneySummary(_Contract):
    """A journey's facts for the report, rewritten on every flush: the latest one wins."""

    workflow_id: str
    # `<workflow id>:<run key>`: a customer back after an ended journey gets a new run of the same
    # workflow id. None in batches built before it was sent; the journal takes it from the entries.
    journey_id: str | None = None
    customer_id: str
    playbook_version: str
    recovery_group: str
    started_at: datetime
    stage: Stage
    status: str
    furthest_stage: Stage
    drop_off_stages: list[Stage]
    messages_sent: int
    outcome: str | None = None
    outcome_reason: str | None = None
    preceded_by: str | None = None
    assisted: bool = False
    ended_at: datetime | None = None
    nudges_sent: int | None = None  # None in batches built before the journal kept it


class TaskSnapshot(_Contract):
    """A human task as the agents' inbox shows it, so the inbox reads the journal instead of querying
    every journey (each query is a billed action). The latest snapshot of a task wins."""

    task_id: str
    kind: str
    reason: str
    stage: Stage
    detail: str = ""
    state: str
    claimed_by: str | None = None
    opened_at: datetime
    due_at: datetime
    customer_id: str
    workflow_id: str
    timezone: str | None = None


class JournalBatch(_Contract):
    journey: JourneySummary
    entries: list[JournalEntry]
    # The journey's tasks as they are now (live and recently ended). None in batches built before
    # tasks were journaled: then the journal's task rows are left as they are.
    tasks: list[TaskSnapshot] | None = None


# What a delivery may answer besides "sent": a non-retryable ApplicationError of one of these types
# (its message names the channel's vendor reason, never a contact) changes what the journey may do.
CHANNEL_UNREACHABLE = "ChannelUnreachable"
"""The customer cannot be reached on this channel (an unregistered push token, a number that is not mobile)."""
CHANNEL_OPTED_OUT = "ChannelOptedOut"
"""The vendor says the customer unsubscribed from this channel (e.g. Twilio's 21610): an opt-out."""


class DeliveryStatus(_Contract):
    """What a vendor said became of a message after it took it (e.g. Twilio's status callback)."""

    message_id: str
    status: str  # the vendor's word: queued, sent, delivered, undelivered, failed, ...
    error_code: str | None = None
    at: datetime
