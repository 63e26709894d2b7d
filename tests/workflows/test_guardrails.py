"""No bombarding: quiet hours in the customer's own time zone, the frequency cap, and both together."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows.frequency_cap import earliest_under_cap
from workflows.playbook import FrequencyCap, QuietHours, load_playbook
from workflows.quiet_hours import quiet_hours_end
from workflows.send_time import earliest_send_time

UTC = UTC
NIGHT = QuietHours(start=time(21), end=time(9))
TASHKENT = ZoneInfo("Asia/Tashkent")  # UTC+5, no DST
BERLIN = ZoneInfo("Europe/Berlin")
CAP = FrequencyCap(max_messages=2, window=timedelta(hours=24), min_gap=timedelta(hours=3))
GUARDRAILS = load_playbook().guardrails  # 21:00-09:00, at most 2 in 24 h, 3 h apart


def utc(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def local(tz: ZoneInfo, day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=tz)


# -- quiet hours ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "ends"),
    [
        (utc(23, 22), utc(24, 9)),  # evening: quiet until tomorrow morning
        (utc(23, 21), utc(24, 9)),  # the start is quiet
        (utc(24, 3), utc(24, 9)),  # after midnight: quiet until this morning
        (utc(24, 8, 59), utc(24, 9)),
        (utc(23, 9), None),  # the end is not quiet
        (utc(23, 12), None),
        (utc(23, 20, 59), None),
    ],
)
def test_quiet_hours_wrapping_midnight(at: datetime, ends: datetime | None) -> None:
    assert quiet_hours_end(at, "UTC", NIGHT) == ends


@pytest.mark.parametrize(
    ("at", "ends"),
    [
        (local(TASHKENT, 23, 22), local(TASHKENT, 24, 9)),  # 17:00 UTC: night in Tashkent
        (local(TASHKENT, 24, 6), local(TASHKENT, 24, 9)),  # 01:00 UTC
        (local(TASHKENT, 23, 10), None),  # 05:00 UTC: daytime in Tashkent
        (local(TASHKENT, 23, 20), None),  # 15:00 UTC
    ],
)
def test_quiet_hours_are_in_the_customers_zone(at: datetime, ends: datetime | None) -> None:
    result = quiet_hours_end(at.astimezone(UTC), "Asia/Tashkent", NIGHT)
    assert result == ends
    if result is not None:
        assert result.utcoffset() == timedelta(0)
        assert result.astimezone(TASHKENT).hour == 9


def test_utc_daytime_can_be_night_for_the_customer() -> None:
    at = utc(23, 18)  # 18:00 UTC is 23:00 in Tashkent
    assert quiet_hours_end(at, "UTC", NIGHT) is None
    assert quiet_hours_end(at, "Asia/Tashkent", NIGHT) == utc(24, 4)


@pytest.mark.parametrize(
    ("at", "ends_utc"),
    [
        # Spring forward (2026-03-29 02:00 CET -> 03:00 CEST): 09:00 local next morning is 07:00 UTC.
        (local(BERLIN, 28, 22, month=3), utc(29, 7, month=3)),
        # Fall back (2026-10-25 03:00 CEST -> 02:00 CET): 09:00 local next morning is 08:00 UTC.
        (local(BERLIN, 24, 22, month=10), utc(25, 8, month=10)),
        (local(BERLIN, 25, 2, 30, month=10), utc(25, 8, month=10)),  # inside the repeated hour
    ],
)
def test_quiet_hours_across_a_dst_change_end_at_local_nine(at: datetime, ends_utc: datetime) -> None:
    result = quiet_hours_end(at.astimezone(UTC), "Europe/Berlin", NIGHT)
    assert result == ends_utc
    assert result is not None and result.astimezone(BERLIN).time() == time(9)


def test_quiet_hours_not_wrapping_midnight() -> None:
    siesta = QuietHours(start=time(13), end=time(15))
    assert quiet_hours_end(utc(23, 14), "UTC", siesta) == utc(23, 15)
    assert quiet_hours_end(utc(23, 15), "UTC", siesta) is None
    assert quiet_hours_end(utc(23, 23), "UTC", siesta) is None


@pytest.mark.parametrize("quiet", [None, QuietHours(start=time(9), end=time(9))])
def test_no_quiet_hours_never_defers(quiet: QuietHours | None) -> None:
    assert all(quiet_hours_end(utc(23, h), "UTC", quiet) is None for h in range(24))


# -- frequency cap ----------------------------------------------------------------------------


def test_first_message_is_never_capped() -> None:
    assert earliest_under_cap(utc(23, 10), [], CAP) == utc(23, 10)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(23, 11), utc(23, 13)),
        (utc(23, 12, 59), utc(23, 13)),
        (utc(23, 13), utc(23, 13)),
        (utc(23, 16), utc(23, 16)),
    ],
)
def test_min_gap_between_two_messages(at: datetime, expected: datetime) -> None:
    assert earliest_under_cap(at, [utc(23, 10)], CAP) == expected


def test_at_most_n_in_a_rolling_window() -> None:
    sent = [utc(23, 10), utc(23, 14)]
    # A third message waits until the first is 24 h old.
    assert earliest_under_cap(utc(23, 18), sent, CAP) == utc(24, 10)
    assert earliest_under_cap(utc(24, 11), sent, CAP) == utc(24, 11)


def test_window_counts_only_recent_messages() -> None:
    sent = [utc(20, 10), utc(20, 14), utc(23, 8)]
    assert earliest_under_cap(utc(23, 12), sent, CAP) == utc(23, 12)


def test_cap_of_one_per_day() -> None:
    one_a_day = FrequencyCap(max_messages=1, window=timedelta(hours=24), min_gap=timedelta(hours=1))
    assert earliest_under_cap(utc(23, 12), [utc(23, 10)], one_a_day) == utc(24, 10)


# -- both together ----------------------------------------------------------------------------


def test_due_in_daytime_with_nothing_sent_goes_at_once() -> None:
    send = earliest_send_time(local(TASHKENT, 23, 12), [], GUARDRAILS, "Asia/Tashkent")
    assert (send.at, send.deferred_by) == (local(TASHKENT, 23, 12), None)


def test_due_at_night_goes_at_local_nine() -> None:
    send = earliest_send_time(local(TASHKENT, 23, 23), [], GUARDRAILS, "Asia/Tashkent")
    assert (send.at, send.deferred_by) == (local(TASHKENT, 24, 9), "quiet_hours")


def test_cap_pushing_into_quiet_hours_sends_at_local_nine() -> None:
    # Due 20:00 local, last message 19:30: the 3 h gap lands at 22:30, in quiet hours.
    send = earliest_send_time(local(TASHKENT, 23, 20), [local(TASHKENT, 23, 19, 30)], GUARDRAILS, "Asia/Tashkent")
    assert send.at == local(TASHKENT, 24, 9)
    assert send.deferred_by == "frequency_cap"


def test_after_quiet_hours_the_cap_is_checked_again() -> None:
    # Two messages yesterday (10:00 and 19:30): at 09:00 both are still in the 24 h window, so 10:00.
    sent = [local(TASHKENT, 23, 10), local(TASHKENT, 23, 19, 30)]
    send = earliest_send_time(local(TASHKENT, 23, 20), sent, GUARDRAILS, "Asia/Tashkent")
    assert send.at == local(TASHKENT, 24, 10)
    assert send.deferred_by == "frequency_cap"


def test_send_time_never_in_quiet_hours_nor_over_the_cap() -> None:
    """Every due moment of a day, with a typical history: the result keeps every rule."""
    sent = [local(TASHKENT, 23, 9, 30), local(TASHKENT, 23, 14)]
    for minutes in range(0, 48 * 60, 20):
        due = local(TASHKENT, 23, 0) + timedelta(minutes=minutes)
        at = earliest_send_time(due, sent, GUARDRAILS, "Asia/Tashkent").at
        hour = at.astimezone(TASHKENT).time()
        assert at >= due
        assert time(9) <= hour < time(21), (due, at)
        assert at - max(sent) >= timedelta(hours=3)
        assert sum(1 for t in sent if at - timedelta(hours=24) < t) < 2
