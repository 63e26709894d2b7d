"""Quiet hours: no message while it is night for the customer, in their own time zone."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from workflows.playbook import QuietHours


def quiet_hours_end(at: datetime, tz_name: str, quiet: QuietHours | None) -> datetime | None:
    """When `at` falls in quiet hours, the UTC moment they end (the deferred send time); else None."""
    if quiet is None or quiet.start == quiet.end:
        return None
    tz = ZoneInfo(tz_name)
    local = at.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    wraps_midnight = quiet.start > quiet.end
    if wraps_midnight:
        in_quiet = clock >= quiet.start or clock < quiet.end
    else:
        in_quiet = quiet.start <= clock < quiet.end
    if not in_quiet:
        return None
    end_day = local.date()
    if wraps_midnight and clock >= quiet.start:
        end_day += timedelta(days=1)
    end_local = datetime.combine(end_day, quiet.end, tzinfo=tz)
    return end_local.astimezone(UTC)
