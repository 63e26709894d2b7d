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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from workflows.early_life_input import EarlyLifePlan
from workflows.early_life_state import EarlyLifeOutcomeKind, EarlyLifeState
from workflows.frequency_cap import earliest_under_cap
from workflows.funnel import Channel
from workflows.journey_state import MessageKind
from workflows.next_step import Defer, EscalateToAgent, NotifyAgents, SendMessage, Suppress, Wait
from workflows.playbook import TaskKind
from workflows.quiet_hours import quiet_hours_end
from workflows.send_time import SendTime

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
    "send_time",
]


@dataclass(frozen=True)
class EndEarlyLife:
    kind: EarlyLifeOutcomeKind
    reason: str


EarlyLifeStep = Wait | EndEarlyLife | NotifyAgents | Defer | Suppress | SendMessage | EscalateToAgent


@dataclass(frozen=True)
class _Due:
    what: str
    at: datetime
    kind: MessageKind | None  # None: a human task
    attempt: int = 0
    task_kind: TaskKind | None = None


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


def send_time(due: datetime, sent_at: Sequence[datetime], plan: EarlyLifePlan, tz_name: str) -> SendTime:
    """The first moment at or after `due` within the frequency cap and outside quiet hours."""
    candidate, reason = due, None
    while True:
        if plan.frequency_cap is not None:
            capped = earliest_under_cap(candidate, sent_at, plan.frequency_cap)
            if capped > candidate:
                candidate, reason = capped, reason or "frequency_cap"
        quiet_end = quiet_hours_end(candidate, tz_name, plan.quiet_hours)
        if quiet_end is None:
            return SendTime(candidate, reason)
        candidate, reason = quiet_end, reason or "quiet_hours"


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
    primary = Channel.PUSH if due.kind is MessageKind.NUDGE else Channel.SMS
    channel = primary if primary in channels else channels[0]
    send = send_time(due.at, state.message_times, plan, state.timezone or plan.default_timezone)
    if send.at > now:
        if state.deferred_until != send.at:
            return Defer(send.at, send.deferred_by or "frequency_cap", due.what)
        return Wait(min(send.at, period_end), due.what)
    return SendMessage(
        due.kind, due.attempt, channel, fallback=channel is not primary, check_service=None, hold_back=state.in_holdout
    )


def _due_action(state: EarlyLifeState, plan: EarlyLifePlan) -> _Due | None:
    assert state.dormant_since is not None
    if state.attempts < plan.nudges:
        attempt = state.attempts + 1
        if attempt == 1 or state.last_nudge_at is None:
            at = state.dormant_since
        else:
            at = state.last_nudge_at + plan.nudge_spacing[attempt - 2]
        return _Due(f"nudge {attempt}", at, MessageKind.NUDGE, attempt)
    escalation = plan.escalation
    if escalation is None or state.escalated:
        return None
    at = state.dormant_since if state.last_nudge_at is None else state.last_nudge_at + escalation.after
    if escalation.kind == "human_task":
        return _Due(f"retention call ({escalation.task_kind.value})", at, None, task_kind=escalation.task_kind)
    return _Due("sms store offer", at, MessageKind.SMS_STORE_OFFER, attempt=plan.nudges + 1)


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
