"""How long, in a unit that fits: the report keeps hours; a person reads seconds, minutes, hours or days.

A demo cohort completes in seconds and a real one in hours or days: "0.00 h" says nothing, "9.8 s" does.
"""


def readable_hours(hours: float | None) -> str:
    """'-' for none; under a minute in s, under an hour in min, under two days in h, then in d."""
    if hours is None:
        return "-"
    seconds = round(hours * 3600, 1)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if round(seconds / 60, 1) < 60:
        return f"{seconds / 60:.1f} min"
    if round(hours, 1) < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} d"
