"""What the journey writes down when it carries out a decision: pure functions, tested without a server.

The workflow decides with `next_step`, calls activities, and records the outcome through these, so
every audit line and every counter a decision moves is set in one place.
"""

from datetime import datetime

from workflows.contracts import DeliveryStatus
from workflows.funnel import Channel, Stage
from workflows.human_tasks import CompleteTask, HumanTask, TaskReason, TaskState
from workflows.journey_changes import apply_task_outcome, finish, open_task, recount_messages
from workflows.journey_controls import CloseJourney
from workflows.journey_rules import JourneyRules
from workflows.journey_state import DecisionAction, JourneyState, MessageKind, OutcomeKind, SentMessage
from workflows.next_step import Defer, EscalateToAgent, SendMessage, Suppress
from workflows.playbook import Playbook


def record_deferred(state: JourneyState, step: Defer, now: datetime) -> None:
    state.stage_progress.deferred_until = step.until
    state.record(now, DecisionAction.DEFERRED, step.reason, f"{step.what} until {step.until.isoformat()}")


def record_suppressed(state: JourneyState, step: Suppress, now: datetime) -> None:
    state.stage_progress.suppressed_attempt = step.key
    state.record(now, DecisionAction.SUPPRESSED, step.reason, step.what)


def record_escalation(state: JourneyState, playbook: Playbook, step: EscalateToAgent, now: datetime) -> None:
    """The stage's escalation to a person: a task, or for the holdout the task it would have been."""
    if step.reason is TaskReason.REPEATED_BIOMETRIC_FAILURE:
        _record_repeated_failure(state, playbook, step, now)
        return
    state.stage_progress.escalated = True
    if step.hold_back:
        state.record(now, DecisionAction.SUPPRESSED, "holdout", f"would have opened a {step.task_kind.value} task")
        return
    state.record(now, DecisionAction.ESCALATED, "human_task", f"{state.stage_progress.attempts} unanswered nudges")
    open_task(state, playbook, step.task_kind, TaskReason.PLAYBOOK_ESCALATION, now, detail="no answer to the nudges")


def _record_repeated_failure(state: JourneyState, playbook: Playbook, step: EscalateToAgent, now: datetime) -> None:
    """The second failed selfie's call for a person, as a repeated rejection's: not the stage's escalation
    (its nudges and escalation stay for after the agent's "customer will retry")."""
    state.stage_progress.video_call_requested = False
    why = f"{state.biometric_failures} failed selfies"
    if step.hold_back:
        state.record(
            now, DecisionAction.SUPPRESSED, "holdout", f"would have opened a {step.task_kind.value} task ({why})"
        )
        return
    open_task(state, playbook, step.task_kind, step.reason, now, detail=why)


def record_service_unhealthy(state: JourneyState, service: str, retry_at: datetime, now: datetime) -> None:
    """A nudge for a known outage waits for the service; the wait is not an attempt."""
    state.stage_progress.service_retry_at = state.stage_progress.deferred_until = retry_at
    state.record(now, DecisionAction.DEFERRED, "service_unhealthy", f"{service} reported down")


def record_service_recovered(state: JourneyState, service: str) -> bool:
    """The service a held nudge waits for was reported healthy: the nudge is looked at again now, not
    at the next recheck. False (and nothing changes) when the journey waits for no such thing."""
    error = state.last_error
    if state.stage_progress.service_retry_at is None or error is None or error.service != service:
        return False
    state.stage_progress.service_retry_at = state.stage_progress.deferred_until = None
    return True


def record_store_lookup_failed(state: JourneyState, now: datetime) -> None:
    state.record(now, DecisionAction.FAILED, "store_lookup_failed", "no store to offer")


def record_held_back(state: JourneyState, step: SendMessage, text: str, now: datetime) -> None:
    """The holdout's message: recorded as it would have gone, never sent."""
    state.record(
        now,
        DecisionAction.SUPPRESSED,
        "holdout",
        f"would have sent {step.kind.value} {step.attempt} by {step.channel.value}: {text}",
    )


def record_sent(
    state: JourneyState,
    step: SendMessage,
    message_id: str,
    stage: Stage,
    text: str,
    deep_link: str | None,
    at: datetime,
) -> SentMessage:
    """Recorded before delivery: a completion that arrives while the message is on its way must see
    it as the intervention that came last."""
    sent = SentMessage(
        message_id=message_id,
        channel=step.channel,
        kind=step.kind,
        stage=stage,
        attempt=step.attempt,
        sent_at=at,
        text=text,
        deep_link=deep_link,
        fallback=step.fallback,
    )
    state.messages.append(sent)
    reason = f"fallback_to_{step.channel.value}" if step.fallback else step.channel.value
    state.record(at, DecisionAction.SENT, reason, f"{step.kind.value} {step.attempt}")
    return sent


def record_delivered(state: JourneyState, sent: SentMessage, provider: str) -> None:
    """The vendor took the message: the message, and its `sent` decision while not yet journaled, name it."""
    sent.provider = provider
    unjournaled = state.decisions[max(0, state.journaled_decisions - state.decisions_dropped) :]
    what = f"{sent.kind.value} {sent.attempt}"
    decision = next(
        (d for d in reversed(unjournaled) if d.action is DecisionAction.SENT and d.at == sent.sent_at), None
    )
    if decision is not None and decision.detail == what:
        decision.detail = f"{what} via {provider}"


def record_delivery_failed(state: JourneyState, sent: SentMessage, channel: Channel, cause: str, now: datetime) -> None:
    state.messages.remove(sent)
    state.record(now, DecisionAction.FAILED, "delivery_failed", f"{channel.value}: {cause}")


def record_channel_lost(
    state: JourneyState, sent: SentMessage, channel: Channel, opted_out: bool, now: datetime
) -> None:
    """The vendor says the channel cannot carry this customer's messages: the message was not sent, is
    not an attempt, and the next step picks the other channel where the customer allows it."""
    state.messages.remove(sent)
    if opted_out:
        state.opted_out.add(channel)
        state.opt_changed_at[channel] = now
    else:
        state.unreachable.add(channel)
    reason = f"{channel.value}_{'opted_out' if opted_out else 'unreachable'}"
    state.record(now, DecisionAction.FAILED, reason, f"{sent.kind.value} {sent.attempt}: the vendor said so")


def record_delivery_cancelled(state: JourneyState, sent: SentMessage, step: SendMessage, now: datetime) -> str:
    """A delivery called off because the customer moved on or the journey ended: not a message sent."""
    state.messages.remove(sent)
    why = "journey_ended" if state.outcome is not None else "customer_progressed"
    if state.outcome is not None:  # an ending that credited this message: it never went out
        recount_messages(state)
    state.record(now, DecisionAction.CANCELLED, why, f"{step.kind.value} {step.attempt} ({sent.message_id})")
    return why


def record_attempt(
    state: JourneyState, step: SendMessage, stage: Stage, stage_since: datetime, sent_at: datetime, now: datetime
) -> None:
    """An attempt counts for the stage it was made at; a customer who moved on meanwhile starts afresh."""
    if (state.stage, state.stage_since) != (stage, stage_since):
        return
    state.stage_progress.deferred_until = state.stage_progress.service_retry_at = None
    if step.kind is MessageKind.NUDGE:
        state.stage_progress.attempts, state.stage_progress.last_nudge_at = step.attempt, sent_at
        return
    state.stage_progress.store_offer_requested, state.stage_progress.escalated = False, True
    if not step.hold_back:
        state.record(
            now, DecisionAction.ESCALATED, "sms_store_offer", f"{state.stage_progress.attempts} unanswered nudges"
        )


def record_agents_notified(state: JourneyState, task_id: str) -> None:
    _task(state, task_id).notified = True


def record_task_overdue(state: JourneyState, task_id: str, now: datetime) -> None:
    _task(state, task_id).overdue_escalated = True
    state.record(now, DecisionAction.TASK_OVERDUE, "unclaimed_past_due", task_id)


def record_ops_alerted(state: JourneyState, reason: str, now: datetime) -> None:
    state.stage_progress.ops_alerted = True
    state.record(now, DecisionAction.OPS_ALERTED, "review_stalled", reason)


def record_claim(state: JourneyState, task: HumanTask, agent_id: str, now: datetime) -> bool:
    """An agent takes an open task; claiming one's own claimed task again changes nothing (False)."""
    if task.state is not TaskState.OPEN:
        return False
    task.state, task.claimed_by, task.claimed_at = TaskState.CLAIMED, agent_id, now
    state.record(now, DecisionAction.TASK_CLAIMED, "agent", f"{task.task_id} by {agent_id}")
    return True


def record_release(state: JourneyState, task: HumanTask, agent_id: str, now: datetime) -> None:
    task.state, task.claimed_by, task.claimed_at = TaskState.OPEN, None, None
    state.record(now, DecisionAction.TASK_RELEASED, "agent", f"{task.task_id} by {agent_id}")


def record_completion(
    state: JourneyState, task: HumanTask, request: CompleteTask, now: datetime, rules: JourneyRules
) -> None:
    """The agent's outcome, and what it means for the journey."""
    task.state, task.outcome, task.note = TaskState.COMPLETED, request.outcome, request.note
    task.completed_by, task.completed_at = request.agent_id, now
    state.record(now, DecisionAction.TASK_COMPLETED, request.outcome.value, f"{task.task_id} by {request.agent_id}")
    apply_task_outcome(state, task, request.outcome, now, rules)


def record_close(state: JourneyState, request: CloseJourney, now: datetime) -> None:
    """An operator ends the journey at once: outcome `closed` with their reason, and an `ended` decision
    saying who and why (what the journal and the inbox's story show). Live tasks close with it."""
    finish(state, OutcomeKind.CLOSED, now, request.reason, detail=f"by {request.by}: {request.reason}", by=request.by)


def _task(state: JourneyState, task_id: str) -> HumanTask:
    return next(t for t in state.tasks if t.task_id == task_id)


UNDELIVERED = frozenset({"undelivered", "failed"})  # as JourneyState.messages_out reads them
FINAL_DELIVERY = UNDELIVERED | {"delivered", "read", "canceled"}


def record_delivery_status(state: JourneyState, report: DeliveryStatus, now: datetime) -> bool:
    """A vendor's receipt for one of the journey's messages; True when the journey should act on it.

    A receipt never goes back (they arrive out of order). An undelivered nudge of the stage the customer
    is still at is no attempt: the channel cannot reach the customer, and the next step tries the other.
    """
    sent = next((m for m in state.messages if m.message_id == report.message_id), None)
    if sent is None or sent.delivery_status in FINAL_DELIVERY:
        return False
    sent.delivery_status, sent.delivery_error = report.status, report.error_code
    if report.status not in UNDELIVERED:
        return False
    state.unreachable.add(sent.channel)
    detail = f"{sent.kind.value} {sent.attempt}" + (f": vendor error {report.error_code}" if report.error_code else "")
    state.record(now, DecisionAction.FAILED, f"{sent.channel.value}_undelivered", detail)
    latest = (
        sent.kind is MessageKind.NUDGE and sent.stage is state.stage and sent.attempt == state.stage_progress.attempts
    )
    if latest and state.outcome is None:
        state.stage_progress.attempts -= 1
        earlier = [m for m in state.messages_out if m.stage is state.stage and m.kind is MessageKind.NUDGE]
        state.stage_progress.last_nudge_at = earlier[-1].sent_at if earlier else None
    return True
