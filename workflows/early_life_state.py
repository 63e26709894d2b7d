"""What an early-life journey knows: the state the workflow holds and carries across continue-as-new.

The early-life journey (workflows/early_life.py) watches an activated customer for the playbook's
period. Its state is small and bounded whatever the app sends: activity is folded into a few times
and counters, decisions and message times are kept in short windows (the journal has them all).
"""

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from workflows.funnel import Channel
from workflows.holdout import RecoveryGroup
from workflows.human_tasks import HumanTask
from workflows.reach import Reach

RECENT_EVENT_IDS = 200
RECENT_DECISIONS = 60
RECENT_MESSAGES = 20
ENDED_TASKS_KEPT = 3


class EarlyLifeStatus(StrEnum):
    """The JourneyStatus search attribute's values for early-life journeys (WorkflowType tells the kinds apart)."""

    WATCHING = "watching"  # active, or quiet for less than dormant_after
    NUDGING = "nudging"  # dormant: the playbook's messages are running
    AWAITING_AGENT = "awaiting_agent"  # a retention call is open or claimed
    OFFERED = "offered"  # the SMS store offer went out; waiting for the customer
    OPTED_OUT = "opted_out"  # dormant, and no channel the customer allows
    RETAINED = "retained"
    DORMANT = "dormant"


class EarlyLifeOutcomeKind(StrEnum):
    RETAINED = "retained"  # active within dormant_after of the period's end
    DORMANT = "dormant"


class EarlyLifeDecision(BaseModel):
    """One automated decision, agent action or fact of note, kept for audit (and the journal)."""

    at: datetime
    action: str  # activity, dormant, sent, held_back, deferred, suppressed, failed, task_*, re_engaged, ended
    reason: str = ""
    detail: str = ""


class EarlyLifeOutcome(BaseModel):
    kind: EarlyLifeOutcomeKind
    ended_at: datetime
    reason: str


class EarlyLifeState(Reach, BaseModel):
    customer_id: str
    playbook_version: str
    group: RecoveryGroup = RecoveryGroup.TREATMENT
    activated_at: datetime
    period_ends_at: datetime
    locale: str | None = None
    timezone: str | None = None
    opted_out: set[Channel] = Field(default_factory=set)
    unreachable: set[Channel] = Field(default_factory=set)
    last_activity_at: datetime | None = None
    activity_events: int = 0
    last_activity_kind: str | None = None
    quiet_since: datetime = Field(description="the dormancy clock: activation, or the latest activity")
    dormant_since: datetime | None = Field(default=None, description="set while the customer is dormant")
    first_dormant_at: datetime | None = None
    dormancies: int = 0
    attempts: int = Field(0, description="messages of this dormancy (held back ones too, for the holdout)")
    last_nudge_at: datetime | None = None
    escalated: bool = False
    offer_sent: bool = Field(False, description="this dormancy's escalation was the SMS store offer")
    nudges: int = Field(0, description="nudges over the whole period (held back ones too)")
    re_engaged_at: datetime | None = Field(default=None, description="first activity after a dormancy message")
    deferred_until: datetime | None = None
    suppressed_key: str | None = None
    message_times: list[datetime] = Field(default_factory=list, description="recent sends, for the frequency cap")
    messages_sent: int = 0
    tasks: list[HumanTask] = Field(default_factory=list)
    tasks_opened: int = 0
    recent_event_ids: list[str] = Field(default_factory=list)
    decisions: list[EarlyLifeDecision] = Field(default_factory=list)
    decisions_dropped: int = 0
    journaled_decisions: int = 0
    journal_due: bool = True
    next_action: str | None = None
    next_action_at: datetime | None = None
    outcome: EarlyLifeOutcome | None = None

    @property
    def decisions_recorded(self) -> int:
        return self.decisions_dropped + len(self.decisions)

    def record(self, at: datetime, action: str, reason: str = "", detail: str = "", *, milestone: bool = False) -> None:
        """Keeps a decision (the last few in state; the journal keeps them all). A milestone is written
        to the journal at the next wake-up; the rest wait for one."""
        self.decisions.append(EarlyLifeDecision(at=at, action=action, reason=reason, detail=detail))
        if milestone:
            self.journal_due = True
        overflow = len(self.decisions) - RECENT_DECISIONS
        pending = self.decisions_recorded - self.journaled_decisions
        if overflow > 0 and pending < RECENT_DECISIONS:
            del self.decisions[:overflow]
            self.decisions_dropped += overflow
            self.journaled_decisions = max(self.journaled_decisions, self.decisions_dropped)
        ended = [t for t in self.tasks if not t.is_live]
        for task in ended[: max(0, len(ended) - ENDED_TASKS_KEPT)]:
            self.tasks.remove(task)


def early_life_group(customer_id: str, holdout_share: float) -> RecoveryGroup:
    """The early-life holdout: drawn with its own salt, so it is independent of the onboarding holdout."""
    digest = hashlib.sha256(f"early-life-holdout:{customer_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return RecoveryGroup.HOLDOUT if position < holdout_share else RecoveryGroup.TREATMENT


def status_of(state: EarlyLifeState) -> EarlyLifeStatus:
    if state.outcome is not None:
        return EarlyLifeStatus(state.outcome.kind.value)
    if state.live_task is not None:
        return EarlyLifeStatus.AWAITING_AGENT
    if state.dormant_since is None:
        return EarlyLifeStatus.WATCHING
    if not state.allowed_channels:
        return EarlyLifeStatus.OPTED_OUT
    if state.offer_sent:
        return EarlyLifeStatus.OFFERED
    return EarlyLifeStatus.NUDGING
