"""The early-life playbook's decision: given what the journey knows and the time, what happens next.

A pure function of state, plan and clock (`next_early_life_step`), like the onboarding journey's
`next_step`, and built from the same guardrail functions (quiet hours, the frequency cap, the
holdout): the workflow only carries the step out, and `recovery simulate` can run the same rules.

- No activity for `dormant_after` (from activation, or the latest `customer.active`) is a dormancy
  drop-off: the first nudge is due at once, the next after the playbook's spacing, then the
  escalation (a retention call, or the SMS store offer). Activity resets the clock.
- The period ending closes the journey: `retained` if the customer was active within `dormant_after`
  of its end, else `dormant`.
"""

from dataclasses import dataclass
from datetime import datetime

from workflows.early_life_input import EarlyLifePlan
from workflows.early_life_state import EarlyLifeOutcomeKind, EarlyLifeState
from workflows.journey_state import MessageKind
from workflows.next_step import (
    Defer,
    DueAction,
    EscalateToAgent,
    NotifyAgents,
    SendMessage,
    Suppress,
    Wait,
    channel_for,
)
from workflows.send_time import earliest_send_time

__all__ = [
    "Defer",
    "EndEarlyLife",
    "EscalateToAgent",
    "NotifyAgents",
    "SendMessage",
    "Suppress",
    "Wait",
    "dormancy_due_at",
    "dormancy_starts",
    "is_dormant",
    "next_early_life_step",
    "outcome_at_period_end",
]


@dataclass(frozen=True)
class EndEarlyLife:
    kind: EarlyLifeOutcomeKind
    reason: str


EarlyLifeStep = Wait | EndEarlyLife | NotifyAgents | Defer | Suppress | SendMessage | EscalateToAgent


def dormancy_due_at(state: EarlyLifeState, plan: EarlyLifePlan) -> datetime:
    """When the customer counts as dormant if nothing happens before."""
    return state.quiet_since + plan.dormant_after


def is_dormant(state: EarlyLifeState, plan: EarlyLifePlan, now: datetime) -> bool:
    return now >= dormancy_due_at(state, plan)


def dormancy_starts(state: EarlyLifeState, plan: EarlyLifePlan, now: datetime) -> datetime | None:
    """When a dormancy drop-off begins, the first time the workflow sees it (then record it); else None."""
    if state.outcome is not None or state.dormant_since is not None or now >= state.period_ends_at:
        return None
    return dormancy_due_at(state, plan) if is_dormant(state, plan, now) else None


def outcome_at_period_end(state: EarlyLifeState, plan: EarlyLifePlan) -> EarlyLifeOutcomeKind:
    """Retained: active within `dormant_after` of the period's end; otherwise dormant."""
    if is_dormant(state, plan, state.period_ends_at):
        return EarlyLifeOutcomeKind.DORMANT
    return EarlyLifeOutcomeKind.RETAINED


def next_early_life_step(state: EarlyLifeState, plan: EarlyLifePlan, now: datetime) -> EarlyLifeStep:
    period_end = state.period_ends_at
    if now >= period_end:
        return EndEarlyLife(outcome_at_period_end(state, plan), "period_ended")
    task = state.live_task
    if task is not None and not task.notified:
        return NotifyAgents(task.task_id)
    if task is not None:
        return Wait(period_end, "agent works the retention call")
    if state.dormant_since is None:
        return Wait(min(dormancy_due_at(state, plan), period_end), "dormancy check")
    due = _due_action(state, plan)
    if due is None:
        return Wait(period_end, "end of the period")
    if now < due.at:
        return Wait(min(due.at, period_end), due.what)
    channels = state.allowed_channels
    if not channels:
        key = f"{state.dormancies}:{due.what}"
        if state.suppressed_key != key:
            return Suppress(due.what, "opted_out", key)
        return Wait(period_end, f"{due.what} once the customer allows a channel")
    if due.kind is None:
        assert due.task_kind is not None
        return EscalateToAgent(due.task_kind, hold_back=state.in_holdout)
    channel, fallback = channel_for(due.kind, channels)
    send = earliest_send_time(due.at, state.message_times, plan, state.timezone or plan.default_timezone)
    if send.at > now:
        if state.deferred_until != send.at:
            return Defer(send.at, send.deferred_by or "frequency_cap", due.what)
        return Wait(min(send.at, period_end), due.what)
    return SendMessage(
        due.kind, due.attempt, channel, fallback=fallback, check_service=None, hold_back=state.in_holdout
    )


def _due_action(state: EarlyLifeState, plan: EarlyLifePlan) -> DueAction | None:
    assert state.dormant_since is not None
    if state.attempts < plan.nudges:
        attempt = state.attempts + 1
        if attempt == 1 or state.last_nudge_at is None:
            at = state.dormant_since
        else:
            at = state.last_nudge_at + plan.nudge_spacing[attempt - 2]
        return DueAction(f"nudge {attempt}", at, MessageKind.NUDGE, attempt)
    escalation = plan.escalation
    if escalation is None or state.escalated:
        return None
    at = state.dormant_since if state.last_nudge_at is None else state.last_nudge_at + escalation.after
    if escalation.kind == "human_task":
        return DueAction(f"retention call ({escalation.task_kind.value})", at, None, task_kind=escalation.task_kind)
    return DueAction("sms store offer", at, MessageKind.SMS_STORE_OFFER, attempt=plan.nudges + 1)


def _locales(preferred: str | None, default: str) -> list[str]:
    """'uz-latn' tries 'uz-latn', then 'uz', then the playbook's default locale (as onboarding's copy)."""
    return [*([preferred, preferred.split("-")[0]] if preferred else []), default]


def nudge_text(state: EarlyLifeState, plan: EarlyLifePlan, attempt: int) -> str:
    """The customer's language first; within it the attempt's own words, else the default."""
    for locale in _locales(state.locale, plan.default_locale):
        texts = plan.copy_by_locale.get(locale, {})
        for key in (f"nudge_{attempt}", "default"):
            if key in texts:
                return texts[key]
    raise LookupError("no early-life copy")  # the playbook validator guarantees a default when it nudges


def offer_text(state: EarlyLifeState, plan: EarlyLifePlan, store_name: str, store_address: str) -> str:
    for locale in _locales(state.locale, plan.default_locale):
        if locale in plan.offer_copy:
            return plan.offer_copy[locale].format(store_name=store_name, store_address=store_address)
    raise LookupError("no early-life offer copy")
