"""The playbook's decision at a given moment: wait, nudge, defer, suppress, escalate, alert, or end."""

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.copy import nudge_text
from workflows.events import OnboardingEvent
from workflows.funnel import Channel, Stage
from workflows.holdout import RecoveryGroup
from workflows.human_tasks import CompleteTask, TaskOutcome, TaskReason, TaskState
from workflows.journey_changes import apply_event
from workflows.journey_records import record_completion, record_escalation
from workflows.journey_rules import CURRENT_RULES, JourneyRules
from workflows.journey_state import (
    DecisionAction,
    JourneyState,
    JourneyStatus,
    MessageKind,
    OutcomeKind,
    SentMessage,
    new_journey,
    status_of,
)
from workflows.next_step import (
    AlertOps,
    Defer,
    EndJourney,
    EscalateOverdueTask,
    EscalateToAgent,
    NotifyAgents,
    SendMessage,
    Suppress,
    Wait,
    cutoff_of,
    detect_drop_off,
    next_step,
)
from workflows.playbook import TaskKind, load_playbook
from workflows.state_bounds import StateBounds

PLAYBOOK = load_playbook()  # quiet hours 21:00-09:00, 2 per 24 h, 3 h apart, 48 h window, 7 d lifetime
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # 10:00 in the playbook's default zone (UTC)
H = timedelta(hours=1)
CUSTOMER = "c-43"
_ids = itertools.count(1)


def ev(
    event_type: str, offset: timedelta = timedelta(0), profile: dict[str, Any] | None = None, **attributes: Any
) -> OnboardingEvent:
    return OnboardingEvent(
        event_id=f"e-{next(_ids)}",
        customer_id=CUSTOMER,
        type=event_type,
        occurred_at=T0 + offset,
        attributes=attributes,
        profile=profile,
    )


def journey(*events: OnboardingEvent) -> JourneyState:
    state = new_journey(
        events[0], PLAYBOOK, events[0].occurred_at, holdout_share=0.0, bounds=StateBounds()
    )  # a messaged customer
    for event in events:
        apply_event(state, event, PLAYBOOK, event.occurred_at)
    return state


def nudged(state: JourneyState, attempt: int, when: datetime) -> None:
    """What the workflow records after it sends nudge `attempt`."""
    state.messages.append(
        SentMessage(
            message_id=f"m{attempt}",
            channel=Channel.PUSH,
            kind=MessageKind.NUDGE,
            stage=state.stage,
            attempt=attempt,
            sent_at=when,
            text="...",
        )
    )
    state.stage_progress.attempts, state.stage_progress.last_nudge_at, state.stage_progress.deferred_until = (
        attempt,
        when,
        None,
    )


def three_unanswered_nudges(stage_event: str, **attributes: Any) -> tuple[JourneyState, datetime]:
    """Nudges at +1 h, +5 h and (the cap allowing only 2 a day) +25 h: the last one at the returned time."""
    state = journey(ev("onboarding.phone_verified"), ev(stage_event, timedelta(0), **attributes))
    for attempt, offset in enumerate([1 * H, 5 * H, 25 * H], start=1):
        nudged(state, attempt, T0 + offset)
    return state, T0 + 25 * H


# -- before and at the drop-off -----------------------------------------------------------------


def test_waits_for_the_drop_off_threshold() -> None:
    state = journey(ev("onboarding.phone_verified"))
    assert next_step(state, PLAYBOOK, T0 + 30 * timedelta(minutes=1), CURRENT_RULES) == Wait(T0 + H, "nudge 1")


def test_first_nudge_by_push_at_the_drop_off() -> None:
    state = journey(ev("onboarding.phone_verified"))
    assert next_step(state, PLAYBOOK, T0 + H, CURRENT_RULES) == SendMessage(
        MessageKind.NUDGE, 1, Channel.PUSH, fallback=False, check_service=None
    )


def test_after_a_nudge_waits_for_the_spacing() -> None:
    state = journey(ev("onboarding.phone_verified"))
    nudged(state, 1, T0 + H)
    assert next_step(state, PLAYBOOK, T0 + 2 * H, CURRENT_RULES) == Wait(T0 + 5 * H, "nudge 2")
    assert next_step(state, PLAYBOOK, T0 + 5 * H, CURRENT_RULES) == SendMessage(
        MessageKind.NUDGE, 2, Channel.PUSH, False, None
    )


def test_drop_off_is_detected_once_and_never_while_waiting_on_us() -> None:
    state = journey(ev("onboarding.phone_verified"))
    assert not detect_drop_off(state, PLAYBOOK, T0 + 59 * timedelta(minutes=1))
    assert detect_drop_off(state, PLAYBOOK, T0 + H)
    assert not detect_drop_off(state, PLAYBOOK, T0 + 2 * H)
    assert (state.drop_off_stage, state.drop_off_stages) == (Stage.PHONE_VERIFIED, [Stage.PHONE_VERIFIED])
    review = journey(ev("onboarding.phone_verified"), ev("onboarding.document_uploaded"))
    assert not detect_drop_off(review, PLAYBOOK, T0 + 10 * H)


# -- quiet hours and the cap ----------------------------------------------------------------------


def test_nudge_due_in_quiet_hours_is_deferred_then_waits_then_goes() -> None:
    evening = timedelta(hours=10, minutes=30)  # phone verified at 20:30, nudge due 21:30
    state = journey(ev("onboarding.phone_verified", evening))
    morning = T0 + timedelta(hours=23)  # 09:00 next day
    step = next_step(state, PLAYBOOK, T0 + evening + H, CURRENT_RULES)
    assert step == Defer(morning, "quiet_hours", "nudge 1")
    state.stage_progress.deferred_until = step.until
    assert next_step(state, PLAYBOOK, T0 + evening + H, CURRENT_RULES) == Wait(morning, "nudge 1")
    # A deferred nudge is not an attempt: at 09:00 it is still nudge 1.
    assert next_step(state, PLAYBOOK, morning, CURRENT_RULES) == SendMessage(
        MessageKind.NUDGE, 1, Channel.PUSH, False, None
    )


def test_quiet_hours_follow_the_customers_time_zone() -> None:
    # 10:00 UTC is 05:00 in New York: the nudge due at 06:00 there waits for 09:00 New York (14:00 UTC).
    state = journey(ev("onboarding.phone_verified", profile={"timezone": "America/New_York"}))
    assert next_step(state, PLAYBOOK, T0 + H, CURRENT_RULES) == Defer(T0 + 4 * H, "quiet_hours", "nudge 1")


def test_third_nudge_waits_for_the_frequency_cap() -> None:
    state = journey(ev("onboarding.phone_verified"))
    nudged(state, 1, T0 + H)
    nudged(state, 2, T0 + 5 * H)
    # Nudge 3 is due at 23:00 (quiet hours), but 2 were sent today: it waits until 11:00 tomorrow.
    assert next_step(state, PLAYBOOK, T0 + 13 * H, CURRENT_RULES) == Defer(T0 + 25 * H, "frequency_cap", "nudge 3")


def test_nudge_for_a_service_reported_down_waits_for_the_recheck() -> None:
    state = journey(
        ev("onboarding.phone_verified"),
        ev("onboarding.error", timedelta(minutes=5), error="maintenance", service="ocr"),
    )
    state.stage_progress.service_retry_at = T0 + 90 * timedelta(minutes=1)
    assert next_step(state, PLAYBOOK, T0 + H, CURRENT_RULES) == Defer(
        T0 + 90 * timedelta(minutes=1), "service_unhealthy", "nudge 1"
    )


# -- channels -----------------------------------------------------------------------------------


def test_all_channels_opted_out_suppresses_once_then_waits_for_the_cutoff() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("customer.opted_out", timedelta(minutes=10), channel="all"))
    step = next_step(state, PLAYBOOK, T0 + H, CURRENT_RULES)
    assert step == Suppress("nudge 1", "opted_out", "phone_verified:nudge 1")
    state.stage_progress.suppressed_attempt = step.key
    assert next_step(state, PLAYBOOK, T0 + H, CURRENT_RULES) == Wait(
        T0 + 48 * H, "nudge 1 once the customer allows a channel"
    )
    assert next_step(state, PLAYBOOK, T0 + 48 * H, CURRENT_RULES) == EndJourney(
        OutcomeKind.OPTED_OUT, "no_progress_within_recovery_window"
    )


def test_opted_back_in_after_a_suppression_gets_the_nudge() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("customer.opted_out", timedelta(minutes=10), channel="all"))
    state.stage_progress.suppressed_attempt = "phone_verified:nudge 1"
    apply_event(state, ev("customer.opted_in", 2 * H, channel="push"), PLAYBOOK, T0 + 2 * H)
    assert next_step(state, PLAYBOOK, T0 + 2 * H, CURRENT_RULES) == SendMessage(
        MessageKind.NUDGE, 1, Channel.PUSH, False, None
    )


def test_a_customer_no_vendor_can_reach_is_suppressed_as_unreachable_not_opted_out() -> None:
    state = journey(ev("onboarding.phone_verified"))
    state.unreachable = {Channel.PUSH, Channel.SMS}  # an unregistered token, an undelivered SMS
    step = next_step(state, PLAYBOOK, T0 + 2 * H, CURRENT_RULES)
    assert step == Suppress("nudge 1", "unreachable", "phone_verified:nudge 1")
    state.unreachable = {Channel.PUSH}
    state.opted_out = {Channel.SMS}  # the customer's STOP among the reasons: an opt-out
    assert next_step(state, PLAYBOOK, T0 + 2 * H, CURRENT_RULES) == Suppress(
        "nudge 1", "opted_out", "phone_verified:nudge 1"
    )


def test_push_opted_out_falls_back_to_sms() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("customer.opted_out", timedelta(minutes=10), channel="push"))
    assert next_step(state, PLAYBOOK, T0 + H, CURRENT_RULES) == SendMessage(
        MessageKind.NUDGE, 1, Channel.SMS, fallback=True, check_service=None
    )


# -- escalation -----------------------------------------------------------------------------------


def test_stage_a_sends_the_sms_store_offer_after_the_last_nudge() -> None:
    state = journey(ev("onboarding.phone_verified"))
    for attempt, offset in enumerate([1 * H, 5 * H, 25 * H], start=1):
        nudged(state, attempt, T0 + offset)
    assert next_step(state, PLAYBOOK, T0 + 26 * H, CURRENT_RULES) == Wait(T0 + 29 * H, "sms store offer")
    assert next_step(state, PLAYBOOK, T0 + 29 * H, CURRENT_RULES) == SendMessage(
        MessageKind.SMS_STORE_OFFER, 1, Channel.SMS, False, None
    )
    # Once the offer went out, nothing is left but the cutoff.
    state.stage_progress.escalated = True
    assert next_step(state, PLAYBOOK, T0 + 30 * H, CURRENT_RULES) == Wait(
        T0 + 48 * H, "end as abandoned without progress"
    )


def test_stage_b_escalates_to_a_video_call_after_the_last_nudge() -> None:
    state, last = three_unanswered_nudges("onboarding.document_rejected", reason="blur")
    assert next_step(state, PLAYBOOK, last + H, CURRENT_RULES) == Wait(last + 4 * H, "human task (video_call)")
    assert next_step(state, PLAYBOOK, last + 4 * H, CURRENT_RULES) == EscalateToAgent(TaskKind.VIDEO_CALL)


def test_unreachable_customer_gets_the_store_offer_at_once() -> None:
    state, last = three_unanswered_nudges("onboarding.document_rejected", reason="blur")
    state.stage_progress.escalated, state.stage_progress.store_offer_requested = True, True
    assert next_step(state, PLAYBOOK, last + 5 * H, CURRENT_RULES) == SendMessage(
        MessageKind.SMS_STORE_OFFER, 1, Channel.SMS, False, None
    )


# -- the end --------------------------------------------------------------------------------------


def test_ends_as_abandoned_at_the_recovery_window() -> None:
    state = journey(ev("onboarding.phone_verified"))
    nudged(state, 1, T0 + H)
    assert not isinstance(next_step(state, PLAYBOOK, T0 + 48 * H - timedelta(seconds=1), CURRENT_RULES), EndJourney)
    assert next_step(state, PLAYBOOK, T0 + 48 * H, CURRENT_RULES) == EndJourney(
        OutcomeKind.ABANDONED, "no_progress_within_recovery_window"
    )


def test_a_customer_no_vendor_can_reach_is_no_opt_out_and_ends_abandoned() -> None:
    state = journey(ev("onboarding.phone_verified"))
    state.unreachable = {Channel.PUSH, Channel.SMS}
    state.unreachable_apart = True
    assert status_of(state) is JourneyStatus.ACTIVE, "not opted_out"
    assert next_step(state, PLAYBOOK, T0 + 48 * H, CURRENT_RULES) == EndJourney(
        OutcomeKind.ABANDONED, "no_progress_within_recovery_window"
    )
    state.opted_out = {Channel.SMS}  # a STOP among the reasons: an opt-out
    assert status_of(state) is JourneyStatus.OPTED_OUT
    assert next_step(state, PLAYBOOK, T0 + 48 * H, CURRENT_RULES) == EndJourney(
        OutcomeKind.OPTED_OUT, "no_progress_within_recovery_window"
    )


def test_journeys_from_before_unreachable_not_opted_out_keep_calling_it_an_opt_out() -> None:
    state = journey(ev("onboarding.phone_verified"))
    state.unreachable = {Channel.PUSH, Channel.SMS}
    assert not state.unreachable_apart, "the patch sets it"
    assert status_of(state) is JourneyStatus.OPTED_OUT
    assert next_step(state, PLAYBOOK, T0 + 48 * H, CURRENT_RULES) == EndJourney(
        OutcomeKind.OPTED_OUT, "no_progress_within_recovery_window"
    )


def test_progress_moves_the_cutoff() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.document_approved", 30 * H))
    assert cutoff_of(state, PLAYBOOK, CURRENT_RULES) == T0 + 78 * H
    assert not isinstance(next_step(state, PLAYBOOK, T0 + 48 * H, CURRENT_RULES), EndJourney)


def test_ends_at_max_lifetime_even_with_recent_progress() -> None:
    state = journey(
        ev("onboarding.started"),
        ev("onboarding.phone_verified", 40 * H),
        ev("onboarding.document_uploaded", 80 * H),
        ev("onboarding.document_approved", 120 * H),
        ev("onboarding.biometric_failed", 160 * H),
    )
    assert next_step(state, PLAYBOOK, T0 + 168 * H, CURRENT_RULES) == EndJourney(OutcomeKind.ABANDONED, "max_lifetime")


# -- waiting on us ------------------------------------------------------------------------------


def test_stalled_review_alerts_ops_and_never_abandons_the_customer_at_48h() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.document_uploaded", timedelta(minutes=10)))
    review_since = T0 + timedelta(minutes=10)
    assert next_step(state, PLAYBOOK, T0 + H, CURRENT_RULES) == Wait(
        review_since + 2 * H, "alert ops if the review stalls"
    )
    step = next_step(state, PLAYBOOK, review_since + 2 * H, CURRENT_RULES)
    assert isinstance(step, AlertOps) and "document_uploaded" in step.reason
    state.stage_progress.ops_alerted = True
    lifetime_end = T0 + timedelta(days=7)
    assert next_step(state, PLAYBOOK, review_since + 3 * H, CURRENT_RULES) == Wait(
        lifetime_end, "waiting on our review"
    )
    assert next_step(state, PLAYBOOK, review_since + 48 * H, CURRENT_RULES) == Wait(
        lifetime_end, "waiting on our review"
    )
    assert state.messages == []
    assert next_step(state, PLAYBOOK, lifetime_end, CURRENT_RULES) == EndJourney(OutcomeKind.ABANDONED, "max_lifetime")


# -- agents ---------------------------------------------------------------------------------------


def test_new_task_notifies_agents_then_no_nudges_while_it_is_live() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.help_requested", timedelta(minutes=5)))
    assert next_step(state, PLAYBOOK, T0 + timedelta(minutes=6), CURRENT_RULES) == NotifyAgents(f"{CUSTOMER}:task-1")
    state.tasks[0].notified = True
    task = state.tasks[0]
    assert next_step(state, PLAYBOOK, T0 + timedelta(minutes=30), CURRENT_RULES) == Wait(
        task.due_at, "escalate the task if nobody claims it by its due time"
    ), "no nudge while an agent has the customer: only the task's due time is watched"
    assert next_step(state, PLAYBOOK, T0 + 3 * H, CURRENT_RULES) == EscalateOverdueTask(task.task_id)
    task.overdue_escalated = True
    lifetime_end = state.started_at + PLAYBOOK.guardrails.max_lifetime
    assert next_step(state, PLAYBOOK, T0 + 3 * H, CURRENT_RULES) == Wait(lifetime_end, "agent works the task"), (
        "a live task holds the window"
    )


def test_a_claimed_task_is_not_overdue_and_old_journeys_do_not_escalate() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.help_requested", timedelta(minutes=5)))
    state.tasks[0].notified = True
    old_rules = JourneyRules(
        escalate_overdue_tasks=False, progress_guards=False, offer_ends_nudging=True, high_intent=False
    )
    assert next_step(state, PLAYBOOK, T0 + 3 * H, old_rules) == Wait(T0 + 48 * H, "agent works the task")
    state.tasks[0].state, state.tasks[0].claimed_by = TaskState.CLAIMED, "ana"
    assert next_step(state, PLAYBOOK, T0 + 3 * H, CURRENT_RULES) == Wait(
        state.started_at + PLAYBOOK.guardrails.max_lifetime, "agent works the task"
    )


def test_a_live_task_keeps_the_journey_past_the_recovery_window() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.help_requested", timedelta(hours=47, minutes=30)))
    state.tasks[0].notified = True
    state.tasks[0].state, state.tasks[0].claimed_by = TaskState.CLAIMED, "ana"
    assert not isinstance(next_step(state, PLAYBOOK, T0 + 49 * H, CURRENT_RULES), EndJourney), (
        "the agent is still working it"
    )
    assert next_step(
        state,
        PLAYBOOK,
        T0 + 49 * H,
        JourneyRules(escalate_overdue_tasks=True, progress_guards=False, offer_ends_nudging=True, high_intent=False),
    ) == EndJourney(OutcomeKind.ABANDONED, "no_progress_within_recovery_window")


def test_no_nudge_before_the_first_funnel_step() -> None:
    state = journey(ev("customer.opted_out", channel="push"))
    assert next_step(state, PLAYBOOK, T0 + 2 * H, CURRENT_RULES) == Wait(
        T0 + 48 * H, "waiting for the first onboarding step"
    )
    assert isinstance(
        next_step(
            state,
            PLAYBOOK,
            T0 + 2 * H,
            JourneyRules(
                escalate_overdue_tasks=True, progress_guards=False, offer_ends_nudging=True, high_intent=False
            ),
        ),
        SendMessage,
    ), "what old journeys did"


def test_nobody_calls_a_customer_who_opted_out_of_everything() -> None:
    state = journey(
        ev("onboarding.document_rejected", reason="blur"), ev("customer.opted_out", timedelta(minutes=1), channel="all")
    )
    state.stage_progress.attempts, state.stage_progress.last_nudge_at = 3, T0 + 13 * H
    step = next_step(state, PLAYBOOK, T0 + 18 * H, CURRENT_RULES)
    assert isinstance(step, Suppress) and step.reason == "opted_out" and "human task" in step.what
    assert isinstance(
        next_step(
            state,
            PLAYBOOK,
            T0 + 18 * H,
            JourneyRules(
                escalate_overdue_tasks=True, progress_guards=False, offer_ends_nudging=True, high_intent=False
            ),
        ),
        EscalateToAgent,
    )


def test_second_rejection_goes_to_a_human_at_once() -> None:
    state = journey(
        ev("onboarding.phone_verified"),
        ev("onboarding.document_rejected", timedelta(minutes=5), reason="blur"),
        ev("onboarding.document_rejected", timedelta(minutes=20), reason="glare"),
    )
    assert next_step(state, PLAYBOOK, T0 + timedelta(minutes=21), CURRENT_RULES) == NotifyAgents(f"{CUSTOMER}:task-1")


OLD_RULES = JourneyRules(escalate_overdue_tasks=True, progress_guards=True, offer_ends_nudging=True, high_intent=False)


def two_failed_selfies(holdout: bool = False) -> JourneyState:
    state = journey(
        ev("onboarding.document_approved"),
        ev("onboarding.biometric_failed", timedelta(minutes=5)),
        ev("onboarding.biometric_failed", timedelta(minutes=20)),
    )
    state.group = RecoveryGroup.HOLDOUT if holdout else RecoveryGroup.TREATMENT
    return state


def test_second_failed_selfie_goes_to_a_human_at_once() -> None:
    one = journey(ev("onboarding.document_approved"), ev("onboarding.biometric_failed", timedelta(minutes=5)))
    assert next_step(one, PLAYBOOK, T0 + timedelta(minutes=6), CURRENT_RULES) == Wait(
        T0 + timedelta(minutes=65), "nudge 1"
    ), "the first failure is nudged"
    state = two_failed_selfies()
    now = T0 + timedelta(minutes=20)
    step = next_step(state, PLAYBOOK, now, CURRENT_RULES)
    assert step == EscalateToAgent(TaskKind.VIDEO_CALL, False, TaskReason.REPEATED_BIOMETRIC_FAILURE)
    assert isinstance(step, EscalateToAgent)
    record_escalation(state, PLAYBOOK, step, now)
    [task] = state.tasks
    assert (task.kind, task.reason, task.stage, task.detail) == (
        TaskKind.VIDEO_CALL,
        TaskReason.REPEATED_BIOMETRIC_FAILURE,
        Stage.BIOMETRIC_FAILED,
        "2 failed selfies",
    )
    assert next_step(state, PLAYBOOK, now, CURRENT_RULES) == NotifyAgents(task.task_id), "no nudge in between"
    assert not state.stage_progress.escalated, "the stage's own escalation is still to come if the customer retries"


def test_second_failed_selfie_before_high_intent_was_nudged() -> None:
    assert next_step(two_failed_selfies(), PLAYBOOK, T0 + timedelta(minutes=21), OLD_RULES) == Wait(
        T0 + timedelta(minutes=80), "nudge 1"
    )


def test_a_retry_the_agent_agreed_is_nudged_and_the_next_failure_calls_again() -> None:
    state = two_failed_selfies()
    now = T0 + timedelta(minutes=20)
    step = next_step(state, PLAYBOOK, now, CURRENT_RULES)
    assert isinstance(step, EscalateToAgent)
    record_escalation(state, PLAYBOOK, step, now)
    task = state.tasks[0]
    task.notified, task.state, task.claimed_by = True, TaskState.CLAIMED, "ana"
    retry = CompleteTask(task_id=task.task_id, agent_id="ana", outcome=TaskOutcome.CUSTOMER_WILL_RETRY)
    record_completion(state, task, retry, now + H, CURRENT_RULES)
    assert next_step(state, PLAYBOOK, now + H, CURRENT_RULES) == Wait(now + 2 * H, "nudge 1")
    apply_event(state, ev("onboarding.biometric_failed", 90 * timedelta(minutes=1)), PLAYBOOK, now + 2 * H)
    assert next_step(state, PLAYBOOK, now + 2 * H, CURRENT_RULES) == EscalateToAgent(
        TaskKind.VIDEO_CALL, False, TaskReason.REPEATED_BIOMETRIC_FAILURE
    )


def test_the_holdouts_second_failed_selfie_is_the_task_it_would_have_been() -> None:
    state = two_failed_selfies(holdout=True)
    now = T0 + timedelta(minutes=20)
    step = next_step(state, PLAYBOOK, now, CURRENT_RULES)
    assert step == EscalateToAgent(TaskKind.VIDEO_CALL, True, TaskReason.REPEATED_BIOMETRIC_FAILURE)
    assert isinstance(step, EscalateToAgent)
    record_escalation(state, PLAYBOOK, step, now)
    assert state.tasks == []
    assert (state.decisions[-1].action, state.decisions[-1].reason) == (DecisionAction.SUPPRESSED, "holdout")
    assert next_step(state, PLAYBOOK, now, CURRENT_RULES) == Wait(now + H, "nudge 1")


def test_our_error_as_the_first_event_is_nudged_with_the_error_copy_after_the_service_check() -> None:
    state = journey(ev("onboarding.error", error="service_unavailable", service="ocr"))
    assert state.stage is Stage.STARTED
    assert next_step(state, PLAYBOOK, T0 + timedelta(minutes=30), CURRENT_RULES) == Wait(T0 + H, "nudge 1")
    assert next_step(state, PLAYBOOK, T0 + H, CURRENT_RULES) == SendMessage(
        MessageKind.NUDGE, 1, Channel.PUSH, False, check_service="ocr"
    )
    assert nudge_text(state, PLAYBOOK) == (
        "Sorry: our phone number verification service failed, not you. It works again, continue where you left off."
    )
    assert next_step(state, PLAYBOOK, T0 + H, OLD_RULES) == Wait(
        T0 + 48 * H, "waiting for the first onboarding step"
    ), "what journeys started before high-intent do"
    opted_out = journey(ev("customer.opted_out", channel="push"))
    assert next_step(opted_out, PLAYBOOK, T0 + 2 * H, CURRENT_RULES) == Wait(
        T0 + 48 * H, "waiting for the first onboarding step"
    ), "an opt-out alone is still no drop-off"


# -- our own errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "service", "check"),
    [
        ("service_unavailable", "ocr", "ocr"),
        ("maintenance", "liveness", "liveness"),
        ("high_latency", "ocr", "ocr"),
        ("auth_failed", "sso", None),  # not an outage: nothing to wait for
        ("service_unavailable", None, None),  # no service named: nothing to check
    ],
)
def test_nudge_after_an_outage_checks_the_service_first(error: str, service: str | None, check: str | None) -> None:
    attributes: dict[str, Any] = {"error": error} | ({"service": service} if service else {})
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.error", timedelta(minutes=5), **attributes))
    assert next_step(state, PLAYBOOK, T0 + H, CURRENT_RULES) == SendMessage(
        MessageKind.NUDGE, 1, Channel.PUSH, False, check_service=check
    )
