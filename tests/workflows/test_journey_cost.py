"""What a journey costs in billed Temporal actions: events that change nothing start no timers."""

from temporalio.api.enums.v1 import EventType

from tests.harness import Bench
from workflows.journey import workflow_id_for


async def test_events_that_leave_the_deadline_alone_keep_the_timer(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.skip(minutes=1)
    for n in range(20):  # late repeats under new ids: recorded as stale, the next nudge stays due when it was
        await bench.send("onboarding.phone_verified", event_id=f"again-{n}")
        await bench.skip(seconds=5)
    view = await bench.view()
    assert view.events[-1].effect == "stale" and view.nudges_sent == 0
    history = await bench.env.client.get_workflow_handle(workflow_id_for(bench.customer_id)).fetch_history()
    timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    assert len(timers) == 1, f"{len(timers)} timers for one deadline"
