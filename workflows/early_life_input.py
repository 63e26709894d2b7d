"""What an early-life journey is started (and continued as new) with: the pinned plan and the customer.

The plan is the playbook's early-life section as the onboarding journey pinned it, resolved: quiet
hours, the frequency cap and the holdout share are the playbook's wherever the section sets none, and
the retention call's SLA comes from the playbook's human tasks. Its own module, like JourneyInput, so
the worker's sandbox passes it through.
"""

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from workflows.durations import Duration
from workflows.early_life_state import EarlyLifeState
from workflows.events import CustomerProfile
from workflows.funnel import Channel
from workflows.playbook import Escalation, FrequencyCap, Playbook, QuietHours

WORKFLOW_ID_PREFIX = "early-life-"
EARLY_TASK_MARK = ":early-task-"  # its tasks: `<customer_id>:early-task-<n>`; onboarding's `<customer_id>:task-<n>`


def early_life_workflow_id(customer_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{customer_id}"


def is_early_life_task(task_id: str) -> bool:
    """Whether a task id names a task of an early-life journey (the agents' Updates go there)."""
    _, sep, number = task_id.rpartition(EARLY_TASK_MARK)
    return bool(sep) and number.isdigit()


class EarlyLifePlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    playbook_version: str
    period: Duration
    dormant_after: Duration
    nudges: int
    nudge_spacing: list[Duration]
    deep_link: str | None = None
    escalation: Escalation | None = None
    copy_by_locale: dict[str, dict[str, str]] = Field(default_factory=dict)
    offer_copy: dict[str, str] = Field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    frequency_cap: FrequencyCap | None = None
    holdout_share: float = 0.0
    task_sla: Duration = timedelta(days=1)
    default_locale: str = "en"
    default_timezone: str = "UTC"
    # The playbook's guardrail; far below Temporal's limits (a month of logins rolls over a few times at
    # most). Plans pinned before it was carried read the 2,000 they always had.
    continue_as_new_after_events: int = Field(default=2_000, ge=50)


def plan_of(playbook: Playbook) -> EarlyLifePlan:
    early = playbook.early_life
    escalation = early.escalation
    task_policy = playbook.human_tasks.get(escalation.task_kind) if escalation is not None else None
    return EarlyLifePlan(
        playbook_version=playbook.version,
        period=early.period,
        dormant_after=early.dormant_after,
        nudges=early.nudges,
        nudge_spacing=list(early.nudge_spacing),
        deep_link=early.deep_link,
        escalation=escalation,
        copy_by_locale=early.copy_by_locale,
        offer_copy=early.offer_copy,
        quiet_hours=early.quiet_hours or playbook.guardrails.quiet_hours,
        frequency_cap=early.frequency_cap or playbook.guardrails.frequency_cap,
        holdout_share=playbook.holdout_share if early.holdout_share is None else early.holdout_share,
        task_sla=task_policy.sla if task_policy is not None else timedelta(days=1),
        default_locale=playbook.default_locale,
        default_timezone=playbook.default_timezone,
        continue_as_new_after_events=playbook.guardrails.continue_as_new_after_events,
    )


class EarlyLifeInput(BaseModel):
    """Ids, the plan, when the customer activated, and how to message them: language, time zone and the
    channels they opted out of (no contact data: that is read at send time)."""

    customer_id: str
    plan: EarlyLifePlan
    activated_at: datetime
    locale: str | None = None
    timezone: str | None = None
    opted_out: list[Channel] = Field(default_factory=list)
    state: EarlyLifeState | None = None
    messaging_task_queue: str | None = None


def early_life_input(
    customer_id: str,
    playbook: Playbook,
    activated_at: datetime,
    profile: CustomerProfile,
    opted_out: set[Channel],
    messaging_task_queue: str | None = None,
) -> EarlyLifeInput:
    return EarlyLifeInput(
        customer_id=customer_id,
        plan=plan_of(playbook),
        activated_at=activated_at,
        locale=profile.locale,
        timezone=profile.timezone,
        opted_out=sorted(opted_out),
        messaging_task_queue=messaging_task_queue,
    )


class EarlyLifeStart(BaseModel):
    """What the `start_early_life` activity starts: the journey's id, task queue and input."""

    workflow_id: str
    task_queue: str
    journey: EarlyLifeInput
