"""A journey test bench: the real workflow and activities on a Temporal server, driven like the app would."""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.outbox import read_outbox
from core.settings import Settings
from journal.store import migrate, open_journal
from starters.client import EventReceipt, RecoveryClient
from workers.worker import build_worker
from workflows.early_life_input import early_life_workflow_id
from workflows.early_life_view import EarlyLifeView
from workflows.events import OnboardingEvent
from workflows.journey import OnboardingJourney, workflow_id_for
from workflows.journey_state import JourneyOutcome
from workflows.journey_view import JourneyView
from workflows.playbook import Playbook

SAMARKAND = {"lat": 39.66, "lon": 66.96}
_ids = itertools.count(1)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Visibility is eventually consistent: poll a query until it agrees, within a deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "visibility never caught up"
        await asyncio.sleep(0.2)


def zone_where_local_hour_is(now: datetime, local_hour: int) -> str:
    """A fixed-offset IANA zone in which `now` reads `local_hour` o'clock (Etc/GMT signs are inverted)."""
    offset = (local_hour - now.astimezone(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


@dataclass
class Bench:
    env: WorkflowEnvironment
    client: RecoveryClient
    settings: Settings
    customer_id: str = field(default_factory=lambda: f"c-{uuid.uuid4().hex[:10]}")
    timezone: str = "Etc/UTC"
    location: dict[str, float] | None = field(default_factory=lambda: dict(SAMARKAND))
    customers: set[str] = field(default_factory=set)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def send(
        self,
        event_type: str,
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        customer_id: str | None = None,
        **attributes: Any,
    ) -> EventReceipt:
        """Through the client's intake, as the app would."""
        event = await self._event(event_type, event_id, occurred_at, customer_id, attributes)
        return await self.client.record_event(event)

    async def signal_again(
        self, event_type: str, *, event_id: str, occurred_at: datetime | None = None, **attributes: Any
    ) -> None:
        """Straight to the journey, as a signal delivered twice would arrive: the intake ledger sends a
        known event no second signal, so the journey's own deduplication is tested this way."""
        event = await self._event(event_type, event_id, occurred_at, None, attributes)
        await self.env.client.get_workflow_handle(workflow_id_for(event.customer_id)).signal("record_event", event)

    async def _event(
        self,
        event_type: str,
        event_id: str | None,
        occurred_at: datetime | None,
        customer_id: str | None,
        attributes: dict[str, Any],
    ) -> OnboardingEvent:
        self.customers.add(customer_id or self.customer_id)
        return OnboardingEvent(
            event_id=event_id or f"e-{next(_ids)}",
            customer_id=customer_id or self.customer_id,
            type=event_type,
            occurred_at=occurred_at or await self.now(),
            attributes=attributes,
            profile={"timezone": self.timezone, "locale": "en", "location": self.location},
        )

    async def stop_journeys(self) -> None:
        """Ends what a test left running, both journeys of each of its customers, fifty at a time."""
        at_once = asyncio.Semaphore(50)

        async def terminate(workflow_id: str) -> None:
            async with at_once:
                try:
                    await self.env.client.get_workflow_handle(workflow_id).terminate("test finished")
                except RPCError:
                    pass  # never started, or already ended

        await asyncio.gather(
            *(
                terminate(workflow_id)
                for customer_id in self.customers
                for workflow_id in (workflow_id_for(customer_id), early_life_workflow_id(customer_id))
            )
        )

    async def early_life(self, customer_id: str | None = None) -> EarlyLifeView:
        return await self.client.early_life(customer_id or self.customer_id)

    async def skip(self, **delta: float) -> None:
        await self.env.sleep(timedelta(**delta))

    async def view(self, customer_id: str | None = None) -> JourneyView:
        return await self.client.journey(customer_id or self.customer_id)

    async def outcome(self, customer_id: str | None = None) -> JourneyOutcome:
        handle = self.env.client.get_workflow_handle(
            workflow_id_for(customer_id or self.customer_id), result_type=JourneyOutcome
        )
        outcome: JourneyOutcome = await handle.result()
        return outcome

    def outbox(self, customer_id: str | None = None) -> list[dict[str, Any]]:
        wanted = customer_id or self.customer_id
        return [m for m in read_outbox(self.settings.outbox_path) if m["customer_id"] == wanted]

    def staff_notifications(self, customer_id: str | None = None) -> list[dict[str, Any]]:
        wanted = customer_id or self.customer_id
        return [m for m in read_outbox(self.settings.staff_notifications_path) if m["customer_id"] == wanted]


@asynccontextmanager
async def running_bench(
    env: WorkflowEnvironment, playbook: Playbook, settings: Settings, worker: Worker | None = None
) -> AsyncIterator[Bench]:
    """A worker on the bench's own task queue, a customer whose local time is 10:00 now, and a clean end."""
    async with worker or build_worker(env.client, settings):
        bench = Bench(env, recovery_client(env, playbook, settings), settings)
        bench.timezone = zone_where_local_hour_is(await bench.now(), 10)
        try:
            yield bench
        finally:
            await bench.stop_journeys()


def bench_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path, task_queue=f"journeys-{uuid.uuid4().hex[:8]}", **overrides)


def recovery_client(env: WorkflowEnvironment, playbook: Playbook, settings: Settings) -> RecoveryClient:
    journal = open_journal(settings.journal_database_url)
    migrate(journal)
    return RecoveryClient(
        env.client, playbook, settings.task_queue, journal, clock=env.get_current_time
    )  # the door's now: the server's


__all__ = [
    "Bench",
    "OnboardingJourney",
    "bench_settings",
    "eventually",
    "recovery_client",
    "running_bench",
    "zone_where_local_hour_is",
]
