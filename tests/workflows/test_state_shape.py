"""A journey continued before JourneyState grouped its per-stage fields carries them flat in its input:
the workflow reads them into `stage_progress` and the stage's playbook goes on where it stood."""

from datetime import timedelta
from typing import Any

from tests.harness import Bench
from workflows.events import OnboardingEvent
from workflows.journey import workflow_id_for
from workflows.journey_changes import apply_event
from workflows.journey_state import JourneyState, StageProgress, new_journey
from workflows.state_bounds import StateBounds


def flat_shape(state: JourneyState) -> dict[str, Any]:
    """The state as a journey continued before the grouping carries it: per-stage fields at the top level."""
    nested: dict[str, Any] = state.model_dump(mode="json")
    progress: dict[str, Any] = nested.pop("stage_progress")
    return nested | progress


async def test_a_journey_continued_with_the_flat_shape_keeps_its_stages_progress(bench: Bench) -> None:
    now = await bench.now()
    playbook = bench.client.playbook
    first = OnboardingEvent(
        event_id="e-pv",
        customer_id=bench.customer_id,
        type="onboarding.phone_verified",
        occurred_at=now - timedelta(hours=2),
        profile={"timezone": bench.timezone, "locale": "en"},
    )
    state = new_journey(first, playbook, first.occurred_at, holdout_share=0.0, bounds=StateBounds())
    apply_event(state, first, playbook, first.occurred_at)
    # Nudge 1 went out an hour ago (the run before this one sent it).
    state.stage_progress = StageProgress(attempts=1, last_nudge_at=now - timedelta(hours=1), drop_off_detected=True)
    bench.customers.add(bench.customer_id)
    continued: dict[str, Any] = {
        "customer_id": bench.customer_id,
        "playbook": playbook.model_dump(mode="json", by_alias=True),
        "state": flat_shape(state),
    }
    await bench.env.client.start_workflow(
        "OnboardingJourney",
        continued,
        id=workflow_id_for(bench.customer_id),
        task_queue=bench.settings.task_queue,
    )
    view = await bench.view()
    assert (view.status, view.attempts_at_stage, view.next_action) == ("nudging", 1, "nudge 2")
    await bench.skip(hours=2, minutes=50)
    assert bench.outbox() == [], "nudge 2 is due 4 hours after nudge 1, not nudge 1 again"
    await bench.skip(minutes=20)
    [nudge] = bench.outbox()
    assert (nudge["stage"], nudge["attempt"]) == ("phone_verified", 2)
    assert (await bench.view()).attempts_at_stage == 2
