"""How a journey workflow waits between decisions: one timer until the next due moment, an event that
changes something, or a history long enough to roll over (continue-as-new). Both journey types
(onboarding, early life) wait this way; what differs is asked of the journey type: its clock, its
history limit, and whether it keeps its timer across wake-ups (bounded onboarding journeys do).
"""

from datetime import datetime, timedelta

from temporalio import workflow


class NewsWait:
    _changed: bool

    # -- what the journey type provides ---------------------------------------------------------

    def _clock(self) -> datetime:
        raise NotImplementedError

    def _history_limit(self) -> int:
        raise NotImplementedError

    def _keeps_timer(self) -> bool:
        return False

    async def _wait_on_kept_timer(self, until: datetime, timeout: timedelta) -> str:
        raise NotImplementedError

    # -- the wait -------------------------------------------------------------------------------

    async def _wait_for_news(self, until: datetime) -> str:
        """Sleeps on one timer until `until`, an event that changes something, or a history to roll over."""
        timeout = until - self._clock()
        if timeout <= timedelta(0) or self._changed:
            return "changed" if self._changed else "due"
        if self._keeps_timer():
            return await self._wait_on_kept_timer(until, timeout)
        try:
            await workflow.wait_condition(lambda: self._changed or self._history_is_long(), timeout=timeout)
        except TimeoutError:
            return "due"
        return "continue_as_new" if not self._changed and self._history_is_long() else "changed"

    def _history_is_long(self) -> bool:
        self._clock()  # the onboarding journey checks its clock in every activation that may wake the wait
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= self._history_limit()
