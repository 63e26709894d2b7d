"""What a journey knows: the state the workflow holds and carries across continue-as-new.

How events and agents' outcomes change it is in journey_changes.py; both are pure, no I/O, so
every rule is tested without a server.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from workflows.events import CustomerProfile, OnboardingEvent
from workflows.funnel import Channel, ErrorKind, EventType, Stage
from workflows.holdout import RecoveryGroup, recovery_group
from workflows.human_tasks import HumanTask
from workflows.playbook import Playbook
from workflows.reach import Reach
from workflows.state_bounds import StateBounds, clip, event_id_digest, keep_last


class JourneyStatus(StrEnum):
    ACTIVE = "active"
    NUDGING = "nudging"
    ESCALATED = "escalated"
    AWAITING_AGENT = "awaiting_agent"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    OPTED_OUT = "opted_out"
    CLOSED = "closed"  # ended by an operator (or a cancel request from the Temporal UI)


class DecisionAction(StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"
    SUPPRESSED = "suppressed"
    FAILED = "failed"
    CANCELLED = "cancelled"  # a delivery called off because the customer moved on or the journey ended
    ESCALATED = "escalated"
    TASK_OPENED = "task_opened"
    TASK_CLAIMED = "task_claimed"
    TASK_RELEASED = "task_released"
    TASK_COMPLETED = "task_completed"
    TASK_CLOSED = "task_closed"
    TASK_OVERDUE = "task_overdue"
    OPS_ALERTED = "ops_alerted"
    ENDED = "ended"


# What agents and their tasks do, as decisions: the inbox's story of a task, and journal milestones.
TASK_ACTIONS = frozenset(
    {
        DecisionAction.TASK_OPENED,
        DecisionAction.TASK_CLAIMED,
        DecisionAction.TASK_RELEASED,
        DecisionAction.TASK_COMPLETED,
        DecisionAction.TASK_CLOSED,
        DecisionAction.TASK_OVERDUE,
    }
)


class Decision(BaseModel):
    """One automated decision or agent action, kept for audit."""

    at: datetime
    action: DecisionAction
    stage: Stage
    reason: str
    detail: str = ""


class EventEffect(StrEnum):
    ADVANCED = "advanced"  # moved the customer to a new stage
    RECORDED = "recorded"  # noted (error, help, opt-out, profile) without a stage change
    STALE = "stale"  # older than what the journey already knows
    AFTER_END = "after_end"


class EventRecord(BaseModel):
    event_id: str
    type: EventType
    occurred_at: datetime
    received_at: datetime
    effect: EventEffect
    detail: str = ""
    stage: Stage | None = Field(default=None, description="the customer's stage once the event was applied")


class MessageKind(StrEnum):
    NUDGE = "nudge"
    SMS_STORE_OFFER = "sms_store_offer"


class SentMessage(BaseModel):
    message_id: str
    channel: Channel
    kind: MessageKind
    stage: Stage
    attempt: int
    sent_at: datetime
    text: str
    deep_link: str | None = None
    fallback: bool = False
    delivery_status: str | None = Field(
        default=None, description="the vendor's last word on it (delivered, undelivered...)"
    )
    delivery_error: str | None = None
    provider: str | None = Field(default=None, description="the vendor that took it (the SMS failover's, if it sent)")


class ErrorRecord(BaseModel):
    kind: ErrorKind
    service: str | None = None
    occurred_at: datetime


class OutcomeKind(StrEnum):
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    OPTED_OUT = "opted_out"
    CLOSED = "closed"  # an operator closed it, with a reason: neither recovered nor abandoned


class JourneyOutcome(BaseModel):
    """How a journey ended: what the recovery report counts."""

    kind: OutcomeKind
    stage: Stage = Field(description="the stage the customer was at when the journey ended")
    ended_at: datetime
    reason: str
    assisted: bool = False
    preceded_by: str = Field(default="none", description="nudge_1..3, sms_store_offer, human_task or none")
    drop_off_stages: list[Stage] = Field(default_factory=list)
    messages_sent: int = 0
    closed_by: str | None = Field(default=None, description="who closed it (closed journeys only)")


class StageProgress(BaseModel):
    """Where the playbook stands at the customer's current stage: it starts over with every stage."""

    attempts: int = 0
    last_nudge_at: datetime | None = None
    drop_off_detected: bool = False
    escalated: bool = False
    store_offer_requested: bool = False
    video_call_requested: bool = Field(
        default=False, description="a repeated failure at this stage asks for a person at once (high-intent)"
    )
    ops_alerted: bool = False
    deferred_until: datetime | None = None
    service_retry_at: datetime | None = None
    suppressed_attempt: str | None = None


STAGE_PROGRESS_FIELDS = frozenset(StageProgress.model_fields)


class JourneyState(Reach, BaseModel):
    customer_id: str
    playbook_version: str
    group: RecoveryGroup = RecoveryGroup.TREATMENT
    started_at: datetime
    stage: Stage = Stage.STARTED
    stage_since: datetime
    stage_event_at: datetime | None = Field(
        default=None, description="when the last funnel event happened; None before one"
    )
    last_progress_at: datetime
    profile: CustomerProfile = CustomerProfile()
    profile_at: datetime | None = None
    stage_progress: StageProgress = Field(default_factory=StageProgress)
    rejections: int = 0
    rejection_reasons: list[str] = Field(default_factory=list)
    biometric_failures: int = 0
    last_error: ErrorRecord | None = None
    opted_out: set[Channel] = Field(default_factory=set)
    opt_changed_at: dict[Channel, datetime] = Field(default_factory=dict)
    unreachable: set[Channel] = Field(
        default_factory=set, description="channels a vendor said cannot reach the customer"
    )
    unreachable_apart: bool = Field(
        default=False,
        description="False: started before the unreachable-not-opted-out patch, where no reachable channel "
        "at all counted as opted out",
    )
    drop_off_stage: Stage | None = None
    drop_off_stages: list[Stage] = Field(default_factory=list)
    bounds: StateBounds | None = Field(default=None, description="None: started before the bounded-state patch")
    seen_event_ids: set[str] = Field(default_factory=set, description="unbounded journeys only")
    recent_event_digests: list[str] = Field(default_factory=list, description="bounded journeys: the dedupe window")
    duplicates_ignored: int = 0
    events: list[EventRecord] = Field(default_factory=list, description="bounded journeys: the most recent ones")
    events_dropped: int = Field(0, description="event records no longer carried (the journal has them)")
    messages: list[SentMessage] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list, description="bounded journeys: the most recent ones")
    decisions_dropped: int = 0
    stages_of_dropped_events: list[Stage] = Field(
        default_factory=list, description="what furthest_stage still needs of them"
    )
    tasks: list[HumanTask] = Field(default_factory=list)
    tasks_opened: int = 0
    message_seq: int = 0
    next_action: str | None = None
    next_action_at: datetime | None = None
    outcome: JourneyOutcome | None = None
    journaled_events: int = 0
    journaled_decisions: int = 0
    outcome_journaled: bool = False
    _digest_index: set[str] | None = PrivateAttr(default=None)  # a lookup over recent_event_digests, never carried

    @model_validator(mode="before")
    @classmethod
    def _stage_progress_of_the_flat_shape(cls, data: Any) -> Any:
        """Journeys continued before the per-stage fields were grouped carry them flat, at the top level
        of their state (the input of their next run): they are read into `stage_progress`."""
        if not isinstance(data, dict) or "stage_progress" in data:
            return data
        flat = {key: data[key] for key in STAGE_PROGRESS_FIELDS if key in data}
        if not flat:
            return data
        return {key: value for key, value in data.items() if key not in flat} | {"stage_progress": flat}

    @property
    def opted_out_of_everything(self) -> bool:
        """No channel left, the customer's own opt-out among the reasons (before unreachable-not-opted-out:
        whatever the reasons)."""
        return not self.allowed_channels and (bool(self.opted_out) or not self.unreachable_apart)

    @property
    def nudges_sent(self) -> int:
        return sum(1 for m in self.messages_out if m.kind is MessageKind.NUDGE)

    @property
    def messages_out(self) -> list[SentMessage]:
        """The messages that went out: a vendor's "undelivered" takes one back (it stays in the view)."""
        return [m for m in self.messages if m.delivery_status not in ("undelivered", "failed")]

    @property
    def events_recorded(self) -> int:
        """Every event this run of the journey has recorded, carried or not: the journal's positions."""
        return self.events_dropped + len(self.events)

    @property
    def decisions_recorded(self) -> int:
        return self.decisions_dropped + len(self.decisions)

    def record(self, at: datetime, action: DecisionAction, reason: str, detail: str = "") -> None:
        self.decisions.append(Decision(at=at, action=action, stage=self.stage, reason=reason, detail=detail))
        keep_within_bounds(self)


def new_journey(
    first: OnboardingEvent, playbook: Playbook, now: datetime, *, holdout_share: float, bounds: StateBounds | None
) -> JourneyState:
    """`holdout_share` 0 for journeys started before the holdout existed; `bounds` None before bounded-state."""
    return JourneyState(
        customer_id=first.customer_id,
        playbook_version=playbook.version,
        group=recovery_group(first.customer_id, holdout_share),
        started_at=now,
        stage_since=min(first.occurred_at, now),
        last_progress_at=min(first.occurred_at, now),
        bounds=bounds,
    )


def adopt_bounds(state: JourneyState, bounds: StateBounds) -> None:
    """An unbounded journey (carried over from before the patch) starts keeping windows."""
    state.bounds = bounds
    state.recent_event_digests = sorted(event_id_digest(event_id) for event_id in state.seen_event_ids)[
        -bounds.event_ids :
    ]
    state._digest_index = None
    state.seen_event_ids = set()
    keep_within_bounds(state)


def keep_within_bounds(state: JourneyState) -> None:
    """Trims what grows with the app's input to the journey's windows; a no-op for unbounded journeys.

    Records not yet journaled are kept up to `unjournaled`, so a journal that is briefly down loses
    nothing; past that the oldest go (the journal misses them, the journey lives on).
    """
    bounds = state.bounds
    if bounds is None:
        return
    # Windows are trimmed in steps of a quarter, so a flood pays for trimming once per many events.
    if len(state.recent_event_digests) > bounds.event_ids * 5 // 4:
        keep_last(state.recent_event_digests, bounds.event_ids)
        state._digest_index = None
    keep_last(state.rejection_reasons, bounds.rejection_reasons)
    for task in state.tasks:
        task.detail = clip(task.detail, bounds.detail_chars)
    if (
        len(state.events) + len(state.decisions) <= (bounds.events + bounds.decisions) * 5 // 4
        and len(state.tasks) <= bounds.tasks
    ):
        return
    pending_events = state.events_recorded - state.journaled_events
    keep = min(max(bounds.events, pending_events), bounds.unjournaled)
    for event in state.events[: max(0, len(state.events) - keep)]:
        if (
            event.effect is EventEffect.ADVANCED
            and event.stage is not None
            and event.stage not in state.stages_of_dropped_events
        ):
            state.stages_of_dropped_events.append(event.stage)
    state.events_dropped += keep_last(state.events, keep)
    state.journaled_events = max(state.journaled_events, state.events_dropped)
    pending_decisions = state.decisions_recorded - state.journaled_decisions
    state.decisions_dropped += keep_last(
        state.decisions, min(max(bounds.decisions, pending_decisions), bounds.unjournaled)
    )
    state.journaled_decisions = max(state.journaled_decisions, state.decisions_dropped)
    ended = [t for t in state.tasks if not t.is_live]
    for task in ended[: max(0, len(ended) - bounds.tasks)]:
        state.tasks.remove(task)


def status_of(state: JourneyState) -> JourneyStatus:
    if state.outcome is not None:
        return JourneyStatus(state.outcome.kind.value)
    if state.live_task is not None:
        return JourneyStatus.AWAITING_AGENT
    if state.opted_out_of_everything:
        return JourneyStatus.OPTED_OUT
    if state.stage_progress.escalated:
        return JourneyStatus.ESCALATED
    if state.stage_progress.drop_off_detected:
        return JourneyStatus.NUDGING
    return JourneyStatus.ACTIVE
