"""The live tasks behind every agent's inbox, fetched once for all agents at most every few seconds.

Each fetch is a visibility query plus one journey query per live task, and Temporal counts each
query; without sharing, every open inbox would pay that on each of its refreshes.
"""

import asyncio
import time

from starters.client import RecoveryClient, TaskSummary


class TaskFeed:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._tasks: list[TaskSummary] = []
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def live_tasks(self, recovery: RecoveryClient) -> list[TaskSummary]:
        async with self._lock:  # agents refreshing together share one fetch
            fresh = self._fetched_at is not None and time.monotonic() - self._fetched_at < self.ttl_seconds
            if not fresh:
                self._tasks = await recovery.list_tasks(("open", "claimed"))
                self._fetched_at = time.monotonic()
            return self._tasks

    def invalidate(self) -> None:
        """After an agent's action, so their next inbox shows it (as far as visibility has caught up)."""
        self._fetched_at = None
