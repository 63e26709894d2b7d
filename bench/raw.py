"""The raw-Temporal baseline: the least a workflow can do for what a journey does, on the same server
with the same data converter. Run as its own worker process: `python -m bench.raw <address> <task queue>`.

- RawNudge: sleeps on one timer until a due time, then runs one activity, which returns its start time.
- RawInbox: takes events as signals (signal-with-start), and otherwise waits.
"""

import asyncio
import signal
import sys
import time
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn
async def raw_nudge(due: float) -> float:
    return time.time()


@workflow.defn
class RawNudge:
    @workflow.run
    async def run(self, due: float) -> float:
        wait = due - workflow.now().timestamp()
        if wait > 0:
            await workflow.sleep(wait)
        return await workflow.execute_activity(raw_nudge, due, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class RawInbox:
    @workflow.init
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.done = False

    @workflow.signal
    def record(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    @workflow.signal
    def stop(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return len(self.events)


async def main(address: str, task_queue: str) -> None:
    from bench.stack import converter

    client = await Client.connect(address, data_converter=converter())
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=[RawNudge, RawInbox], activities=[raw_nudge]):
        print("raw_worker_started", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
