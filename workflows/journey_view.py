"""The whole journey as ops and agents see it: what the `view` query returns."""

from datetime import datetime

from pydantic import BaseModel

from workflows.funnel import Channel, Stage
from workflows.holdout import RecoveryGroup
from workflows.human_tasks import HumanTask
from workflows.journey_state import (
    Decision,
    DecisionAction,
    ErrorRecord,
    EventRecord,
    JourneyOutcome,
    JourneyState,
    JourneyStatus,
    SentMessage,
    status_of,
)


class JourneyView(BaseModel):
    workflow_id: str
    customer_id: str
    playbook_version: str
    recovery_group: RecoveryGroup
    status: JourneyStatus
    stage: Stage
    stage_since: datetime
    started_at: datetime
    recovery_deadline: datetime
    attempts_at_stage: int
    nudges_sent: int
    drop_off_stage: Stage | None
    rejections: int
    last_error: ErrorRecord | None
    opted_out: list[Channel]
    timezone: str | None
    locale: str | None
    next_action: str | None
    next_action_at: datetime | None
    open_task: HumanTask | None
    tasks: list[HumanTask]
    messages: list[SentMessage]
    suppressed: list[Decision]
    decisions: list[Decision]
    events: list[EventRecord]
    duplicates_ignored: int
    outcome: JourneyOutcome | None


def view_of(state: JourneyState, workflow_id: str, recovery_deadline: datetime) -> JourneyView:
    return JourneyView(
        workflow_id=workflow_id,
        customer_id=state.customer_id,
        playbook_version=state.playbook_version,
        recovery_group=state.group,
        status=status_of(state),
        stage=state.stage,
        stage_since=state.stage_since,
        started_at=state.started_at,
        recovery_deadline=recovery_deadline,
        attempts_at_stage=state.stage_progress.attempts,
        nudges_sent=state.nudges_sent,
        drop_off_stage=state.drop_off_stage,
        rejections=state.rejections,
        last_error=state.last_error,
        opted_out=sorted(state.opted_out),
        timezone=state.profile.timezone,
        locale=state.profile.locale,
        next_action=state.next_action,
        next_action_at=state.next_action_at,
        open_task=state.live_task,
        tasks=state.tasks,
        messages=state.messages,
        suppressed=[d for d in state.decisions if d.action in (DecisionAction.SUPPRESSED, DecisionAction.DEFERRED)],
        decisions=state.decisions,
        events=state.events,
        duplicates_ignored=state.duplicates_ignored,
        outcome=state.outcome,
    )
