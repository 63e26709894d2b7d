"""(5) Worker and dev-server RSS per 1,000 open idle journeys, against a raw worker holding as many raw
workflows idle on a timer. Fresh workers on their own task queues; journeys open at stage A under the
default playbook (a drop-off threshold of hours: idle); steps interleave the two sides, and each
figure is read once both workers are quiet again. RSS from /proc.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from temporalio.client import Client

from bench.raw import RawNudge
from bench.stack import Figure, daytime_zone, ratio, rss_mb, say, settle, verdict
from starters.client import RecoveryClient
from workflows.events import OnboardingEvent
from workflows.playbook import load_playbook

CHUNK = 100
CACHE = 1_000  # the SDK's default max_cached_workflows; workers/worker.py sets none


@dataclass
class Footprint:
    open: list[int] = field(default_factory=list)
    worker: list[float] = field(default_factory=list)
    raw_worker: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)  # both sides' workflows live on the one server


async def measure(
    client: Client,
    journal: Engine,
    task_queue: str,
    raw_queue: str,
    worker: int,
    raw: int,
    server: int,
    steps: list[int],
) -> Footprint:
    recovery = RecoveryClient(client, load_playbook().model_copy(update={"holdout_share": 0.0}), task_queue, journal)
    zone, run = daytime_zone(), uuid.uuid4().hex[:6]
    ours: list[str] = []
    raws: list[str] = []
    footprint = Footprint()

    def record(opened: int) -> None:
        footprint.open.append(opened)
        footprint.worker.append(rss_mb(worker))
        footprint.raw_worker.append(rss_mb(raw))
        footprint.server.append(rss_mb(server))

    await settle([worker, raw, server])
    record(0)
    for target in steps:
        began = time.monotonic()
        while len(ours) < target:
            chunk = [f"bench-mem-{run}-{i}" for i in range(len(ours), min(target, len(ours) + CHUNK))]
            await recovery.record_events(
                [
                    OnboardingEvent(
                        event_id=f"{c}-pv",
                        customer_id=c,
                        type="onboarding.phone_verified",
                        occurred_at=datetime.now(UTC),
                        profile={"timezone": zone, "locale": "en"},
                    )
                    for c in chunk
                ]
            )
            ours += chunk
            await _open_raw(client, raw_queue, raws, len(ours))
            if len(ours) % 500 == 0:
                say(
                    f"  memory: {len(ours):,}/{steps[-1]:,} journeys and raw workflows open "
                    f"({time.monotonic() - began:.0f} s)"
                )
        waited = await settle(
            [worker, raw, server], limit=max(180.0, 0.1 * (target - footprint.open[-1]))
        )  # ~43 ms a start
        say(f"  memory: {target:,} open; workers quiet after {waited:.0f} s")
        record(target)
    return footprint  # left open: the last section, the server goes with them


async def _open_raw(client: Client, raw_queue: str, raws: list[str], upto: int) -> None:
    due = time.time() + 6 * 3600
    gate = asyncio.Semaphore(32)

    async def one(workflow_id: str) -> None:
        async with gate:
            await client.start_workflow(RawNudge.run, due, id=workflow_id, task_queue=raw_queue)

    fresh = [f"raw-mem-{uuid.uuid4().hex[:10]}" for _ in range(upto - len(raws))]
    await asyncio.gather(*(one(w) for w in fresh))
    raws += fresh


def figures(f: Footprint) -> list[Figure]:
    rows = []
    for i in range(1, len(f.open)):
        thousands = (f.open[i] - f.open[i - 1]) / 1000
        ours = (f.worker[i] - f.worker[i - 1]) / thousands
        raw = (f.raw_worker[i] - f.raw_worker[i - 1]) / thousands
        server = (f.server[i] - f.server[i - 1]) / thousands / 2  # per workflow of either side
        span = f"{f.open[i - 1]:,} to {f.open[i]:,} open"
        within = (
            " (these are within the SDK's default cache of 1,000: the target's case needs more)"
            if f.open[i] <= CACHE
            else ""
        )
        rows.append(
            Figure(
                "memory",
                f"worker RSS per 1,000 journeys ({span}; now {f.worker[i]:.0f} MB)",
                f"{ours:+.1f} MB",
                f"{raw:+.1f} MB (raw worker)",
                f"{ratio(ours, raw):.1f}x",
                verdict(ours < 50, "target < 50 MB per 1,000 beyond the cache" + within),
            )
        )
        rows.append(
            Figure(
                "memory",
                f"dev server RSS per 1,000 workflows ({span} each side; now {f.server[i]:.0f} MB)",
                f"{server:+.1f} MB",
                "-",
                "-",
                "",
            )
        )
    return rows
