"""Chaos: a cohort on the real dev server, `kill -9` of its worker mid-run, a new worker 5 s later (issue 9).

While the cohort runs, someone keeps reading the journeys' views (the simulator, the agents' inbox, ops),
so queries wait in the task queue through the crash. Then every journey ends, no message goes out twice
(by id, or as a second copy of the same nudge under another id: a forked journey), and every history
replays through today's code.
"""

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.outbox import read_outbox
from core.settings import Settings
from journal.store import migrate, open_journal
from starters.client import RecoveryClient
from tests.harness import SAMARKAND
from tests.payload_keys import converter_for_tests
from tests.workers.processes import WorkerProcess, wait_until_started, worker_env
from workflows.events import OnboardingEvent
from workflows.journey import OnboardingJourney, workflow_id_for
from workflows.journey_state import JourneyOutcome, OutcomeKind
from workflows.playbook import Playbook, load_playbook

COHORT = 30
PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
pytestmark = pytest.mark.timeout(120)


def fast_playbook() -> Playbook:
    """The demo playbook (waits of seconds), no holdout; long enough that journeys still message after the
    new worker takes over (its tasks wait out the dead worker's sticky queue first), over within 30 s."""
    demo = load_playbook(PLAYBOOKS / "demo.toml")
    guardrails = demo.guardrails.model_copy(
        update={"recovery_window": timedelta(seconds=16), "max_lifetime": timedelta(seconds=30)}
    )
    return demo.model_copy(update={"holdout_share": 0.0, "guardrails": guardrails})


def kill_9(worker: WorkerProcess) -> None:
    assert worker.process is not None
    os.killpg(worker.process.pid, signal.SIGKILL)  # its own session (start_new_session): the worker and nothing else
    worker.process.wait()


async def keep_reading(handles: list[WorkflowHandle[Any, Any]], stop: asyncio.Event) -> None:
    """Reads each journey's view until it has ended; a read waits for a worker as long as it must."""

    async def read(handle: WorkflowHandle[Any, Any]) -> None:
        while not stop.is_set():
            try:
                view = await handle.query(OnboardingJourney.view, rpc_timeout=timedelta(seconds=30))
                if view.outcome is not None:
                    return
            except Exception:
                pass
            await asyncio.sleep(0.5)

    await asyncio.gather(*(read(h) for h in handles))


async def test_kill_9_of_the_worker_mid_cohort(dev_server_env: WorkflowEnvironment, tmp_path: Path) -> None:
    started_at = time.monotonic()
    env = dev_server_env
    task_queue = f"chaos-{uuid.uuid4().hex[:8]}"
    settings = Settings(_env_file=None, data_dir=tmp_path, task_queue=task_queue)
    journal = open_journal(settings.journal_database_url)
    migrate(journal)  # before any worker starts
    client = RecoveryClient(env.client, fast_playbook(), task_queue, journal)
    spawn = worker_env(env.client.service_client.config.target_host, env.client.namespace, tmp_path, task_queue)
    run = uuid.uuid4().hex[:6]
    customers = [f"c-chaos-{run}-{i:02d}" for i in range(COHORT)]
    completers, rejected = customers[:10], customers[10:20]
    handles = [env.client.get_workflow_handle(workflow_id_for(c), result_type=JourneyOutcome) for c in customers]

    def event(customer_id: str, type_: str, **attributes: str) -> OnboardingEvent:
        return OnboardingEvent(
            event_id=f"{customer_id}:{type_}",
            customer_id=customer_id,
            type=type_,
            occurred_at=datetime.now(UTC),
            attributes=attributes,
            profile={"timezone": "UTC", "locale": "en", "location": SAMARKAND},
        )

    first = WorkerProcess("first", tmp_path / "worker-first.log", spawn).start()
    second = WorkerProcess("second", tmp_path / "worker-second.log", spawn)
    stop_reading = asyncio.Event()
    reader: asyncio.Task[None] | None = None
    try:
        await wait_until_started([first])
        # The cohort arrives over two seconds: their timers fire at different moments of the outage.
        for i in range(0, COHORT, 5):
            receipts = await client.record_events([event(c, "onboarding.phone_verified") for c in customers[i : i + 5]])
            assert all(r.accepted for r in receipts), [r.note for r in receipts if not r.accepted]
            await asyncio.sleep(0.3)
        reader = asyncio.create_task(keep_reading(handles, stop_reading))
        await asyncio.sleep(2.5)  # first nudges out, the second ones pending

        kill_9(first)
        await asyncio.sleep(1.0)
        # Events keep coming while no worker runs: a third finish, a third has its document rejected.
        await client.record_events([event(c, "onboarding.completed") for c in completers])
        await client.record_events([event(c, "onboarding.document_rejected", reason="blur") for c in rejected])
        await asyncio.sleep(4.0)
        second.start()
        await wait_until_started([second])

        results = await asyncio.wait_for(
            asyncio.gather(*(h.result() for h in handles), return_exceptions=True), timeout=60
        )
    finally:
        stop_reading.set()
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if first.process is not None and first.process.poll() is None:
            kill_9(first)
        if second.process is not None and second.process.poll() is None:
            second.stop()
        for handle in handles:
            try:
                await handle.terminate("test finished")
            except RPCError:
                pass  # ended

    # Every journey ended: the completers as completed, the others at their cutoff or lifetime.
    failed = {c: r for c, r in zip(customers, results, strict=True) if not isinstance(r, JourneyOutcome)}
    assert not failed, failed
    outcomes = {c: r for c, r in zip(customers, results, strict=True) if isinstance(r, JourneyOutcome)}
    assert {outcomes[c].kind for c in completers} == {OutcomeKind.COMPLETED}

    # No message went out twice: not the same id, nor the same nudge again under another id.
    messages = [m for m in read_outbox(settings.outbox_path) if m["customer_id"] in set(customers)]
    assert messages, "the cohort sent nothing: the test proves nothing"
    by_id = Counter(m["id"] for m in messages)
    assert max(by_id.values()) == 1, by_id.most_common(3)
    by_attempt = Counter((m["customer_id"], m["stage"], m["kind"], m["attempt"]) for m in messages)
    assert max(by_attempt.values()) == 1, [k for k, n in by_attempt.items() if n > 1]

    # Every history replays through today's code.
    histories = [await h.fetch_history() for h in handles]

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    replayed = await Replayer(workflows=[OnboardingJourney], data_converter=converter_for_tests()).replay_workflows(
        each(), raise_on_replay_failure=False
    )
    unreplayable = {
        h.workflow_id: str(replayed.replay_failures[h.run_id])[:300]
        for h in histories
        if h.run_id in replayed.replay_failures
    }
    assert not unreplayable, f"{len(unreplayable)} of {COHORT} histories do not replay: {unreplayable}"
    print(f"chaos: {COHORT} journeys, {len(messages)} messages, {time.monotonic() - started_at:.1f}s")
