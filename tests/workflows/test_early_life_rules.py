"""The early-life rules without a server: dormancy, its nudges and escalation, guardrails, activity, the end."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from workflows.early_life_input import EarlyLifeInput, plan_of
from workflows.early_life_records import (
    apply_early_life_event,
    early_task_id,
    new_early_life,
    record_dormant,
    record_escalation,
    record_message,
)
from workflows.early_life_rules import (
    Defer,
    EndEarlyLife,
    EscalateToAgent,
    NotifyAgents,
    SendMessage,
    Suppress,
    Wait,
    dormancy_starts,
    next_early_life_step,
    nudge_text,
    offer_text,
)
from workflows.early_life_state import EarlyLifeOutcomeKind, EarlyLifeState, early_life_group, status_of
from workflows.events import OnboardingEvent
from workflows.funnel import Channel
from workflows.holdout import RecoveryGroup, recovery_group
from workflows.journey_state import MessageKind
from workflows.playbook import Escalation, Playbook, TaskKind, load_playbook

PLAYBOOK = load_playbook().model_copy(update={"holdout_share": 0.0})
PLAN = plan_of(PLAYBOOK)
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # 10:00 UTC: outside the default quiet hours
D = timedelta(days=1)


def fresh(**update: object) -> EarlyLifeState:
    state = new_early_life(EarlyLifeInput(customer_id="c-1", plan=PLAN, activated_at=T0, timezone="UTC"), T0)
    return state.model_copy(update=update)


def event(event_type: str, at: datetime, event_id: str = "a1", **attributes: str) -> OnboardingEvent:
    return OnboardingEvent(event_id=event_id, customer_id="c-1", type=event_type, occurred_at=at, attributes=attributes)


def dormant(state: EarlyLifeState, now: datetime) -> EarlyLifeState:
    since = dormancy_starts(state, PLAN, now)
    assert since is not None
    record_dormant(state, since, now)
    return state


def test_the_plan_takes_the_playbooks_guardrails_and_the_sections_own_settings() -> None:
    assert (PLAN.period, PLAN.dormant_after, PLAN.nudges) == (30 * D, 7 * D, 2)
    assert PLAN.quiet_hours == PLAYBOOK.guardrails.quiet_hours
    assert PLAN.frequency_cap == PLAYBOOK.guardrails.frequency_cap
    assert PLAN.holdout_share == 0.0 and PLAN.task_sla == PLAYBOOK.human_tasks[TaskKind.RETENTION_CALL].sla


def test_an_active_customer_is_watched_until_dormant_after() -> None:
    state = fresh()
    assert next_early_life_step(state, PLAN, T0 + D) == Wait(T0 + 7 * D, "dormancy check")
    assert dormancy_starts(state, PLAN, T0 + 7 * D - timedelta(seconds=1)) is None
    assert dormancy_starts(state, PLAN, T0 + 7 * D) == T0 + 7 * D
    assert status_of(state).value == "watching"


def test_dormancy_sends_the_nudges_then_opens_the_retention_call() -> None:
    state = dormant(fresh(), T0 + 7 * D)
    assert status_of(state).value == "nudging"
    step = next_early_life_step(state, PLAN, T0 + 7 * D)
    assert step == SendMessage(MessageKind.NUDGE, 1, Channel.PUSH, fallback=False, check_service=None)
    record_message(state, step, "m1", T0 + 7 * D)
    assert next_early_life_step(state, PLAN, T0 + 8 * D) == Wait(T0 + 9 * D, "nudge 2")
    step = next_early_life_step(state, PLAN, T0 + 9 * D)
    assert isinstance(step, SendMessage) and step.attempt == 2
    record_message(state, step, "m2", T0 + 9 * D)
    assert next_early_life_step(state, PLAN, T0 + 11 * D) == EscalateToAgent(TaskKind.RETENTION_CALL)
    record_escalation(state, EscalateToAgent(TaskKind.RETENTION_CALL), PLAN.task_sla, T0 + 11 * D)
    assert next_early_life_step(state, PLAN, T0 + 11 * D) == NotifyAgents(early_task_id("c-1", 1))
    assert status_of(state).value == "awaiting_agent" and state.nudges == 2


def test_activity_resets_the_clock_and_after_a_nudge_counts_as_re_engagement() -> None:
    state = fresh()
    assert apply_early_life_event(state, event("customer.active", T0 + 5 * D, kind="transaction"), T0 + 5 * D)
    assert dormancy_starts(state, PLAN, T0 + 8 * D) is None, "active on day 5: dormant from day 12"
    assert next_early_life_step(state, PLAN, T0 + 8 * D) == Wait(T0 + 12 * D, "dormancy check")
    dormant(state, T0 + 12 * D)
    record_message(state, next_early_life_step(state, PLAN, T0 + 12 * D), "m1", T0 + 12 * D)  # type: ignore[arg-type]
    apply_early_life_event(state, event("customer.active", T0 + 13 * D, "a2", kind="top_up"), T0 + 13 * D)
    assert state.re_engaged_at == T0 + 13 * D and state.dormant_since is None and state.attempts == 0
    assert status_of(state).value == "watching" and state.last_activity_kind == "top_up"


def test_activity_before_any_message_is_no_re_engagement_and_duplicates_leave_no_trace() -> None:
    state = fresh()
    first = event("customer.active", T0 + D)
    assert apply_early_life_event(state, first, T0 + D) == "activity"
    assert apply_early_life_event(state, first, T0 + D) is None
    assert state.activity_events == 1 and state.re_engaged_at is None


def test_the_period_ends_retained_or_dormant() -> None:
    active_late = fresh(quiet_since=T0 + 25 * D)
    assert next_early_life_step(active_late, PLAN, T0 + 30 * D) == EndEarlyLife(
        EarlyLifeOutcomeKind.RETAINED, "period_ended"
    )
    quiet = fresh(quiet_since=T0 + 20 * D)
    assert next_early_life_step(quiet, PLAN, T0 + 30 * D) == EndEarlyLife(EarlyLifeOutcomeKind.DORMANT, "period_ended")


def test_quiet_hours_and_the_frequency_cap_defer_a_nudge() -> None:
    now = T0 + 7 * D + timedelta(hours=12)  # 03:00 in Tashkent
    state = dormant(fresh(timezone="Asia/Tashkent", quiet_since=T0 + timedelta(hours=12)), now)
    step = next_early_life_step(state, PLAN, now)
    assert isinstance(step, Defer) and step.reason == "quiet_hours"
    capped = dormant(fresh(message_times=[T0 + 7 * D - timedelta(hours=1)]), T0 + 7 * D)
    step = next_early_life_step(capped, PLAN, T0 + 7 * D)
    assert isinstance(step, Defer) and step.reason == "frequency_cap" and step.until == T0 + 7 * D + timedelta(hours=2)


def test_opt_outs_move_the_nudge_to_sms_then_suppress_it() -> None:
    state = dormant(fresh(), T0 + 7 * D)
    apply_early_life_event(state, event("customer.opted_out", T0 + 7 * D, "o1", channel="push"), T0 + 7 * D)
    step = next_early_life_step(state, PLAN, T0 + 7 * D)
    assert isinstance(step, SendMessage) and (step.channel, step.fallback) == (Channel.SMS, True)
    apply_early_life_event(state, event("customer.opted_out", T0 + 7 * D, "o2", channel="all"), T0 + 7 * D)
    assert isinstance(next_early_life_step(state, PLAN, T0 + 7 * D), Suppress)
    assert status_of(state).value == "opted_out"


def test_the_holdout_is_its_own_draw_and_holds_everything_back() -> None:
    ids = [f"c-{n}" for n in range(4000)]
    early = {c for c in ids if early_life_group(c, 0.5) is RecoveryGroup.HOLDOUT}
    onboarding = {c for c in ids if recovery_group(c, 0.5) is RecoveryGroup.HOLDOUT}
    assert 0.45 < len(early) / len(ids) < 0.55 and early != onboarding
    state = dormant(fresh(group=RecoveryGroup.HOLDOUT), T0 + 7 * D)
    step = next_early_life_step(state, PLAN, T0 + 7 * D)
    assert isinstance(step, SendMessage) and step.hold_back
    record_message(state, step, "m1", T0 + 7 * D)
    assert state.messages_sent == 0 and state.nudges == 1 and state.message_times == []


def test_an_offer_playbook_sends_the_sms_store_offer_after_the_nudges() -> None:
    plan = PLAN.model_copy(update={"escalation": Escalation(kind="sms_store_offer", after=D)})
    state = dormant(fresh(), T0 + 7 * D)
    state.attempts, state.last_nudge_at = 2, T0 + 9 * D
    step = next_early_life_step(state, plan, T0 + 10 * D)
    assert isinstance(step, SendMessage) and (step.kind, step.channel) == (MessageKind.SMS_STORE_OFFER, Channel.SMS)


def test_copy_in_the_customers_language_with_english_as_fallback() -> None:
    assert "miss you" in nudge_text(fresh(locale="fr"), PLAN, 1)
    assert nudge_text(fresh(locale="ru"), PLAN, 1).startswith("Мы скучаем")
    assert nudge_text(fresh(locale="uz-latn"), PLAN, 2).startswith("Yordam kerakmi")
    assert "Chilonzor" in offer_text(fresh(locale="uz"), PLAN, "Store 1", "Chilonzor 5")


def test_the_playbook_refuses_an_early_life_section_it_cannot_run() -> None:
    raw = PLAYBOOK.model_dump(by_alias=True, exclude={"version"})
    no_copy = {**raw, "early_life": {**raw["early_life"], "copy": {"ru": {"default": "..."}}}}
    with pytest.raises(ValidationError, match=r"early_life.copy.en.default is missing"):
        Playbook.model_validate(no_copy)
    tasks = {k: v for k, v in raw["human_tasks"].items() if k != "retention_call"}
    with pytest.raises(ValidationError, match=r"early_life.escalation names task kind retention_call"):
        Playbook.model_validate({**raw, "human_tasks": tasks})
    with pytest.raises(ValidationError, match=r"dormant_after must be shorter than the period"):
        Playbook.model_validate({**raw, "early_life": {**raw["early_life"], "dormant_after": "31d"}})
    minimal = Playbook.model_validate({**raw, "early_life": {}, "human_tasks": tasks})
    assert (minimal.early_life.nudges, minimal.early_life.escalation) == (0, None), "watch only, by default"
