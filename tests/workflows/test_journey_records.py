"""What carrying out a decision writes down, without a server."""

from datetime import UTC, datetime, timedelta

from workflows.contracts import DeliveryStatus
from workflows.events import OnboardingEvent
from workflows.funnel import Channel
from workflows.journey_changes import apply_event, finish
from workflows.journey_records import (
    record_attempt,
    record_channel_lost,
    record_delivery_cancelled,
    record_delivery_status,
    record_escalation,
    record_held_back,
    record_sent,
    record_service_recovered,
    record_service_unhealthy,
)
from workflows.journey_rules import CURRENT_RULES
from workflows.journey_state import DecisionAction, JourneyState, MessageKind, OutcomeKind, new_journey
from workflows.next_step import EscalateToAgent, SendMessage, next_step
from workflows.playbook import TaskKind, load_playbook
from workflows.state_bounds import StateBounds

PLAYBOOK = load_playbook()
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NUDGE_1 = SendMessage(MessageKind.NUDGE, 1, Channel.PUSH, fallback=False, check_service=None)


def verified() -> JourneyState:
    first = OnboardingEvent(event_id="e-1", customer_id="c-7", type="onboarding.phone_verified", occurred_at=T0)
    state = new_journey(first, PLAYBOOK, T0, holdout_share=0.0, bounds=StateBounds())
    apply_event(state, first, PLAYBOOK, T0)
    return state


def test_a_message_is_recorded_before_it_goes_and_counts_as_the_stages_attempt() -> None:
    state = verified()
    sent = record_sent(state, NUDGE_1, "m1", state.stage, "One more step", None, T0 + timedelta(hours=1))
    assert state.messages == [sent] and state.decisions[-1].action is DecisionAction.SENT
    record_attempt(state, NUDGE_1, state.stage, state.stage_since, sent.sent_at, sent.sent_at)
    assert (state.stage_progress.attempts, state.stage_progress.last_nudge_at) == (1, sent.sent_at)


def test_an_attempt_made_at_a_stage_the_customer_left_does_not_count() -> None:
    state = verified()
    stage, since = state.stage, state.stage_since
    later = OnboardingEvent(
        event_id="e-2", customer_id="c-7", type="onboarding.document_uploaded", occurred_at=T0 + timedelta(hours=1)
    )
    apply_event(state, later, PLAYBOOK, later.occurred_at)
    record_attempt(state, NUDGE_1, stage, since, T0 + timedelta(hours=1), T0 + timedelta(hours=1))
    assert state.stage_progress.attempts == 0


def test_a_cancelled_delivery_is_not_credited_by_the_ending_it_raced() -> None:
    state = verified()
    sent = record_sent(state, NUDGE_1, "m1", state.stage, "One more step", None, T0 + timedelta(hours=1))
    finish(state, OutcomeKind.COMPLETED, T0 + timedelta(hours=1, seconds=5), "onboarding.completed")
    assert state.outcome is not None and state.outcome.preceded_by == "nudge_1"
    assert record_delivery_cancelled(state, sent, NUDGE_1, T0 + timedelta(hours=1, seconds=6)) == "journey_ended"
    assert (state.outcome.messages_sent, state.outcome.preceded_by) == (0, "none")


def test_the_holdout_records_what_it_would_have_done_and_nothing_more() -> None:
    state = verified()
    record_held_back(state, NUDGE_1, "One more step", T0 + timedelta(hours=1))
    record_escalation(state, PLAYBOOK, EscalateToAgent(TaskKind.VIDEO_CALL, hold_back=True), T0 + timedelta(hours=9))
    assert not state.messages and not state.tasks and state.stage_progress.escalated
    assert [(d.action, d.reason) for d in state.decisions[-2:]] == [(DecisionAction.SUPPRESSED, "holdout")] * 2


def test_a_channel_the_vendor_cannot_reach_is_not_an_attempt_and_the_next_step_takes_the_other() -> None:
    state = verified()
    due = T0 + timedelta(hours=1)
    sent = record_sent(state, NUDGE_1, "m1", state.stage, "One more step", None, due)
    record_channel_lost(state, sent, Channel.PUSH, opted_out=False, now=due)
    assert not state.messages and state.stage_progress.attempts == 0 and state.allowed_channels == [Channel.SMS]
    assert (state.decisions[-1].action, state.decisions[-1].reason) == (DecisionAction.FAILED, "push_unreachable")
    step = next_step(state, PLAYBOOK.model_copy(update={"holdout_share": 0.0}), due, CURRENT_RULES)
    assert step == SendMessage(MessageKind.NUDGE, 1, Channel.SMS, fallback=True, check_service=None)


def test_a_vendor_saying_the_customer_unsubscribed_is_an_opt_out() -> None:
    state = verified()
    sent = record_sent(state, NUDGE_1, "m1", state.stage, "One more step", None, T0)
    record_channel_lost(state, sent, Channel.SMS, opted_out=True, now=T0)
    assert Channel.SMS in state.opted_out and state.opt_changed_at[Channel.SMS] == T0


def test_an_undelivered_nudge_stays_in_the_view_but_is_no_attempt_and_the_other_channel_follows() -> None:
    state = verified()
    due = T0 + timedelta(hours=1)
    sent = record_sent(state, NUDGE_1, "m1", state.stage, "One more step", None, due)
    record_attempt(state, NUDGE_1, state.stage, state.stage_since, due, due)
    later = due + timedelta(minutes=2)
    assert record_delivery_status(state, DeliveryStatus(message_id="m1", status="undelivered", at=later), later)
    assert state.messages == [sent] and sent.delivery_status == "undelivered"
    assert (state.stage_progress.attempts, state.nudges_sent, state.allowed_channels) == (0, 0, [Channel.SMS])
    step = next_step(state, PLAYBOOK.model_copy(update={"holdout_share": 0.0}), later, CURRENT_RULES)
    assert step == SendMessage(MessageKind.NUDGE, 1, Channel.SMS, fallback=True, check_service=None)
    assert not record_delivery_status(state, DeliveryStatus(message_id="m1", status="delivered", at=later), later)
    assert sent.delivery_status == "undelivered", "a receipt never goes back"


def test_a_service_reported_healthy_releases_the_nudge_held_for_it_now_and_nothing_else() -> None:
    state = verified()
    error = OnboardingEvent(
        event_id="e-2",
        customer_id="c-7",
        type="onboarding.error",
        occurred_at=T0 + timedelta(minutes=5),
        attributes={"error": "maintenance", "service": "ocr"},
    )
    apply_event(state, error, PLAYBOOK, error.occurred_at)
    assert not record_service_recovered(state, "ocr"), "nothing held yet: no notice taken"
    held_at = T0 + timedelta(hours=1)
    recheck_at = held_at + PLAYBOOK.guardrails.service_recheck
    record_service_unhealthy(state, "ocr", recheck_at, held_at)
    assert not record_service_recovered(state, "liveness"), "another service: still held"
    assert state.stage_progress.service_retry_at == recheck_at
    decisions = state.decisions_recorded
    assert record_service_recovered(state, "ocr")
    released = state.stage_progress.model_dump(include={"service_retry_at", "deferred_until"})
    assert released == {"service_retry_at": None, "deferred_until": None} and state.decisions_recorded == decisions
    step = next_step(state, PLAYBOOK, held_at + timedelta(seconds=1), CURRENT_RULES)
    assert step == SendMessage(MessageKind.NUDGE, 1, Channel.PUSH, fallback=False, check_service="ocr")
