"""A journey resumed by a fresh worker after a crash decides on the clock of a real workflow task (issue 9, item 2).

The fork seen in `repro/sim-31-0010.history.json`: the worker was killed while the journey slept on its
cutoff timer; a query for the journey's view (the simulator looks at each journey at its deadline) was
sent while no workflow task was pending, so the server dispatched it straight to the task queue, where
it waited for a poller. The timer fired meanwhile. The fresh worker took the query first: its history
ends with TimerFired and WorkflowTaskScheduled, and no WorkflowTaskStarted. temporalio 1.35.0 (sdk-core)
applies those events and runs the journey's loop on the previous task's clock (event 83's time, not
replaying), so the loop waited again for exactly the same 27.318408 s; the SDK kept that decision in its
cache and sent it as the commands of the next real task (events 87-89, event 90 TimerStarted). Any other
worker replays the same events at event 88's time, where the cutoff has passed and the journey ends:
`[TMPRL1100] UpsertWorkflowSearchAttributesMachine does not handle HistoryEvent(id: 90, TimerStarted)`.

Not the cause (checked): the `wait_condition` lambda's history length / continue-as-new suggestion (far
below the limit, False on both sides) and `workflow.patched` in the loop (memoized; the same code replays
every history in which no query raced the crash).

`repro/` is not under `histories/`: that history forked and never replays, whatever the fix.
"""

import asyncio
import json
import os
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from starters.client import RecoveryClient
from tests.harness import SAMARKAND
from tests.payload_keys import converter_for_tests
from tests.workers.processes import WorkerProcess, wait_until_started, worker_env
from workflows.events import OnboardingEvent
from workflows.funnel import Stage
from workflows.journey import JourneyInput, OnboardingJourney, workflow_id_for
from workflows.journey_state import JourneyOutcome
from workflows.playbook import Playbook, load_playbook

REPRO = Path(__file__).parent / "repro" / "sim-31-0010.history.json"
PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
LAST_REAL_TASK_STARTED = 83  # the killed worker's last task: it started timer 6 (event 85) on the cutoff
FRESH_TASK_STARTED = 88  # the fresh worker's task (events 87-89) that sent timer 7 (event 90)

# What the journey's loop decided, per wait: appended by the probe below (it runs unsandboxed, in this process).
WAITS: list[dict[str, Any]] = []


@workflow.defn(name="OnboardingJourney", sandboxed=False)
class WaitProbe(OnboardingJourney):
    """The real journey, recording the clock each time its loop decides to wait."""

    @workflow.run
    async def run(self, journey: JourneyInput) -> JourneyOutcome | None:
        return await super().run(journey)

    async def _wait_for_news(self, until: datetime) -> str:
        WAITS.append(
            {
                "now": workflow.now(),
                "until": until,
                "timeout": until - workflow.now(),
                "history_length": workflow.info().get_current_history_length(),
                "replaying": workflow.unsafe.is_replaying(),
            }
        )
        return await super()._wait_for_news(until)


def repro_events(last_event_id: int | None = None) -> dict[str, Any]:
    history: dict[str, Any] = json.loads(REPRO.read_text(encoding="utf-8"))
    if last_event_id is not None:
        history["events"] = [e for e in history["events"] if int(e["eventId"]) <= last_event_id]
    return history


def event_time(history: dict[str, Any], event_id: int) -> datetime:
    event = next(e for e in history["events"] if int(e["eventId"]) == event_id)
    return datetime.fromisoformat(event["eventTime"][:26] + "+00:00")  # microseconds, as workflow.now()


async def replay_probe(history: dict[str, Any]) -> Any:
    WAITS.clear()
    replayer = Replayer(workflows=[WaitProbe], data_converter=converter_for_tests())
    return await replayer.replay_workflow(
        WorkflowHistory.from_json("onboarding-sim-31-0010", history), raise_on_replay_failure=False
    )


# -- the repro history -----------------------------------------------------------------------------


async def test_repro_history_forked_at_its_second_cutoff_timer() -> None:
    """The symptom, kept as evidence: the recorded fork never replays (no fix can change what was recorded)."""
    history = WorkflowHistory.from_json("onboarding-sim-31-0010", REPRO.read_text(encoding="utf-8"))
    result = await Replayer(workflows=[OnboardingJourney], data_converter=converter_for_tests()).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
    assert "does not handle HistoryEvent(id: 90, TimerStarted)" in str(result.replay_failure)


async def test_repro_the_fresh_workers_real_task_ends_the_journey() -> None:
    """Run as the workflow task it was (history up to its WorkflowTaskStarted, event 88), the journey ends at
    its cutoff instead of waiting again: timer 7 did not come from that task's own run of the code."""
    history = repro_events(FRESH_TASK_STARTED)
    result = await replay_probe(history)
    assert result.replay_failure is None, result.replay_failure
    cutoff_wait = WAITS[-1]
    assert cutoff_wait["history_length"] == LAST_REAL_TASK_STARTED and cutoff_wait["timeout"] == timedelta(
        seconds=27.318408
    )
    assert event_time(history, FRESH_TASK_STARTED) > cutoff_wait["until"], "event 88 comes after the cutoff"


async def test_events_past_the_last_task_never_run_on_its_clock() -> None:
    """The history a query brings when it was dispatched before the timer fired and taken by the fresh
    worker after: it ends with TimerFired (86) and WorkflowTaskScheduled (87), no WorkflowTaskStarted.
    The SDK runs the fired timer on event 83's clock; the journey must not decide anything on it (today it
    waits 27.318408 s more: timer 7, the fork)."""
    history = repro_events(FRESH_TASK_STARTED - 1)
    await replay_probe(history)
    stale_clock = event_time(history, LAST_REAL_TASK_STARTED)
    stale = [w for w in WAITS if w["history_length"] > LAST_REAL_TASK_STARTED and w["now"] <= stale_clock]
    assert stale == [], (
        f"after the cutoff timer fired, the journey decided on the previous task's clock ({stale_clock.isoformat()}): "
        f"{stale}"
    )


# -- the same race, live: a crash, a query waiting for a poller, a timer firing, a fresh worker -----------------

RECOVERY_WINDOW = 8.0


def quiet_playbook() -> Playbook:
    """The demo playbook where stage A sends nothing: a journey there only waits on its cutoff timer."""
    demo = load_playbook(PLAYBOOKS / "demo.toml")
    quiet = demo.stages[Stage.PHONE_VERIFIED].model_copy(update={"nudges": 0, "nudge_spacing": [], "escalation": None})
    guardrails = demo.guardrails.model_copy(update={"recovery_window": timedelta(seconds=RECOVERY_WINDOW)})
    return demo.model_copy(
        update={"holdout_share": 0.0, "guardrails": guardrails, "stages": {**demo.stages, Stage.PHONE_VERIFIED: quiet}}
    )


async def timer_started(handle: WorkflowHandle[Any, JourneyOutcome], within: float = 20.0) -> None:
    """Waits for the journey's first timer in its history (a busy machine may take seconds to get there)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        history = await handle.fetch_history()
        if any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in history.events):
            return
        assert asyncio.get_running_loop().time() < deadline, "the journey never started its cutoff timer"
        await asyncio.sleep(0.1)


def kill_9(worker: WorkerProcess) -> None:
    assert worker.process is not None
    os.killpg(worker.process.pid, signal.SIGKILL)  # its own session (start_new_session): the worker and nothing else
    worker.process.wait()


@pytest.mark.timeout(120)
async def test_a_query_waiting_through_a_crash_does_not_fork_the_journey(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = dev_server_env
    task_queue = f"crash-{uuid.uuid4().hex[:8]}"
    address = env.client.service_client.config.target_host
    spawn = worker_env(address, env.client.namespace, tmp_path, task_queue)
    client = RecoveryClient(env.client, quiet_playbook(), task_queue)
    customer = f"c-crash-{uuid.uuid4().hex[:8]}"
    handle = env.client.get_workflow_handle(workflow_id_for(customer), result_type=JourneyOutcome)

    first = WorkerProcess("first", tmp_path / "worker-first.log", spawn).start()
    second = WorkerProcess("second", tmp_path / "worker-second.log", spawn)
    query: asyncio.Task[Any] | None = None
    try:
        await wait_until_started([first])
        verified_at = datetime.now(UTC)
        cutoff = verified_at + timedelta(seconds=RECOVERY_WINDOW)
        receipt = await client.record_event(
            OnboardingEvent(
                event_id=f"{customer}:phone",
                customer_id=customer,
                type="onboarding.phone_verified",
                occurred_at=verified_at,
                profile={"timezone": "UTC", "locale": "en", "location": SAMARKAND},
            )
        )
        assert receipt.accepted
        await timer_started(handle)  # the journey sleeps on its cutoff timer
        kill_9(first)

        # Looked at just before the cutoff, as the simulator does: no task pending, so the server sends the
        # query straight to the task queue, where it waits for a poller while the timer fires.
        await asyncio.sleep(max(0.0, (cutoff - datetime.now(UTC)).total_seconds() - 0.7))
        query = asyncio.create_task(handle.query(OnboardingJourney.view, rpc_timeout=timedelta(seconds=60)))
        await asyncio.sleep(max(0.0, (cutoff - datetime.now(UTC)).total_seconds() + 3.0))
        second.start()
        await wait_until_started([second])

        outcome = await asyncio.wait_for(handle.result(), timeout=60)
        await asyncio.gather(query, return_exceptions=True)  # answered or refused: either way, not the point
        history = await handle.fetch_history()
    finally:
        if query is not None and not query.done():
            query.cancel()
        if first.process is not None and first.process.poll() is None:
            kill_9(first)
        if second.process is not None and second.process.poll() is None:
            second.stop()

    events = list(history.events)
    timeline = [(e.event_id, EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")) for e in events]
    fired = [e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
    started = [e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    assert outcome.reason == "no_progress_within_recovery_window", outcome
    # Stage A sends nothing here: one wait, on the cutoff; once that timer fired, the journey ends.
    assert fired and all(e.event_id < fired[0] for e in started), (
        "the journey waited again after its cutoff timer fired (timers "
        f"{[(e.event_id, e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()) for e in started]}"
        f"): {timeline}"
    )
    result = await Replayer(workflows=[OnboardingJourney], data_converter=converter_for_tests()).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None, f"{result.replay_failure}\n{timeline}"
