"""(2) HTTP ingest: events/s through the real API (uvicorn, its own process, a real worker behind it) at
32 requests in flight, one event per request and batched, against raw signal-with-start from the SDK at
32 in flight. Rounds interleave raw, single and batched, so the machine's drift falls on all three.

Single: one new customer per event (`onboarding.started`). Batched: 20 events per request, 5 customers
with 4 funnel events each, as an app flushing its buffer sends them. Raw: one signal-with-start of a
waiting workflow per event, a new workflow id each.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio.client import Client

from bench.raw import RawInbox
from bench.stack import Figure, daytime_zone, ratio, say, verdict

IN_FLIGHT = 32
BATCH_CUSTOMERS, FUNNEL = (
    5,
    ["onboarding.started", "onboarding.phone_verified", "onboarding.document_uploaded", "onboarding.document_approved"],
)


@dataclass
class Rates:
    seconds: dict[str, float] = field(default_factory=lambda: {"raw": 0.0, "single": 0.0, "batch": 0.0})
    events: dict[str, int] = field(default_factory=lambda: {"raw": 0, "single": 0, "batch": 0})
    refused: int = 0

    def per_second(self, side: str) -> float:
        return self.events[side] / self.seconds[side] if self.seconds[side] else 0.0


def _event(customer: str, kind: str, zone: str) -> dict[str, Any]:
    return {
        "event_id": f"{customer}-{kind.rsplit('.', 1)[-1]}",
        "customer_id": customer,
        "type": kind,
        "occurred_at": datetime.now(UTC).isoformat(),
        "profile": {"timezone": zone, "locale": "en"},
    }


async def _timed(jobs: list[Callable[[], Awaitable[None]]]) -> float:
    queue = list(reversed(jobs))

    async def lane() -> None:
        while queue:
            await queue.pop()()

    began = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(IN_FLIGHT)))
    return time.perf_counter() - began


async def measure(client: Client, url: str, raw_queue: str, rounds: int, per_round: int) -> Rates:
    rates, zone, run = Rates(), daytime_zone(), uuid.uuid4().hex[:6]
    async with httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": "Bearer bench-token"},
        timeout=60,
        limits=httpx.Limits(max_connections=IN_FLIGHT),
    ) as http:

        async def post(body: Any) -> None:
            response = await http.post("/v1/events", json=body)
            if response.status_code != 202:
                rates.refused += 1

        def raw(customer: str) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                await client.start_workflow(
                    RawInbox.run,
                    id=f"raw-{customer}",
                    task_queue=raw_queue,
                    start_signal="record",
                    start_signal_args=[_event(customer, FUNNEL[0], zone)],
                )

            return job

        def single(customer: str) -> Callable[[], Awaitable[None]]:
            return lambda: post(_event(customer, FUNNEL[0], zone))

        def batch(customers: list[str]) -> Callable[[], Awaitable[None]]:
            return lambda: post([_event(c, kind, zone) for c in customers for kind in FUNNEL])

        for r in range(rounds):
            ids = [f"bench-in-{run}-{r}-{i}" for i in range(per_round)]
            rates.seconds["raw"] += await _timed([raw(c) for c in ids])
            rates.events["raw"] += per_round
            rates.seconds["single"] += await _timed([single(f"{c}-s") for c in ids])
            rates.events["single"] += per_round
            groups = [[f"{ids[i]}-b{k}" for k in range(BATCH_CUSTOMERS)] for i in range(per_round // 4)]
            rates.seconds["batch"] += await _timed([batch(g) for g in groups])
            rates.events["batch"] += len(groups) * BATCH_CUSTOMERS * len(FUNNEL)
            say(
                f"  ingest round {r + 1}/{rounds}: raw {rates.per_second('raw'):.0f}/s, "
                f"single {rates.per_second('single'):.0f}/s, batched {rates.per_second('batch'):.0f} events/s so far"
            )
    return rates


def figures(rates: Rates) -> list[Figure]:
    raw, single, batch = rates.per_second("raw"), rates.per_second("single"), rates.per_second("batch")
    refused = f" ({rates.refused} requests refused)" if rates.refused else ""
    return [
        Figure(
            "ingest",
            "single events/s",
            f"{single:.0f}/s",
            f"{raw:.0f}/s",
            f"{ratio(single, raw):.2f}x",
            verdict(ratio(single, raw) >= 0.9 and not rates.refused, f"target >= 0.9x raw signal-with-start{refused}"),
        ),
        Figure(
            "ingest",
            "batched events/s",
            f"{batch:.0f}/s",
            f"{raw:.0f}/s",
            f"{ratio(batch, raw):.2f}x",
            verdict(ratio(batch, raw) >= 0.9 and not rates.refused, f"target >= 0.9x raw signal-with-start{refused}"),
        ),
        Figure(
            "ingest",
            "batched / single",
            f"{batch:.0f}/s",
            f"{single:.0f}/s (single)",
            f"{ratio(batch, single):.1f}x",
            verdict(ratio(batch, single) >= 3.0, "target batched >= 3x single"),
        ),
    ]
