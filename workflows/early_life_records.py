"""How events, decisions and agents change what an early-life journey knows: pure functions, no I/O.

The early-life workflow records every state change through these, as the onboarding journey does
through journey_records.py, so each rule is tested without a server.
"""

from datetime import datetime, timedelta

from workflows.early_life_input import EARLY_TASK_MARK, EarlyLifeInput
from workflows.early_life_state import (
    RECENT_EVENT_IDS,
    RECENT_MESSAGES,
    EarlyLifeOutcome,
    EarlyLifeOutcomeKind,
    EarlyLifeState,
    early_life_group,
)
from workflows.events import OnboardingEvent
from workflows.funnel import Channel, EventType, Stage
from workflows.human_tasks import CompleteTask, HumanTask, TaskReason, TaskState
from workflows.journey_state import MessageKind
from workflows.next_step import Defer, EscalateToAgent, SendMessage, Suppress


def early_task_id(customer_id: str, number: int) -> str:
    """`<customer_id>:early-task-<n>`: told apart from the onboarding journey's `<customer_id>:task-<n>`."""
    return f"{customer_id}{EARLY_TASK_MARK}{number}"


def new_early_life(journey: EarlyLifeInput, now: datetime) -> EarlyLifeState:
    activated_at = min(journey.activated_at, now)
    state = EarlyLifeState(
        customer_id=journey.customer_id,
        playbook_version=journey.plan.playbook_version,
        group=early_life_group(journey.customer_id, journey.plan.holdout_share),
        activated_at=activated_at,
        period_ends_at=activated_at + journey.plan.period,
        locale=journey.locale,
        timezone=journey.timezone,
        opted_out=set(journey.opted_out),
        quiet_since=activated_at,
    )
    state.record(now, "started", state.group.value, milestone=True)
    return state


def apply_early_life_event(state: EarlyLifeState, event: OnboardingEvent, now: datetime) -> str | None:
    """Folds in activity and consent. Returns what it did, or None for a duplicate (no trace left)."""
    if event.event_id in state.recent_event_ids:
        return None
    state.recent_event_ids.append(event.event_id)
    del state.recent_event_ids[:-RECENT_EVENT_IDS]
    if state.outcome is not None:
        return "after_end"
    at = min(event.occurred_at, now)
    if event.profile is not None:
        state.locale = event.profile.locale or state.locale
        state.timezone = event.profile.timezone or state.timezone
    if event.type is EventType.ACTIVE:
        return _activity(state, at, str(event.attributes.get("kind") or "activity")[:40], now)
    if event.type in (EventType.OPTED_OUT, EventType.OPTED_IN):
        scope = event.opt_scope
        channels = set(scope.channels())
        if event.type is EventType.OPTED_OUT:
            state.opted_out |= channels
        else:
            state.opted_out -= channels
        state.record(now, event.type.value, scope.value, milestone=True)
        return "recorded"
    return "ignored"


def _activity(state: EarlyLifeState, at: datetime, kind: str, now: datetime) -> str:
    state.activity_events += 1
    if state.last_activity_at is not None and at <= state.last_activity_at:
        return "stale"
    state.last_activity_at, state.last_activity_kind = at, kind
    state.quiet_since = max(state.quiet_since, at)
    if state.dormant_since is None or at < state.dormant_since:
        return "activity"
    messaged = state.attempts > 0 or state.escalated
    if messaged and state.re_engaged_at is None:
        state.re_engaged_at = at
        state.record(now, "re_engaged", kind, f"after {state.attempts} message(s)", milestone=True)
    else:
        state.record(now, "active_again", kind, milestone=True)
    state.dormant_since = None
    state.attempts, state.last_nudge_at, state.escalated, state.offer_sent = 0, None, False, False
    state.deferred_until, state.suppressed_key = None, None
    for task in state.tasks:
        if task.is_live:
            task.state, task.note = TaskState.CLOSED, "the customer is active again"
            state.record(now, "task_closed", "customer_active", task.task_id, milestone=True)
    return "activity"


def record_dormant(state: EarlyLifeState, dormant_since: datetime, now: datetime) -> None:
    state.dormant_since = dormant_since
    state.first_dormant_at = state.first_dormant_at or dormant_since
    state.dormancies += 1
    state.record(now, "dormant", "no_activity", f"quiet since {state.quiet_since.isoformat()}", milestone=True)


def record_deferred(state: EarlyLifeState, step: Defer, now: datetime) -> None:
    state.deferred_until = step.until
    state.record(now, "deferred", step.reason, f"{step.what} until {step.until.isoformat()}")


def record_suppressed(state: EarlyLifeState, step: Suppress, now: datetime) -> None:
    state.suppressed_key = step.key
    state.record(now, "suppressed", step.reason, step.what, milestone=True)


def record_message(
    state: EarlyLifeState, step: SendMessage, message_id: str, sent_at: datetime, *, moot: bool = False
) -> None:
    """A message out (or, in the holdout, the one that would have gone): an attempt of this dormancy.
    `moot`: the customer was active while it went out; it counts for the cap, not for the dormancy."""
    if moot:
        state.messages_sent += 1
        state.message_times.append(sent_at)
        del state.message_times[:-RECENT_MESSAGES]
        state.record(sent_at, "sent", step.kind.value, f"{message_id}: the customer was active meanwhile")
        return
    state.attempts += 1
    state.deferred_until = None
    if step.kind is MessageKind.NUDGE:
        state.nudges += 1
        state.last_nudge_at = sent_at
    else:
        state.escalated, state.offer_sent = True, True
    if step.hold_back:
        state.record(sent_at, "held_back", step.kind.value, f"attempt {step.attempt} (holdout)", milestone=True)
        return
    state.messages_sent += 1
    state.message_times.append(sent_at)
    del state.message_times[:-RECENT_MESSAGES]
    state.record(sent_at, "sent", step.kind.value, f"{message_id} via {step.channel.value}", milestone=True)


def record_send_failed(state: EarlyLifeState, step: SendMessage, cause: str, now: datetime) -> None:
    """A delivery that failed for good is still an attempt: the playbook moves on, as onboarding's does."""
    state.attempts += 1
    state.deferred_until = None
    if step.kind is MessageKind.NUDGE:
        state.last_nudge_at = now
    else:
        state.escalated = True
    state.record(now, "failed", step.kind.value, cause[:200], milestone=True)


def record_channel_lost(state: EarlyLifeState, channel: Channel, opted_out: bool, now: datetime) -> None:
    (state.opted_out if opted_out else state.unreachable).add(channel)
    state.record(now, "channel_lost", "opted_out" if opted_out else "unreachable", channel.value, milestone=True)


def record_escalation(state: EarlyLifeState, step: EscalateToAgent, sla: timedelta, now: datetime) -> None:
    """Opens the retention call (or, in the holdout, records the call it would have been)."""
    state.escalated = True
    state.attempts += 1
    if step.hold_back:
        state.record(now, "held_back", "human_task", f"{step.task_kind.value} (holdout)", milestone=True)
        return
    state.tasks_opened += 1
    task = HumanTask(
        task_id=early_task_id(state.customer_id, state.tasks_opened),
        kind=step.task_kind,
        reason=TaskReason.DORMANCY,
        stage=Stage.COMPLETED,
        detail=f"no activity since {state.quiet_since.isoformat()}",
        opened_at=now,
        due_at=now + sla,
    )
    state.tasks.append(task)
    state.record(now, "task_opened", task.reason.value, task.task_id, milestone=True)


def record_agents_notified(state: EarlyLifeState, task_id: str) -> None:
    for task in state.tasks:
        if task.task_id == task_id:
            task.notified = True


def record_claim(state: EarlyLifeState, task: HumanTask, agent_id: str, now: datetime) -> bool:
    if task.state is TaskState.CLAIMED:
        return False  # claimed again by the same agent: nothing changes
    task.state, task.claimed_by, task.claimed_at = TaskState.CLAIMED, agent_id, now
    state.record(now, "task_claimed", "agent", f"{task.task_id} by {agent_id}", milestone=True)  # as onboarding's
    return True


def record_release(state: EarlyLifeState, task: HumanTask, agent_id: str, now: datetime) -> None:
    task.state, task.claimed_by, task.claimed_at = TaskState.OPEN, None, None
    state.record(now, "task_released", "agent", f"{task.task_id} by {agent_id}", milestone=True)


def record_completion(state: EarlyLifeState, task: HumanTask, request: CompleteTask, now: datetime) -> None:
    """The agent's word on the call; the customer's own activity is what ends the dormancy."""
    task.state, task.outcome, task.note = TaskState.COMPLETED, request.outcome, request.note
    task.completed_by, task.completed_at = request.agent_id, now
    state.record(now, "task_completed", request.outcome.value, f"{task.task_id} by {request.agent_id}", milestone=True)


def finish_early_life(state: EarlyLifeState, kind: EarlyLifeOutcomeKind, now: datetime, reason: str) -> None:
    state.outcome = EarlyLifeOutcome(kind=kind, ended_at=now, reason=reason)
    for task in state.tasks:
        if task.is_live:
            task.state, task.note = TaskState.CLOSED, f"early life ended: {kind.value}"
    state.next_action, state.next_action_at = None, None
    state.record(now, "ended", kind.value, reason, milestone=True)
