"""When a message that is due may actually go out: the frequency cap and quiet hours together."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from workflows.frequency_cap import earliest_under_cap
from workflows.playbook import FrequencyCap, QuietHours
from workflows.quiet_hours import quiet_hours_end


@dataclass(frozen=True)
class SendTime:
    at: datetime
    deferred_by: str | None  # "quiet_hours" or "frequency_cap" when `at` is later than due


class SendLimits(Protocol):
    """What bounds a send: the onboarding playbook's guardrails, or an early-life plan (whose cap may be off)."""

    @property
    def frequency_cap(self) -> FrequencyCap | None: ...

    @property
    def quiet_hours(self) -> QuietHours | None: ...


def earliest_send_time(due: datetime, sent_at: Sequence[datetime], limits: SendLimits, tz_name: str) -> SendTime:
    """The first moment at or after `due` within the frequency cap (if any) and outside quiet hours."""
    candidate, reason = due, None
    while True:
        if limits.frequency_cap is not None:
            capped = earliest_under_cap(candidate, sent_at, limits.frequency_cap)
            if capped > candidate:
                candidate, reason = capped, reason or "frequency_cap"
        quiet_end = quiet_hours_end(candidate, tz_name, limits.quiet_hours)
        if quiet_end is None:
            return SendTime(candidate, reason)
        candidate, reason = quiet_end, reason or "quiet_hours"
