"""Scale-out: two real `recovery worker` processes on one dev server share the journeys of a cohort.

Workers are stateless: any of them runs any journey's next step. Both must do work, every journey
must end or move on as its events say, and every message must reach the customer once, however
the two processes split the work between them.
"""

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from journal.store import migrate, open_journal
from starters.client import RecoveryClient
from tests.harness import SAMARKAND, zone_where_local_hour_is
from tests.workers.processes import WorkerProcess, wait_until_started, worker_env
from workflows.events import OnboardingEvent
from workflows.funnel import Stage
from workflows.journey import workflow_id_for
from workflows.journey_state import JourneyOutcome, OutcomeKind
from workflows.playbook import Playbook

COHORT = 20
pytestmark = pytest.mark.timeout(120)


class Cohort:
    """A cohort recorded through the client, as the app backend would, and the journeys it started."""

    def __init__(self, env: WorkflowEnvironment, client: RecoveryClient, outbox: Path, size: int) -> None:
        self.env, self.client, self.outbox = env, client, outbox
        run = uuid.uuid4().hex[:6]
        self.customers = [f"c-scale-{run}-{i:02d}" for i in range(size)]
        self.timezone = "Etc/UTC"

    def event(self, customer_id: str, type_: str, at: datetime) -> OnboardingEvent:
        return OnboardingEvent(
            event_id=f"{customer_id}:{type_}",
            customer_id=customer_id,
            type=type_,
            occurred_at=at,
            profile={"timezone": self.timezone, "locale": "en", "location": SAMARKAND},
        )

    async def drop_off(self) -> None:
        """Each customer verified their phone 2.5 hours ago and stopped: a nudge is due at once, in daytime."""
        now = datetime.now(UTC)
        self.timezone = zone_where_local_hour_is(now, 10)
        verified = now - timedelta(hours=2, minutes=30)
        receipts = await self.client.record_events(
            [self.event(c, "onboarding.phone_verified", verified) for c in self.customers]
        )
        assert all(r.accepted for r in receipts), [r.note for r in receipts if not r.accepted]

    def messages(self) -> list[dict[str, Any]]:
        """The cohort's messages in the shared outbox (a line the workers are still writing is left for later)."""
        mine = set(self.customers)
        text = self.outbox.read_text(encoding="utf-8") if self.outbox.exists() else ""
        complete = text[: text.rfind("\n") + 1]
        return [
            m for m in (json.loads(line) for line in complete.splitlines() if line.strip()) if m["customer_id"] in mine
        ]

    async def each_nudged_once(self, timeout_s: float = 40.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            messages = self.messages()
            if {m["customer_id"] for m in messages} == set(self.customers):
                return messages
            if time.monotonic() > deadline:
                missing = set(self.customers) - {m["customer_id"] for m in messages}
                raise AssertionError(
                    f"{len(missing)} of {len(self.customers)} customers got no nudge in {timeout_s:.0f}s"
                )
            await asyncio.sleep(0.25)

    async def record(self, customers: list[str], type_: str) -> None:
        now = datetime.now(UTC)
        receipts = await self.client.record_events([self.event(c, type_, now) for c in customers])
        assert all(r.accepted for r in receipts)

    def handle(self, customer_id: str) -> WorkflowHandle[Any, JourneyOutcome]:
        return self.env.client.get_workflow_handle(workflow_id_for(customer_id), result_type=JourneyOutcome)

    async def worker_identities(self) -> Counter[str]:
        """Which worker completed each workflow task and ran each activity, from the journeys' histories."""
        seen: Counter[str] = Counter()
        for customer_id in self.customers:
            async for event in self.handle(customer_id).fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                    seen[event.workflow_task_completed_event_attributes.identity] += 1
                elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                    seen[event.activity_task_started_event_attributes.identity] += 1
        return seen

    async def end(self) -> None:
        for customer_id in self.customers:
            try:
                await self.handle(customer_id).terminate("test finished")
            except RPCError:
                pass  # already ended


@pytest.fixture
def stack(dev_server_env: WorkflowEnvironment, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """The dev server's address and namespace, and a data folder the workers share (outbox, journal)."""
    address = dev_server_env.client.service_client.config.target_host
    yield address, dev_server_env.client.namespace, tmp_path


def start_workers(specs: list[tuple[str, dict[str, str]]], tmp_path: Path) -> list[WorkerProcess]:
    return [WorkerProcess(name, tmp_path / f"worker-{name}.log", env).start() for name, env in specs]


@pytest.fixture
async def cleanup() -> AsyncIterator[list[Any]]:
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        if isinstance(thing, Cohort):
            await thing.end()
        else:
            code = thing.stop()
            assert code == 0, (
                f"worker {thing.name} did not stop cleanly on SIGTERM ({code}):\n{thing.log_path.read_text()[-2000:]}"
            )


def journey_client(env: WorkflowEnvironment, playbook: Playbook, settings: Settings) -> RecoveryClient:
    journal = open_journal(settings.journal_database_url)
    migrate(journal)  # before the workers start, so they find it current and do not race to create it
    return RecoveryClient(env.client, playbook, settings.task_queue, journal, settings.messaging_task_queue)


async def test_two_workers_share_a_cohort_and_send_each_message_once(
    stack: tuple[str, str, Path], dev_server_env: WorkflowEnvironment, default_playbook: Playbook, cleanup: list[Any]
) -> None:
    address, namespace, data_dir = stack
    task_queue = f"scale-{uuid.uuid4().hex[:8]}"
    settings = Settings(_env_file=None, data_dir=data_dir, task_queue=task_queue)
    client = journey_client(dev_server_env, default_playbook, settings)
    env = worker_env(address, namespace, data_dir, task_queue)
    workers = start_workers([("a", env), ("b", env)], data_dir)
    cleanup.extend(workers)
    identities = set((await wait_until_started(workers)).values())
    assert len(identities) == 2

    cohort = Cohort(dev_server_env, client, settings.outbox_path, COHORT)
    cleanup.append(cohort)
    await cohort.drop_off()
    nudges = await cohort.each_nudged_once()

    # Half of them come back and finish; the other half upload their document and wait on our review.
    finishers, uploaders = cohort.customers[: COHORT // 2], cohort.customers[COHORT // 2 :]
    await cohort.record(finishers, "onboarding.completed")
    await cohort.record(uploaders, "onboarding.document_uploaded")
    outcomes = await asyncio.wait_for(asyncio.gather(*(cohort.handle(c).result() for c in finishers)), timeout=30)
    assert {o.kind for o in outcomes} == {OutcomeKind.COMPLETED}
    assert all(o.messages_sent == 1 and o.preceded_by == "nudge_1" for o in outcomes)
    for customer_id in uploaders:
        view = await cohort.client.journey(customer_id)
        assert (view.stage.value, view.status.value, view.nudges_sent) == ("document_uploaded", "active", 1)

    # Each message reached its customer once: one nudge per customer, no id twice in the outbox.
    messages = cohort.messages()
    ids = Counter(m["id"] for m in messages)
    assert len(messages) == COHORT and set(ids.values()) == {1}, ids.most_common(3)
    assert {m["id"] for m in nudges} == set(ids)
    assert Counter(m["customer_id"] for m in messages) == Counter({c: 1 for c in cohort.customers})
    assert {(m["channel"], m["stage"], m["attempt"]) for m in messages} == {("push", "phone_verified", 1)}

    # Both processes did work: in the journeys' histories, and in their own logs.
    done_by = await cohort.worker_identities()
    assert set(done_by) == identities, f"work by worker identity: {dict(done_by)}; pollers: {identities}"
    worked = {w.name: len(w.events("message_delivered")) + len(w.events("journal_written")) for w in workers}
    assert all(count > 0 for count in worked.values()), worked
    delivered = sum(len(w.events("message_delivered")) for w in workers)
    assert delivered == COHORT, f"{delivered} deliveries logged for {COHORT} messages"
    # Logs: JSON lines with the customer id, workflow id and stage; never what was said to the customer.
    for worker in workers:
        journey_lines = [
            line for name in ("drop_off_detected", "message_sent", "message_delivered") for line in worker.events(name)
        ]
        assert journey_lines and all(
            line["customer_id"] and line["workflow_id"] and line["stage"] for line in journey_lines
        )
        assert (
            default_playbook.for_stage(Stage.PHONE_VERIFIED).copy_by_locale["en"]["default"]
            not in worker.log_path.read_text()
        )


async def test_deliveries_run_on_the_messaging_workers_only(
    stack: tuple[str, str, Path], dev_server_env: WorkflowEnvironment, default_playbook: Playbook, cleanup: list[Any]
) -> None:
    address, namespace, data_dir = stack
    task_queue, messaging_queue = f"split-{uuid.uuid4().hex[:8]}", f"sms-{uuid.uuid4().hex[:8]}"
    settings = Settings(_env_file=None, data_dir=data_dir, task_queue=task_queue, messaging_task_queue=messaging_queue)
    client = journey_client(dev_server_env, default_playbook, settings)
    common = {"RECOVERY_MESSAGING_TASK_QUEUE": messaging_queue}
    workers = start_workers(
        [
            (
                "journeys",
                worker_env(address, namespace, data_dir, task_queue, RECOVERY_WORKER_ROLE="journeys", **common),
            ),
            (
                "messaging",
                worker_env(
                    address,
                    namespace,
                    data_dir,
                    task_queue,
                    RECOVERY_WORKER_ROLE="messaging",
                    RECOVERY_MESSAGING_RATE_LIMIT_PER_SECOND="50",
                    **common,
                ),
            ),
        ],
        data_dir,
    )
    cleanup.extend(workers)
    journeys_worker, messaging_worker = workers
    identity = await wait_until_started(workers)
    journeys_identity, messaging_identity = identity["journeys"], identity["messaging"]
    assert journeys_identity != messaging_identity

    cohort = Cohort(dev_server_env, client, settings.outbox_path, 8)
    cleanup.append(cohort)
    await cohort.drop_off()
    await cohort.each_nudged_once()
    await cohort.record(cohort.customers, "onboarding.completed")
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(cohort.handle(c).result() for c in cohort.customers)), timeout=30
    )
    assert {o.kind for o in outcomes} == {OutcomeKind.COMPLETED}
    assert Counter(m["id"] for m in cohort.messages()).most_common(1)[0][1] == 1

    # Deliveries on the messaging worker only; the journeys, the journal and lookups on the other.
    assert len(messaging_worker.events("message_delivered")) == len(cohort.customers)
    assert journeys_worker.events("message_delivered") == []
    assert messaging_worker.events("journal_written") == [] and journeys_worker.events("journal_written")
    started = {w.name: w.events("worker_started")[0] for w in workers}
    assert started["journeys"]["task_queues"] == [task_queue]
    assert started["messaging"]["task_queues"] == [messaging_queue]
    assert started["messaging"]["messaging_rate_limit_per_second"] == 50.0
    by_identity = await cohort.worker_identities()
    assert set(by_identity) == {journeys_identity, messaging_identity}
