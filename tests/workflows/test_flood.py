"""An app that mints new event ids in a retry loop cannot freeze a journey (real dev server).

Before the journey's state was bounded, about 9,000 distinct events pushed the state carried across
continue-as-new past Temporal's 2 MB payload limit and every workflow task failed from then on. The
flood here comes in batches of 500 as fast as the client can send them: the journey folds it in a
share per workflow task (so no task trips the SDK's deadlock detector), rolls its history over once
the backlog is worked through, and carries only its windows into the next run.
"""

from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.harness import bench_settings, eventually, running_bench
from workflows.events import OnboardingEvent
from workflows.journey import workflow_id_for
from workflows.journey_state import JourneyOutcome, OutcomeKind
from workflows.playbook import Playbook

DISTINCT_EVENTS = 100_000
PER_SIGNAL = 500
CARRIED_LIMIT = 256 * 1024


async def test_a_hundred_thousand_distinct_events_neither_freeze_nor_swell_the_journey(
    dev_server_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path
) -> None:
    async with running_bench(dev_server_env, default_playbook, bench_settings(tmp_path)) as bench:
        await bench.send("onboarding.phone_verified", event_id="first")
        handle = dev_server_env.client.get_workflow_handle(
            workflow_id_for(bench.customer_id), result_type=JourneyOutcome
        )
        first_run = (await handle.describe()).run_id
        start = await bench.now()
        for first in range(0, DISTINCT_EVENTS, PER_SIGNAL):
            batch = [
                OnboardingEvent(
                    event_id=f"retry-loop-{n:06d}",
                    customer_id=bench.customer_id,
                    type="onboarding.error",
                    occurred_at=start,
                    attributes={"error": "high_latency", "service": "ocr"},
                )
                for n in range(first, first + PER_SIGNAL)
            ]
            await handle.signal("record_events", batch)

        view = await bench.view()  # answers while the flood is being worked through
        assert view.stage == "phone_verified"

        async def rolled_over() -> bool:
            return (await handle.describe()).run_id != first_run

        await eventually(rolled_over, timeout=120)
        await bench.send("onboarding.completed")
        outcome = await handle.result()
        assert outcome.kind is OutcomeKind.COMPLETED

        runs, largest, run_id = 0, 0, (await handle.describe()).run_id
        while run_id:  # walk the chain of runs back from the last one
            history = await dev_server_env.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
            started = history.events[0].workflow_execution_started_event_attributes
            largest = max(largest, started.input.ByteSize())
            assert not any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events)
            runs, run_id = runs + 1, started.continued_execution_run_id
        print(f"\n{DISTINCT_EVENTS:,} distinct events over {runs} runs: largest carried input {largest / 1024:.1f} KB")
        assert runs > 1, "the journey continued as new"
        assert largest < CARRIED_LIMIT
