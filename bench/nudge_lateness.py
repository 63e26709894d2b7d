"""(1) Due-nudge lateness: N journeys whose first nudge falls due spread over a window, against N raw
workflows (a timer, then one activity) falling due at the same instants, on the same server.

Every start is made before the first due time (interleaved, project and raw chunk by chunk), so the
window measures the nudge path alone. A journey's event occurred in the past, so its nudge is due at
occurred_at + the stage's drop-off threshold, in a zone where it is noon (no quiet hours).
Lateness: ours, when the nudge line reached the outbox (the file is tailed every 50 ms) minus due;
raw, when the activity started minus due.
"""

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError

from bench.raw import RawNudge
from bench.stack import Figure, daytime_zone, demo_playbook, lasting_guardrails, percentile, ratio, say, verdict
from starters.client import RecoveryClient
from workflows.events import OnboardingEvent
from workflows.journey import workflow_id_for

CHUNK = 50


@dataclass
class Lateness:
    ours: list[float]
    raw: list[float]


async def _tail_nudges(outbox: Path, wanted: set[str], seen: dict[str, float], until: float) -> None:
    """Records when each wanted customer's first nudge line appears in the outbox."""
    offset = 0
    while len(seen) < len(wanted) and time.time() < until:
        if outbox.exists():
            with open(outbox, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]
            offset += len(complete)
            now = time.time()
            for line in complete.splitlines():
                record = json.loads(line)
                if record.get("kind") == "nudge" and record["customer_id"] in wanted:
                    seen.setdefault(record["customer_id"], now)
        await asyncio.sleep(0.05)


async def measure(
    client: Client, journal: Engine, data_dir: Path, task_queue: str, raw_queue: str, n: int, window: float
) -> Lateness:
    lead = max(15.0, n * 0.06)  # time to make every start on this machine before the first nudge falls due
    playbook = lasting_guardrails(
        demo_playbook(drop_off_after=timedelta(seconds=lead + window), nudges=1, nudge_spacing=[], escalation=None),
        timedelta(hours=1),
    )
    recovery = RecoveryClient(client, playbook, task_queue, journal)
    zone, run = daytime_zone(), uuid.uuid4().hex[:6]
    t0 = time.time()
    offsets = [window * i / n for i in range(n)]
    random.Random(14).shuffle(offsets)
    due = {f"bench-late-{run}-{i}": t0 + lead + offset for i, offset in enumerate(offsets)}
    customers = list(due)

    async def start_ours(chunk: list[str]) -> None:
        await recovery.record_events(
            [
                OnboardingEvent(
                    event_id=f"{c}-pv",
                    customer_id=c,
                    type="onboarding.phone_verified",
                    occurred_at=datetime.fromtimestamp(due[c] - lead - window, UTC),
                    profile={"timezone": zone, "locale": "en"},
                )
                for c in chunk
            ]
        )

    async def start_raw(chunk: list[str]) -> None:
        gate = asyncio.Semaphore(32)

        async def one(c: str) -> None:
            async with gate:
                await client.start_workflow(RawNudge.run, due[c], id=f"raw-{c}", task_queue=raw_queue)

        await asyncio.gather(*(one(c) for c in chunk))

    for i in range(0, n, CHUNK):
        await start_ours(customers[i : i + CHUNK])
        await start_raw(customers[i : i + CHUNK])
        say(f"  nudge lateness: started {min(i + CHUNK, n)}/{n} journeys and {min(i + CHUNK, n)}/{n} raw workflows")
    if time.time() > t0 + lead:
        say(
            f"  warning: starting took {time.time() - t0:.0f} s, longer than the {lead:.0f} s lead: "
            "the first dues overlap the starts"
        )

    last_due = t0 + lead + window
    seen: dict[str, float] = {}
    tail = asyncio.create_task(_tail_nudges(data_dir / "outbox.jsonl", set(customers), seen, last_due + 120))
    raw_started: dict[str, float] = {}

    async def raw_result(c: str) -> None:
        raw_started[c] = await client.get_workflow_handle(f"raw-{c}").result()

    results = asyncio.gather(*(raw_result(c) for c in customers))
    while not tail.done():
        await asyncio.sleep(5)
        say(
            f"  nudge lateness: {len(seen)}/{n} nudges in the outbox, {len(raw_started)}/{n} raw activities ran "
            f"({max(0.0, last_due - time.time()):.0f} s of the window left)"
        )
    await results
    await _end(client, customers)
    missing = n - len(seen)
    if missing:
        say(f"  warning: {missing} nudges never reached the outbox within 120 s of the window's end")
    return Lateness(ours=[seen[c] - due[c] for c in seen], raw=[raw_started[c] - due[c] for c in raw_started])


async def _end(client: Client, customers: list[str]) -> None:
    """The journeys would wait an hour: terminated, so they weigh on no later section."""
    gate = asyncio.Semaphore(32)

    async def one(c: str) -> None:
        async with gate:
            try:
                await client.get_workflow_handle(workflow_id_for(c)).terminate("bench section done")
            except RPCError:
                pass

    await asyncio.gather(*(one(c) for c in customers))


def figures(result: Lateness, n: int, window: float) -> list[Figure]:
    p50, p99 = percentile(result.ours, 50), percentile(result.ours, 99)
    r50, r99 = percentile(result.raw, 50), percentile(result.raw, 99)
    scale = f"{n} over {window:.0f} s"
    return [
        Figure(
            "nudge lateness",
            f"p50 ({scale})",
            f"{p50:.2f} s",
            f"{r50:.2f} s",
            f"{ratio(p50, r50):.1f}x",
            verdict(ratio(p50, r50) <= 2.0, "target p50 <= 2x raw"),
        ),
        Figure(
            "nudge lateness",
            f"p99 ({scale})",
            f"{p99:.2f} s",
            f"{r99:.2f} s",
            f"{ratio(p99, r99):.1f}x",
            verdict(ratio(p99, r99) <= 1.5, "target p99 <= 1.5x raw"),
        ),
    ]
