"""What ops and agents see of an early-life journey: the `view` query and the search attributes.

Search attributes reuse the onboarding journey's keys with early-life values (WorkflowType tells the
kinds apart): JourneyStatus watching/nudging/awaiting_agent/offered/opted_out/retained/dormant,
NudgeCount, HumanTaskState, RecoveryGroup (the early-life group), PlaybookVersion, and DropOffStage
`dormancy` once the customer went quiet. Ids and funnel facts only, never contact data.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from workflows.early_life_state import EarlyLifeDecision, EarlyLifeState, status_of
from workflows.human_tasks import HumanTask
from workflows.search_attributes import (
    DROP_OFF_STAGE,
    HUMAN_TASK_STATE,
    JOURNEY_STATUS,
    NUDGE_COUNT,
    ONBOARDING_STAGE,
    PLAYBOOK_VERSION,
    RECOVERY_GROUP,
)

DORMANCY_DROP_OFF = "dormancy"


class EarlyLifeView(BaseModel):
    workflow_id: str
    customer_id: str
    status: str
    group: str
    playbook_version: str
    activated_at: datetime
    period_ends_at: datetime
    last_activity_at: datetime | None
    last_activity_kind: str | None
    activity_events: int
    dormant_since: datetime | None
    dormancies: int
    nudges: int
    messages_sent: int
    re_engaged_at: datetime | None
    opted_out: list[str]
    timezone: str | None
    locale: str | None
    next_action: str | None
    next_action_at: datetime | None
    tasks: list[HumanTask]
    open_task: HumanTask | None
    decisions: list[EarlyLifeDecision]
    outcome: str | None
    ended_at: datetime | None


def view_of(state: EarlyLifeState, workflow_id: str) -> EarlyLifeView:
    return EarlyLifeView(
        workflow_id=workflow_id,
        customer_id=state.customer_id,
        status=status_of(state).value,
        group=state.group.value,
        playbook_version=state.playbook_version,
        activated_at=state.activated_at,
        period_ends_at=state.period_ends_at,
        last_activity_at=state.last_activity_at,
        last_activity_kind=state.last_activity_kind,
        activity_events=state.activity_events,
        dormant_since=state.dormant_since,
        dormancies=state.dormancies,
        nudges=state.nudges,
        messages_sent=state.messages_sent,
        re_engaged_at=state.re_engaged_at,
        opted_out=sorted(c.value for c in state.opted_out),
        timezone=state.timezone,
        locale=state.locale,
        next_action=state.next_action,
        next_action_at=state.next_action_at,
        tasks=list(state.tasks),
        open_task=state.live_task,
        decisions=list(state.decisions),
        outcome=state.outcome.kind.value if state.outcome else None,
        ended_at=state.outcome.ended_at if state.outcome else None,
    )


def early_life_search_attributes(state: EarlyLifeState) -> dict[str, Any]:
    task = state.live_task
    return {
        ONBOARDING_STAGE.name: "completed",
        JOURNEY_STATUS.name: status_of(state).value,
        NUDGE_COUNT.name: state.nudges,
        HUMAN_TASK_STATE.name: task.state.value if task else "none",
        PLAYBOOK_VERSION.name: state.playbook_version,
        RECOVERY_GROUP.name: state.group.value,
        DROP_OFF_STAGE.name: DORMANCY_DROP_OFF if state.dormancies else None,
    }
