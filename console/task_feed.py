"""The live tasks behind every agent's inbox, read from the journal once for all agents at most every
few seconds, with the agents' own actions laid over it.

The listing is one journal read (no Temporal query: each one is billed). The journal lags a journey
by a moment: a claim, release or completion is written when the journey next wakes up (usually
within a second; longer when workers are busy). So the result each action's Update returned is kept
here and wins over the journal's row until the journal says the same (or OWN_ACTION_SECONDS pass):
an agent never sees their own action undone.
"""

import asyncio
import time

from console.journeys import Journeys
from journal.tasks import TaskSummary
from workflows.human_tasks import HumanTask

OWN_ACTION_SECONDS = 300.0  # far longer than a journey takes to write a decision, even on a loaded worker


class TaskFeed:
    def __init__(self, ttl_seconds: float, own_action_seconds: float = OWN_ACTION_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds
        self.own_action_seconds = own_action_seconds
        self._tasks: list[TaskSummary] = []
        self._fetched_at: float | None = None
        self._acted: dict[str, tuple[float, HumanTask]] = {}
        self._lock = asyncio.Lock()

    async def live_tasks(self, recovery: Journeys) -> list[TaskSummary]:
        async with self._lock:  # agents refreshing together share one fetch
            fresh = self._fetched_at is not None and time.monotonic() - self._fetched_at < self.ttl_seconds
            if not fresh:
                self._tasks = await recovery.list_tasks(("open", "claimed"))
                self._fetched_at = time.monotonic()
            return self._with_actions(self._tasks)

    def record(self, task: HumanTask) -> None:
        """An action's result as the journey answered it (the Update's result): shown until the journal catches up."""
        self._acted[task.task_id] = (time.monotonic(), task)

    def invalidate(self) -> None:
        """After an agent's action, so the next inbox reads the journal again."""
        self._fetched_at = None

    def _with_actions(self, listed: list[TaskSummary]) -> list[TaskSummary]:
        now = time.monotonic()
        self._acted = {k: (at, t) for k, (at, t) in self._acted.items() if now - at < self.own_action_seconds}
        shown = []
        for summary in listed:
            acted = self._acted.get(summary.task.task_id)
            if acted is not None:
                task = acted[1]
                if (summary.task.state, summary.task.claimed_by) == (task.state, task.claimed_by):
                    del self._acted[task.task_id]  # the journal has it now
                elif not task.is_live:
                    continue  # completed: off the inbox, whatever the journal still says
                else:
                    summary = summary.model_copy(update={"task": task})
            shown.append(summary)
        return shown
