"""When a message that is due may actually go out: the frequency cap and quiet hours together."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from workflows.frequency_cap import earliest_under_cap
from workflows.playbook import Guardrails
from workflows.quiet_hours import quiet_hours_end


@dataclass(frozen=True)
class SendTime:
    at: datetime
    deferred_by: str | None  # "quiet_hours" or "frequency_cap" when `at` is later than due


def earliest_send_time(due: datetime, sent_at: Sequence[datetime], guardrails: Guardrails, tz_name: str) -> SendTime:
    candidate, reason = due, None
    while True:
        capped = earliest_under_cap(candidate, sent_at, guardrails.frequency_cap)
        if capped > candidate:
            candidate, reason = capped, reason or "frequency_cap"
        quiet_end = quiet_hours_end(candidate, tz_name, guardrails.quiet_hours)
        if quiet_end is None:
            return SendTime(candidate, reason)
        candidate, reason = quiet_end, reason or "quiet_hours"
