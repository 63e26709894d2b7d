"""An app that floods a journey with duplicate events cannot push its history toward Temporal's limits."""

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.harness import bench_settings, running_bench
from workflows.journey import workflow_id_for
from workflows.playbook import Playbook


async def test_a_flood_of_duplicates_rolls_the_history_over_and_keeps_the_journey(
    time_skipping_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path
) -> None:
    limit = 60
    playbook = default_playbook.model_copy(
        update={"guardrails": default_playbook.guardrails.model_copy(update={"continue_as_new_after_events": limit})}
    )
    async with running_bench(time_skipping_env, playbook, bench_settings(tmp_path)) as bench:
        await bench.send("onboarding.phone_verified", event_id="first")
        handle = time_skipping_env.client.get_workflow_handle(workflow_id_for(bench.customer_id))
        first_run = (await handle.describe()).run_id
        for _ in range(150):  # past the intake ledger, which would send a known event no signal at all
            await bench.signal_again("onboarding.phone_verified", event_id="first")
        await bench.send("onboarding.document_uploaded", event_id="second")
        await bench.skip(minutes=1)

        view = await bench.view()
        assert (view.stage, view.duplicates_ignored) == ("document_uploaded", 150)
        assert [e.event_id for e in view.events] == ["first", "second"]
        latest = await handle.describe()
        assert latest.run_id != first_run, "the journey continued as new"
        history = await time_skipping_env.client.get_workflow_handle(handle.id, run_id=latest.run_id).fetch_history()
        assert len(history.events) < limit + 40
