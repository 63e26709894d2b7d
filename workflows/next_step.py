"""The playbook's decision: given what the journey knows and the time, what happens next.

A pure function of state, playbook and clock. The workflow only carries the step out, so every
guardrail (cutoff, opt-out, quiet hours, frequency cap, outages) is decided and tested here.
"""

from dataclasses import dataclass
from datetime import datetime

from workflows.funnel import OUTAGE_ERRORS, Channel
from workflows.human_tasks import TaskReason, TaskState
from workflows.journey_rules import JourneyRules
from workflows.journey_state import JourneyState, MessageKind, OutcomeKind
from workflows.playbook import Playbook, StagePlaybook, TaskKind
from workflows.send_time import earliest_send_time


@dataclass(frozen=True)
class Wait:
    until: datetime
    next_action: str


@dataclass(frozen=True)
class EndJourney:
    kind: OutcomeKind
    reason: str


@dataclass(frozen=True)
class NotifyAgents:
    task_id: str


@dataclass(frozen=True)
class EscalateOverdueTask:
    task_id: str


@dataclass(frozen=True)
class AlertOps:
    reason: str


@dataclass(frozen=True)
class Defer:
    until: datetime
    reason: str
    what: str


@dataclass(frozen=True)
class Suppress:
    what: str
    reason: str
    key: str


@dataclass(frozen=True)
class SendMessage:
    kind: MessageKind
    attempt: int
    channel: Channel
    fallback: bool
    check_service: str | None
    hold_back: bool = False  # the holdout: everything happens as for a send, except the send


@dataclass(frozen=True)
class EscalateToAgent:
    task_kind: TaskKind
    hold_back: bool = False  # the holdout: recorded as the task it would have been
    reason: TaskReason = TaskReason.PLAYBOOK_ESCALATION  # or a repeated failure's call for a person at once


Step = (
    Wait | EndJourney | NotifyAgents | EscalateOverdueTask | AlertOps | Defer | Suppress | SendMessage | EscalateToAgent
)


@dataclass(frozen=True)
class DueAction:
    """The next message or task a playbook has due, and when (onboarding's stage, or early life's dormancy)."""

    what: str
    at: datetime
    kind: MessageKind | None  # None: a human task
    attempt: int = 0
    task_kind: TaskKind | None = None


def channel_for(kind: MessageKind, channels: list[Channel]) -> tuple[Channel, bool]:
    """A nudge goes by push, a store offer by SMS, else by the first channel left: (channel, is a fallback)."""
    primary = Channel.PUSH if kind is MessageKind.NUDGE else Channel.SMS
    channel = primary if primary in channels else channels[0]
    return channel, channel is not primary


def cutoff_of(state: JourneyState, playbook: Playbook, rules: JourneyRules) -> datetime:
    """When the journey ends if nothing happens: the recovery window, unless the customer waits on us
    (a review, or with the progress guards an agent's task), when only the maximum lifetime applies."""
    if state.outcome is not None:
        return state.outcome.ended_at
    lifetime_end = state.started_at + playbook.guardrails.max_lifetime
    if playbook.for_stage(state.stage).waiting_on == "us" or (rules.progress_guards and state.live_task is not None):
        return lifetime_end
    return min(state.last_progress_at + playbook.guardrails.recovery_window, lifetime_end)


def detect_drop_off(state: JourneyState, playbook: Playbook, now: datetime) -> bool:
    """Marks the drop-off once the next event is overdue; True the first time it is seen."""
    stage_playbook = playbook.for_stage(state.stage)
    if state.stage_progress.drop_off_detected or stage_playbook.waiting_on == "us" or state.outcome is not None:
        return False
    if now < state.stage_since + stage_playbook.drop_off_after:
        return False
    state.stage_progress.drop_off_detected = True
    state.drop_off_stage = state.stage
    state.drop_off_stages.append(state.stage)
    return True


def next_step(state: JourneyState, playbook: Playbook, now: datetime, rules: JourneyRules) -> Step:
    """`rules` say which of the rules this journey runs (journeys started before a rule replay without it)."""
    guardrails = playbook.guardrails
    stage_playbook = playbook.for_stage(state.stage)
    end_kind = OutcomeKind.OPTED_OUT if state.opted_out_of_everything else OutcomeKind.ABANDONED
    if now >= state.started_at + guardrails.max_lifetime:
        return EndJourney(end_kind, "max_lifetime")
    cutoff = cutoff_of(state, playbook, rules)
    if now >= cutoff:
        return EndJourney(end_kind, "no_progress_within_recovery_window")
    unnotified = next((t for t in state.tasks if t.is_live and not t.notified), None)
    if unnotified is not None:
        return NotifyAgents(unnotified.task_id)
    if rules.high_intent and state.stage_progress.video_call_requested:  # at once, as a repeated rejection opens one
        return EscalateToAgent(TaskKind.VIDEO_CALL, state.in_holdout, TaskReason.REPEATED_BIOMETRIC_FAILURE)
    task = state.live_task
    if task is not None:
        if rules.escalate_overdue_tasks and task.state is TaskState.OPEN and not task.overdue_escalated:
            if now >= task.due_at:
                return EscalateOverdueTask(task.task_id)
            return Wait(min(task.due_at, cutoff), "escalate the task if nobody claims it by its due time")
        return Wait(cutoff, "agent works the task")
    if stage_playbook.waiting_on == "us":
        alert_at = state.stage_since + stage_playbook.drop_off_after
        if state.stage_progress.ops_alerted:
            return Wait(cutoff, "waiting on our review")
        if now >= alert_at:
            return AlertOps(f"{state.stage.value} for longer than {stage_playbook.drop_off_after}")
        return Wait(alert_at, "alert ops if the review stalls")

    if (
        rules.progress_guards
        and state.stage_event_at is None
        and not (rules.high_intent and state.last_error is not None)
    ):
        # An opt-out alone is no drop-off; our own error is (high-intent): the customer tried and we failed.
        return Wait(cutoff, "waiting for the first onboarding step")
    due = _due_action(state, stage_playbook, rules)
    if due is None:
        return Wait(cutoff, "end as abandoned without progress")
    if now < due.at:
        return Wait(min(due.at, cutoff), due.what)
    channels = state.allowed_channels
    if not channels and (due.kind is not None or rules.progress_guards):  # no message, and no call either
        key = f"{state.stage.value}:{due.what}"
        if state.stage_progress.suppressed_attempt != key:
            # The customer's choice if they opted out of any channel; else no vendor can reach them.
            return Suppress(due.what, "opted_out" if state.opted_out else "unreachable", key)
        return Wait(cutoff, f"{due.what} once the customer allows a channel")
    if due.kind is None:
        assert due.task_kind is not None
        return EscalateToAgent(due.task_kind, hold_back=state.in_holdout)
    channel, fallback = channel_for(due.kind, channels)

    earliest = (
        due.at if state.stage_progress.service_retry_at is None else max(due.at, state.stage_progress.service_retry_at)
    )
    tz = state.profile.timezone or playbook.default_timezone
    send = earliest_send_time(earliest, [m.sent_at for m in state.messages_out], guardrails, tz)
    if send.at > now:
        if state.stage_progress.deferred_until != send.at:
            return Defer(send.at, send.deferred_by or "service_unhealthy", due.what)
        return Wait(min(send.at, cutoff), due.what)

    error = state.last_error
    check_service = error.service if error is not None and error.kind in OUTAGE_ERRORS else None
    return SendMessage(
        due.kind,
        due.attempt,
        channel,
        fallback=fallback,
        check_service=check_service,
        hold_back=state.in_holdout,
    )


def _due_action(state: JourneyState, stage_playbook: StagePlaybook, rules: JourneyRules) -> DueAction | None:
    if state.stage_progress.store_offer_requested:
        return DueAction("sms store offer", state.last_progress_at, MessageKind.SMS_STORE_OFFER, attempt=1)
    if rules.offer_ends_nudging and state.stage_progress.escalated:
        return None  # the stage's last word has been said
    if state.stage_progress.attempts < stage_playbook.nudges:
        attempt = state.stage_progress.attempts + 1
        base = state.stage_since if attempt == 1 else state.stage_progress.last_nudge_at
        assert base is not None
        return DueAction(f"nudge {attempt}", base + stage_playbook.nudge_gap(attempt), MessageKind.NUDGE, attempt)
    escalation = stage_playbook.escalation
    if escalation is None or state.stage_progress.escalated:
        return None
    if state.stage_progress.last_nudge_at is not None:
        at = state.stage_progress.last_nudge_at + escalation.after
    else:
        at = state.stage_since + stage_playbook.drop_off_after
    if escalation.kind == "human_task":
        return DueAction(f"human task ({escalation.task_kind.value})", at, None, task_kind=escalation.task_kind)
    return DueAction("sms store offer", at, MessageKind.SMS_STORE_OFFER, attempt=1)
