"""The frequency cap: at most N messages in any rolling window, and a minimum gap between two."""

from collections.abc import Sequence
from datetime import datetime

from workflows.playbook import FrequencyCap


def earliest_under_cap(at: datetime, sent_at: Sequence[datetime], cap: FrequencyCap) -> datetime:
    """The first moment at or after `at` when one more message keeps within the cap."""
    candidate = at
    if sent_at:
        candidate = max(candidate, max(sent_at) + cap.min_gap)
    while True:
        in_window = sorted(t for t in sent_at if candidate - cap.window < t <= candidate)
        if len(in_window) < cap.max_messages:
            return candidate
        # The oldest message in the window has to age out first.
        candidate = in_window[len(in_window) - cap.max_messages] + cap.window
