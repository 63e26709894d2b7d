"""How events and agents' outcomes change what a journey knows: duplicates, order, consent, tasks, the end."""

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from workflows.events import OnboardingEvent
from workflows.funnel import Channel, ErrorKind, Stage
from workflows.human_tasks import HumanTask, TaskOutcome, TaskReason, TaskState
from workflows.journey_changes import apply_event, apply_task_outcome, finish, preceding_intervention
from workflows.journey_rules import CURRENT_RULES, JourneyRules
from workflows.journey_state import (
    EventEffect,
    JourneyState,
    JourneyStatus,
    MessageKind,
    OutcomeKind,
    SentMessage,
    StageProgress,
    new_journey,
    status_of,
)
from workflows.next_step import cutoff_of
from workflows.playbook import TaskKind, load_playbook
from workflows.state_bounds import StateBounds

PLAYBOOK = load_playbook()
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_ids = itertools.count(1)


def ev(event_type: str, minutes: float = 0, event_id: str | None = None, **attributes: Any) -> OnboardingEvent:
    return OnboardingEvent(
        event_id=event_id or f"e-{next(_ids)}",
        customer_id="c-43",
        type=event_type,
        occurred_at=T0 + timedelta(minutes=minutes),
        attributes=attributes,
    )


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def journey(*events: OnboardingEvent, holdout_share: float = 0.0) -> JourneyState:
    """A journey fed `events` in the given order, each received the moment it occurred (treatment group unless told)."""
    state = new_journey(events[0], PLAYBOOK, events[0].occurred_at, holdout_share=holdout_share, bounds=StateBounds())
    for event in events:
        apply_event(state, event, PLAYBOOK, event.occurred_at)
    return state


def feed(state: JourneyState, event: OnboardingEvent, received_minutes: float | None = None) -> EventEffect | None:
    now = event.occurred_at if received_minutes is None else at(received_minutes)
    return apply_event(state, event, PLAYBOOK, now)


def sent(state: JourneyState, kind: MessageKind, attempt: int, minutes: float) -> None:
    state.messages.append(
        SentMessage(
            message_id=f"m{len(state.messages) + 1}",
            channel=Channel.PUSH if kind is MessageKind.NUDGE else Channel.SMS,
            kind=kind,
            stage=state.stage,
            attempt=attempt,
            sent_at=at(minutes),
            text="...",
        )
    )


def complete(task: HumanTask, outcome: TaskOutcome, minutes: float) -> None:
    """What the workflow does to the task before it applies the outcome to the journey."""
    task.state, task.outcome, task.completed_by, task.completed_at = (
        TaskState.COMPLETED,
        outcome,
        "agent-1",
        at(minutes),
    )


# -- duplicates and order -----------------------------------------------------------------------


def test_first_event_starts_the_journey_at_its_stage() -> None:
    state = journey(ev("onboarding.phone_verified"))
    assert (state.stage, state.stage_since, state.customer_id) == (Stage.PHONE_VERIFIED, T0, "c-43")
    assert state.playbook_version == PLAYBOOK.version
    assert [e.effect for e in state.events] == [EventEffect.ADVANCED]


def test_duplicate_event_returns_none_and_is_counted_without_a_trace() -> None:
    state = journey(
        ev("onboarding.phone_verified"), ev("onboarding.document_rejected", 5, event_id="rej", reason="blur")
    )
    assert feed(state, ev("onboarding.document_rejected", 5, event_id="rej", reason="blur"), 30) is None
    assert feed(state, ev("onboarding.document_rejected", 5, event_id="rej", reason="blur"), 31) is None
    assert state.duplicates_ignored == 2
    assert len(state.events) == 2
    assert state.rejections == 1, "a resent rejection is not a second rejection"
    assert state.tasks == []


def test_late_event_of_an_earlier_stage_is_stale() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.document_approved", 30))
    effect = feed(state, ev("onboarding.document_uploaded", 20), received_minutes=31)
    assert effect is EventEffect.STALE
    assert state.stage is Stage.DOCUMENT_APPROVED
    assert state.events[-1].detail == "customer is already at document_approved"


def test_out_of_order_arrival_ends_at_the_latest_stage() -> None:
    state = journey(ev("onboarding.document_uploaded", 20))
    assert feed(state, ev("onboarding.phone_verified", 5), received_minutes=21) is EventEffect.STALE
    assert feed(state, ev("onboarding.started", 0), received_minutes=22) is EventEffect.STALE
    assert (state.stage, state.stage_since) == (Stage.DOCUMENT_UPLOADED, at(20))


def test_event_from_the_future_counts_from_when_it_arrived() -> None:
    state = journey(ev("onboarding.phone_verified"))
    feed(state, ev("onboarding.document_uploaded", 90), received_minutes=10)  # the app's clock runs ahead
    assert state.stage_since == at(10)


def test_earlier_funnel_event_arriving_after_a_non_funnel_first_event_still_counts() -> None:
    state = journey(ev("onboarding.error", 2, error="service_unavailable", service="ocr"))
    effect = feed(state, ev("onboarding.phone_verified", 0), received_minutes=3)
    assert effect is EventEffect.ADVANCED
    assert state.stage is Stage.PHONE_VERIFIED


def test_error_after_a_late_progress_event_is_kept_whatever_the_arrival_order() -> None:
    in_order = journey(
        ev("onboarding.phone_verified"),
        ev("onboarding.document_approved", 10),
        ev("onboarding.error", 12, error="maintenance", service="liveness"),
    )
    late = journey(ev("onboarding.phone_verified"), ev("onboarding.error", 12, error="maintenance", service="liveness"))
    feed(late, ev("onboarding.document_approved", 10), received_minutes=13)
    assert in_order.last_error is not None and in_order.last_error.service == "liveness"
    assert late.stage is Stage.DOCUMENT_APPROVED
    assert late.last_error == in_order.last_error


def test_help_requested_after_a_late_progress_event_stays_open() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.help_requested", 12))
    feed(state, ev("onboarding.document_approved", 10), received_minutes=13)
    assert state.stage is Stage.DOCUMENT_APPROVED
    assert state.live_task is not None


def test_started_as_first_event_advances_then_repeats_are_stale() -> None:
    state = journey(ev("onboarding.started"))
    assert state.events[0].effect is EventEffect.ADVANCED and state.stage is Stage.STARTED
    assert feed(state, ev("onboarding.started", 1)) is EventEffect.STALE


def test_profile_takes_the_newest_values_and_keeps_what_is_not_resent() -> None:
    first = OnboardingEvent(
        event_id="p1",
        customer_id="c-43",
        type="onboarding.phone_verified",
        occurred_at=at(0),
        profile={"timezone": "Asia/Tashkent", "locale": "uz"},
    )
    newer = OnboardingEvent(
        event_id="p2",
        customer_id="c-43",
        type="onboarding.document_uploaded",
        occurred_at=at(10),
        profile={"locale": "ru"},
    )
    older = OnboardingEvent(
        event_id="p3", customer_id="c-43", type="onboarding.help_requested", occurred_at=at(5), profile={"locale": "en"}
    )
    state = journey(first, newer)
    feed(state, older, received_minutes=11)
    assert (state.profile.timezone, state.profile.locale) == ("Asia/Tashkent", "ru")


# -- errors -----------------------------------------------------------------------------------


def test_error_is_recorded_and_the_newest_one_wins() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.error", 10, error="maintenance", service="ocr"))
    assert feed(state, ev("onboarding.error", 5, error="auth_failed"), received_minutes=11) is EventEffect.RECORDED
    assert state.last_error is not None
    assert (state.last_error.kind, state.last_error.service) == (ErrorKind.MAINTENANCE, "ocr")
    feed(state, ev("onboarding.error", 20, error="high_latency"))
    assert state.last_error.kind is ErrorKind.HIGH_LATENCY and state.last_error.service is None


def test_error_from_an_earlier_stage_is_stale_and_progress_clears_the_error() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.error", 5, error="maintenance"))
    feed(state, ev("onboarding.document_uploaded", 10))
    assert state.last_error is None
    assert feed(state, ev("onboarding.error", 7, error="maintenance"), received_minutes=11) is EventEffect.STALE
    assert state.last_error is None


# -- consent ----------------------------------------------------------------------------------


def test_opt_out_stops_a_channel_and_opt_in_restores_it() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("customer.opted_out", 5, channel="push"))
    assert state.allowed_channels == [Channel.SMS]
    assert state.events[-1].detail == "opted_out: push"
    feed(state, ev("customer.opted_in", 10, channel="push"))
    assert state.allowed_channels == [Channel.PUSH, Channel.SMS]


def test_consent_is_ordered_per_channel_by_occurred_at() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("customer.opted_out", 10, channel="all"))
    # An opt-in that happened before the opt-out, arriving late, changes nothing.
    assert feed(state, ev("customer.opted_in", 5, channel="all"), received_minutes=11) is EventEffect.STALE
    assert state.allowed_channels == []
    # A newer opt-in for sms only restores sms; push stays off.
    assert feed(state, ev("customer.opted_in", 15, channel="sms")) is EventEffect.RECORDED
    assert state.allowed_channels == [Channel.SMS]


def test_late_opt_in_for_all_applies_only_to_channels_without_a_newer_change() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("customer.opted_out", 10, channel="push"))
    feed(state, ev("customer.opted_out", 4, channel="sms"), received_minutes=11)
    effect = feed(state, ev("customer.opted_in", 6, channel="all"), received_minutes=12)
    assert effect is EventEffect.RECORDED
    assert state.events[-1].detail == "opted_in: sms"
    assert state.allowed_channels == [Channel.SMS]


# -- tasks ------------------------------------------------------------------------------------


def test_second_rejection_opens_a_repeated_rejection_video_call() -> None:
    state = journey(
        ev("onboarding.phone_verified"),
        ev("onboarding.document_uploaded", 5),
        ev("onboarding.document_rejected", 6, reason="blur"),
    )
    assert state.tasks == []
    feed(state, ev("onboarding.document_uploaded", 10))  # a retry after the rejection moves the journey
    assert state.stage is Stage.DOCUMENT_UPLOADED
    feed(state, ev("onboarding.document_rejected", 11, reason="glare"))
    assert (state.rejections, state.rejection_reasons) == (2, ["blur", "glare"])
    [task] = state.tasks
    assert (task.kind, task.reason, task.stage) == (
        TaskKind.VIDEO_CALL,
        TaskReason.REPEATED_REJECTION,
        Stage.DOCUMENT_REJECTED,
    )
    assert task.detail == "2 rejections: blur, glare"
    assert task.due_at == task.opened_at + timedelta(hours=2)  # the video_call SLA
    assert status_of(state) is JourneyStatus.AWAITING_AGENT


def test_rejected_again_without_an_upload_also_counts() -> None:
    state = journey(
        ev("onboarding.phone_verified"),
        ev("onboarding.document_rejected", 6, reason="blur"),
        ev("onboarding.document_rejected", 9, reason="expired"),
    )
    assert state.rejections == 2 and len(state.tasks) == 1


def test_holdout_customer_gets_no_video_call_but_the_decision_is_recorded() -> None:
    state = journey(
        ev("onboarding.phone_verified"),
        ev("onboarding.document_rejected", 6, reason="blur"),
        ev("onboarding.document_rejected", 9, reason="glare"),
        holdout_share=1.0,
    )
    assert state.in_holdout and state.stage is Stage.DOCUMENT_REJECTED and state.rejections == 2
    assert state.tasks == []
    assert [(d.action.value, d.reason) for d in state.decisions] == [("suppressed", "holdout")]


def test_help_requested_opens_one_task_only_while_it_is_live() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.help_requested", 5))
    [task] = state.tasks
    assert (task.kind, task.reason, task.task_id) == (TaskKind.HELP_REQUEST, TaskReason.HELP_REQUESTED, "c-43:task-1")
    assert task.due_at == at(5) + timedelta(hours=1)  # the help_request SLA
    assert feed(state, ev("onboarding.help_requested", 7)) is EventEffect.RECORDED
    assert len(state.tasks) == 1


def test_one_live_task_at_a_time_per_customer() -> None:
    state, video_call = rejected_twice()
    feed(state, ev("onboarding.help_requested", 12))
    assert state.tasks == [video_call], "the agent already on the case handles the help request"
    assert video_call.detail == "2 rejections: blur, glare; customer asked for help"


def playbook_progress(state: JourneyState) -> tuple[int, datetime | None, bool, bool]:
    """Where the stage's playbook stands: attempts, the last nudge, drop-off detected, escalated."""
    return (
        state.stage_progress.attempts,
        state.stage_progress.last_nudge_at,
        state.stage_progress.drop_off_detected,
        state.stage_progress.escalated,
    )


def test_progress_closes_tasks_of_an_earlier_stage_and_resets_the_playbook() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.help_requested", 5))
    (
        state.stage_progress.attempts,
        state.stage_progress.last_nudge_at,
        state.stage_progress.drop_off_detected,
        state.stage_progress.escalated,
    ) = 2, at(5), True, True
    feed(state, ev("onboarding.document_uploaded", 30))
    [task] = state.tasks
    assert task.state is TaskState.CLOSED and task.note == "customer moved on to document_uploaded"
    assert playbook_progress(state) == (0, None, False, False)
    assert (state.stage_since, state.last_progress_at) == (at(30), at(30))
    assert status_of(state) is JourneyStatus.ACTIVE
    # A new help request after the close opens a new task.
    feed(state, ev("onboarding.help_requested", 40))
    assert [t.task_id for t in state.tasks if t.is_live] == ["c-43:task-2"]


def test_rejection_again_keeps_the_task_of_the_same_stage() -> None:
    state = journey(
        ev("onboarding.phone_verified"),
        ev("onboarding.document_rejected", 6, reason="blur"),
        ev("onboarding.document_rejected", 9, reason="glare"),
        ev("onboarding.document_rejected", 12, reason="glare"),
    )
    [task] = state.tasks
    assert task.is_live


# -- the end ----------------------------------------------------------------------------------


def test_completion_sets_the_outcome_and_closes_live_tasks() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.help_requested", 5))
    sent(state, MessageKind.NUDGE, 1, 70)
    state.drop_off_stages.append(Stage.PHONE_VERIFIED)
    feed(state, ev("onboarding.completed", 90))
    outcome = state.outcome
    assert outcome is not None
    assert (outcome.kind, outcome.stage, outcome.ended_at, outcome.reason) == (
        OutcomeKind.COMPLETED,
        Stage.COMPLETED,
        at(90),
        "onboarding.completed",
    )
    assert (outcome.preceded_by, outcome.assisted, outcome.messages_sent) == ("nudge_1", False, 1)
    assert outcome.drop_off_stages == [Stage.PHONE_VERIFIED]
    assert all(not t.is_live for t in state.tasks)
    assert status_of(state) is JourneyStatus.COMPLETED


def test_event_after_the_end_is_recorded_as_after_end_and_changes_nothing() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.completed", 30))
    assert feed(state, ev("onboarding.help_requested", 40)) is EventEffect.AFTER_END
    assert feed(state, ev("customer.opted_out", 41, channel="all")) is EventEffect.AFTER_END
    assert state.tasks == [] and state.opted_out == set()
    assert state.events[-1].effect is EventEffect.AFTER_END
    assert state.outcome is not None and state.outcome.ended_at == at(30)


# -- agents' outcomes ---------------------------------------------------------------------------


def rejected_twice() -> tuple[JourneyState, HumanTask]:
    state = journey(
        ev("onboarding.phone_verified"),
        ev("onboarding.document_rejected", 6, reason="blur"),
        ev("onboarding.document_rejected", 9, reason="glare"),
    )
    return state, state.tasks[0]


def test_verified_on_call_moves_the_customer_past_the_stuck_step() -> None:
    state, task = rejected_twice()
    state.stage_progress.attempts = 2
    complete(task, TaskOutcome.VERIFIED_ON_CALL, 60)
    apply_task_outcome(state, task, TaskOutcome.VERIFIED_ON_CALL, at(60), CURRENT_RULES)
    assert (state.stage, state.stage_since, state.stage_progress.attempts, state.outcome) == (
        Stage.DOCUMENT_APPROVED,
        at(60),
        0,
        None,
    )


def test_verified_on_call_at_the_last_step_completes_the_journey_as_assisted() -> None:
    state = journey(
        ev("onboarding.phone_verified"), ev("onboarding.biometric_passed", 5), ev("onboarding.help_requested", 70)
    )
    task = state.tasks[0]
    complete(task, TaskOutcome.VERIFIED_ON_CALL, 80)
    apply_task_outcome(state, task, TaskOutcome.VERIFIED_ON_CALL, at(80), CURRENT_RULES)
    assert state.outcome is not None
    assert (state.outcome.kind, state.outcome.reason, state.outcome.assisted) == (
        OutcomeKind.COMPLETED,
        "verified_on_call",
        True,
    )


def test_customer_will_retry_restarts_the_stage_with_a_fresh_window() -> None:
    state, task = rejected_twice()
    state.stage_progress.attempts, state.stage_progress.escalated = 3, True
    complete(task, TaskOutcome.CUSTOMER_WILL_RETRY, 120)
    apply_task_outcome(state, task, TaskOutcome.CUSTOMER_WILL_RETRY, at(120), CURRENT_RULES)
    assert state.stage is Stage.DOCUMENT_REJECTED
    assert (
        state.stage_since,
        state.last_progress_at,
        state.stage_progress.attempts,
        state.stage_progress.escalated,
    ) == (at(120), at(120), 0, False)
    assert state.outcome is None and status_of(state) is JourneyStatus.ACTIVE


def test_activated_in_store_completes_the_journey_credited_to_the_agent() -> None:
    state, task = rejected_twice()
    sent(state, MessageKind.NUDGE, 1, 30)
    complete(task, TaskOutcome.ACTIVATED_IN_STORE, 200)
    apply_task_outcome(state, task, TaskOutcome.ACTIVATED_IN_STORE, at(200), CURRENT_RULES)
    assert state.outcome is not None
    assert (state.outcome.kind, state.outcome.stage, state.outcome.reason) == (
        OutcomeKind.COMPLETED,
        Stage.COMPLETED,
        "activated_in_store",
    )
    assert (state.outcome.assisted, state.outcome.preceded_by) == (True, "human_task")


def test_unreachable_customer_gets_the_store_offer_instead() -> None:
    state, task = rejected_twice()
    complete(task, TaskOutcome.UNREACHABLE, 200)
    apply_task_outcome(state, task, TaskOutcome.UNREACHABLE, at(200), CURRENT_RULES)
    assert state.stage_progress.store_offer_requested
    assert (state.stage, state.outcome) == (Stage.DOCUMENT_REJECTED, None)


# -- what the report credits --------------------------------------------------------------------


def test_preceding_intervention_is_the_last_thing_we_did() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.help_requested", 5))
    assert preceding_intervention(state) == "none"
    sent(state, MessageKind.NUDGE, 1, 60)
    sent(state, MessageKind.NUDGE, 2, 300)
    assert preceding_intervention(state) == "nudge_2"
    sent(state, MessageKind.SMS_STORE_OFFER, 1, 600)
    assert preceding_intervention(state) == "sms_store_offer"
    complete(state.tasks[0], TaskOutcome.CUSTOMER_WILL_RETRY, 700)
    assert preceding_intervention(state) == "human_task"
    sent(state, MessageKind.NUDGE, 1, 800)
    assert preceding_intervention(state) == "nudge_1"


def test_a_task_closed_without_an_agent_is_not_credited() -> None:
    state = journey(ev("onboarding.phone_verified"), ev("onboarding.help_requested", 5))
    sent(state, MessageKind.NUDGE, 1, 60)
    feed(state, ev("onboarding.document_uploaded", 90))  # closes the task
    assert preceding_intervention(state) == "nudge_1"


# -- status for ops -----------------------------------------------------------------------------


def test_status_of_each_state() -> None:
    def pv() -> JourneyState:
        return journey(ev("onboarding.phone_verified"))

    assert status_of(pv()) is JourneyStatus.ACTIVE
    nudging = pv()
    nudging.stage_progress.drop_off_detected = True
    assert status_of(nudging) is JourneyStatus.NUDGING
    escalated = pv()
    escalated.stage_progress.drop_off_detected = escalated.stage_progress.escalated = True
    assert status_of(escalated) is JourneyStatus.ESCALATED
    awaiting = journey(ev("onboarding.phone_verified"), ev("onboarding.help_requested", 5))
    awaiting.stage_progress.escalated = True
    assert status_of(awaiting) is JourneyStatus.AWAITING_AGENT
    opted_out = journey(ev("onboarding.phone_verified"), ev("customer.opted_out", 5, channel="all"))
    assert status_of(opted_out) is JourneyStatus.OPTED_OUT
    push_only_out = journey(ev("onboarding.phone_verified"), ev("customer.opted_out", 5, channel="push"))
    assert status_of(push_only_out) is JourneyStatus.ACTIVE
    assert status_of(journey(ev("onboarding.phone_verified"), ev("onboarding.completed", 5))) is JourneyStatus.COMPLETED
    for kind, status in [
        (OutcomeKind.ABANDONED, JourneyStatus.ABANDONED),
        (OutcomeKind.OPTED_OUT, JourneyStatus.OPTED_OUT),
    ]:
        ended = pv()
        finish(ended, kind, at(48 * 60), reason="no_progress_within_recovery_window")
        assert status_of(ended) is status
        assert ended.outcome is not None and ended.outcome.stage is Stage.PHONE_VERIFIED


def test_unreachable_after_the_window_still_leaves_the_store_offer_time_to_work() -> None:
    playbook = load_playbook()
    late = T0 + timedelta(hours=50)  # the agent reached the task after the 48-hour window
    for gets_a_window, deadline in (
        (True, late + playbook.guardrails.recovery_window),
        (False, T0 + playbook.guardrails.recovery_window),
    ):
        first = OnboardingEvent(
            event_id="u-1", customer_id="c-unreach", type="onboarding.phone_verified", occurred_at=T0
        )
        state = new_journey(first, playbook, T0, holdout_share=0.0, bounds=StateBounds())
        apply_event(state, first, playbook, T0)
        help_event = OnboardingEvent(
            event_id="u-2", customer_id="c-unreach", type="onboarding.help_requested", occurred_at=T0
        )
        apply_event(state, help_event, playbook, T0)
        state.tasks[0].state = TaskState.COMPLETED  # as the workflow does before applying the outcome
        apply_task_outcome(
            state,
            state.tasks[0],
            TaskOutcome.UNREACHABLE,
            late,
            JourneyRules(
                escalate_overdue_tasks=True, progress_guards=True, offer_ends_nudging=gets_a_window, high_intent=True
            ),
        )
        assert state.stage_progress.store_offer_requested
        assert cutoff_of(state, playbook, CURRENT_RULES) == deadline, (
            "journeys from before the change keep their window"
        )


# -- the shape carried across continue-as-new -----------------------------------------------------


def test_a_state_carried_in_the_flat_shape_reads_its_stage_progress() -> None:
    """Journeys continued before the per-stage fields were grouped carry them at the top level."""
    state = journey(ev("onboarding.phone_verified"))
    state.stage_progress = StageProgress(
        attempts=2,
        last_nudge_at=at(300),
        drop_off_detected=True,
        deferred_until=at(900),
        service_retry_at=at(900),
        suppressed_attempt="phone_verified:nudge 3",
    )
    nested = state.model_dump(mode="json")
    flat = {key: value for key, value in nested.items() if key != "stage_progress"} | nested["stage_progress"]
    assert "attempts" in flat and "stage_progress" not in flat
    assert JourneyState.model_validate(flat).model_dump() == state.model_dump()
    assert JourneyState.model_validate_json(json.dumps(flat)).model_dump() == state.model_dump()
    assert JourneyState.model_validate(nested).model_dump() == state.model_dump(), "and the new shape as it is"
    fresh = {key: value for key, value in flat.items() if key not in StageProgress.model_fields}
    assert JourneyState.model_validate(fresh).stage_progress == StageProgress()
