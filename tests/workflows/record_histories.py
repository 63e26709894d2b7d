"""Records histories of real journeys for the replay test: `python -m tests.workflows.record_histories [name ...]`.

Run it when a journey's shape changes on purpose (a new path, a patched change) and commit the files;
never re-record to make a failing replay pass: that failure means running journeys would break.
Name the scenarios to record (a new one, or a `before_<change>_` copy made on the old code); with no
names it records them all.
"""

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.fake_vendor import FakeVendor
from tests.harness import Bench, bench_settings, eventually, recovery_client, zone_where_local_hour_is
from tests.temporal_binaries import TEST_SERVER
from workers.worker import build_worker
from workflows.human_tasks import TaskOutcome
from workflows.journey import workflow_id_for
from workflows.playbook import load_playbook

HISTORIES = Path(__file__).parent / "histories"


async def stage_a_escalated_then_abandoned(bench: Bench) -> None:
    await bench.send("onboarding.started")
    await bench.send("onboarding.phone_verified")
    await bench.send("customer.opted_out", channel="push")
    await bench.skip(hours=80)


async def stage_b_video_call_then_completed(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.document_uploaded")
    await bench.send("onboarding.document_rejected", reason="blur")
    await bench.skip(hours=30)
    task = (await bench.view()).open_task
    assert task is not None
    await bench.client.claim_task(task.task_id, "agent-ana")
    await bench.client.complete_task(task.task_id, "agent-ana", TaskOutcome.VERIFIED_ON_CALL)
    await bench.skip(minutes=5)
    await bench.send("onboarding.biometric_passed")
    await bench.send("onboarding.completed")
    await bench.skip(minutes=5)


async def outage_deferred_then_nudged(bench: Bench) -> None:
    from journal.services import set_service_health

    assert bench.client.journal is not None
    set_service_health(bench.client.journal, "ocr", False, await bench.now())
    await bench.send("onboarding.document_approved")
    await bench.send("onboarding.error", error="service_unavailable", service="ocr")
    await bench.skip(hours=2)
    set_service_health(bench.client.journal, "ocr", True, await bench.now())  # no wake-up: the recheck sees it
    await bench.skip(hours=1)
    await bench.send("onboarding.help_requested")
    await bench.skip(minutes=5)
    await bench.send("onboarding.completed")
    await bench.skip(minutes=5)


async def outage_ended_by_report(bench: Bench) -> None:
    """A nudge held for ocr; ocr reported healthy (PUT /v1/services/ocr): the journey is signalled
    (`service_recovered`) and sends at once, not at its next recheck."""
    from journal.services import set_service_health
    from starters.service_health import report_service_health

    assert bench.client.journal is not None
    set_service_health(bench.client.journal, "ocr", False, await bench.now())
    await bench.send("onboarding.document_approved")
    await bench.send("onboarding.error", error="service_unavailable", service="ocr")
    await bench.skip(hours=1, minutes=10)
    report = await report_service_health(bench.env.client, bench.client.journal, "ocr", True, await bench.now())
    assert report.woken == 1
    await bench.skip(minutes=1)
    assert (await bench.view()).nudges_sent == 1
    await bench.send("onboarding.completed")
    await bench.skip(minutes=5)


async def help_unclaimed_then_claimed_late(bench: Bench) -> None:
    await bench.send("onboarding.document_approved")
    await bench.send("onboarding.help_requested")
    await bench.skip(hours=3)
    task = (await bench.view()).open_task
    assert task is not None
    await bench.client.claim_task(task.task_id, "agent-ana")
    await bench.client.complete_task(task.task_id, "agent-ana", TaskOutcome.UNREACHABLE)
    await bench.skip(hours=50)


async def flood_folded_in_shares(bench: Bench) -> None:
    """Two big batches in one workflow task: the journey folds one, then takes the other in the next task.

    The journey is started on a queue no worker polls yet, so both batches wait for the same task.
    """
    from workflows.events import OnboardingEvent
    from workflows.journey import EVENTS_PER_TASK, JourneyInput, OnboardingJourney

    queue = f"{bench.settings.task_queue}-flood"
    now = await bench.now()

    def batch(first: int) -> list[OnboardingEvent]:
        return [
            OnboardingEvent(
                event_id=f"f{n}",
                customer_id=bench.customer_id,
                type="onboarding.error",
                occurred_at=now,
                attributes={"error": "high_latency", "service": "ocr"},
            )
            for n in range(first, first + EVENTS_PER_TASK // 2 + 1)
        ]

    first_event = OnboardingEvent(
        event_id="start", customer_id=bench.customer_id, type="onboarding.phone_verified", occurred_at=now
    )
    handle = await bench.env.client.start_workflow(
        OnboardingJourney.run,
        JourneyInput(customer_id=bench.customer_id, playbook=bench.client.playbook),
        id=workflow_id_for(bench.customer_id),
        task_queue=queue,
        start_signal="record_event",
        start_signal_args=[first_event],
    )
    for first in (0, 10_000, 20_000):
        await handle.signal("record_events", batch(first))
    async with build_worker(bench.env.client, bench.settings.model_copy(update={"task_queue": queue})):
        await bench.skip(minutes=5)
        await handle.signal(
            "record_event",
            OnboardingEvent(
                event_id="done",
                customer_id=bench.customer_id,
                type="onboarding.completed",
                occurred_at=await bench.now(),
            ),
        )
        await bench.skip(minutes=5)
        await handle.result()


async def cancelled_in_temporal_ui(bench: Bench) -> None:
    """A journey nudging at stage A, cancelled from the Temporal Web UI (a workflow cancel request).

    Before operator-close the journey ended as Temporal's `Canceled` with the journal saying `active`;
    since, it ends `closed` ("cancelled in Temporal") and writes that to the journal first.
    """
    from temporalio.client import WorkflowFailureError

    await bench.send("onboarding.phone_verified")
    await bench.skip(hours=3)
    handle = bench.env.client.get_workflow_handle(workflow_id_for(bench.customer_id))
    await handle.cancel()
    try:
        await handle.result()
    except WorkflowFailureError:
        pass  # the old code: the journey ended cancelled


async def biometric_failed_twice_to_agent(bench: Bench) -> None:
    """Two failed selfies: since high-intent the second opens a video call at once, as two rejections do;
    before it the journey nudged the stage and escalated only after its nudges."""
    await bench.send("onboarding.document_approved")
    await bench.send("onboarding.biometric_failed")
    await bench.skip(minutes=30)
    await bench.send("onboarding.biometric_failed")
    await bench.skip(hours=2)
    task = (await bench.view()).open_task
    if task is not None:  # high-intent: the task opened with the second failure
        await bench.client.claim_task(task.task_id, "agent-ana")
        await bench.client.complete_task(task.task_id, "agent-ana", TaskOutcome.VERIFIED_ON_CALL)
        await bench.skip(minutes=5)
    await bench.send("onboarding.completed")
    await bench.skip(minutes=5)


async def error_first_then_nudged(bench: Bench) -> None:
    """Our error as the customer's first event: since high-intent the journey nudges at stage `started`
    with the error copy once the service answers healthy; before it, it waited for a funnel step."""
    await bench.send("onboarding.error", error="service_unavailable", service="ocr")
    await bench.skip(hours=2)
    await bench.send("onboarding.phone_verified")
    await bench.skip(minutes=5)
    await bench.send("onboarding.completed")
    await bench.skip(minutes=5)


async def completed_then_early_life(bench: Bench) -> None:
    """An activated customer: since early-life the completing journey starts their early-life journey
    (the `start_early_life` activity, after the patch marker) before it ends; before it, it just ended."""
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.document_approved")
    await bench.skip(minutes=30)
    await bench.send("onboarding.completed")
    await bench.skip(minutes=5)


async def unreachable_everywhere_then_abandoned(bench: Bench) -> None:
    """No vendor can reach the customer: the push nudge undelivered, then the SMS it falls back to
    undelivered too (Twilio's receipts). Since unreachable-not-opted-out the journey says unreachable,
    not opted out: it waits with status nudging and ends abandoned at the cutoff."""
    from workflows.contracts import DeliveryStatus

    handle = bench.env.client.get_workflow_handle(workflow_id_for(bench.customer_id))
    await bench.send("onboarding.phone_verified")
    for channel in ("push", "sms"):
        await bench.skip(hours=2)
        *_, message = [m for m in (await bench.view()).messages if m.channel == channel]
        receipt = DeliveryStatus(message_id=message.message_id, status="undelivered", at=await bench.now())
        await handle.signal("record_delivery_status", receipt)
        await bench.view()
    await bench.skip(hours=60)


async def early_life_nudged_then_re_engaged(bench: Bench) -> None:
    """The early-life journey itself (its history is the one saved): dormant after 7 days, nudged,
    active again (re-engaged), a retention call after the next dormancy's nudges, the period's end."""
    from workflows.early_life_input import early_life_workflow_id

    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.completed")
    await bench.skip(days=7, hours=1)
    await bench.send("customer.active", kind="transaction")
    await bench.skip(days=11, hours=1)
    view = await bench.early_life()
    assert view.open_task is not None
    await bench.client.claim_task(view.open_task.task_id, "agent-ana")
    await bench.client.complete_task(view.open_task.task_id, "agent-ana", TaskOutcome.UNREACHABLE)
    await bench.skip(days=13)
    await bench.env.client.get_workflow_handle(early_life_workflow_id(bench.customer_id)).result()


async def delivery_under_way_then_progressed(bench: Bench, vendor: FakeVendor) -> None:
    """The vendor holds nudge 1 while the customer uploads their document; then it takes it."""
    vendor.answering.clear()
    await bench.send("onboarding.phone_verified")
    await bench.skip(hours=1, seconds=1)
    await eventually(lambda: _true(vendor.arrived == 1))
    await bench.send("onboarding.document_uploaded")
    await eventually(lambda: _stage_is(bench, "document_uploaded"))
    vendor.answering.set()
    await eventually(lambda: _true(len(vendor.delivered) == 1))
    await bench.skip(hours=1)


async def _true(value: bool) -> bool:
    return value


async def _stage_is(bench: Bench, stage: str) -> bool:
    return (await bench.view()).stage == stage


# Scenarios whose push, SMS and staff messages go to a vendor stand-in the scenario steers.
VENDOR_SCENARIOS = [delivery_under_way_then_progressed]
Scenario = Callable[[Bench], Awaitable[None]] | Callable[[Bench, FakeVendor], Awaitable[None]]

SCENARIOS = [
    completed_then_early_life,
    early_life_nudged_then_re_engaged,
    biometric_failed_twice_to_agent,
    error_first_then_nudged,
    cancelled_in_temporal_ui,
    flood_folded_in_shares,
    help_unclaimed_then_claimed_late,
    stage_a_escalated_then_abandoned,
    stage_b_video_call_then_completed,
    outage_deferred_then_nudged,
    outage_ended_by_report,
    unreachable_everywhere_then_abandoned,
]


async def record(names: list[str]) -> None:
    every: list[Scenario] = [*SCENARIOS, *VENDOR_SCENARIOS]
    unknown = set(names) - {scenario.__name__ for scenario in every}
    if unknown:
        raise SystemExit(f"no such scenario: {', '.join(sorted(unknown))}")
    HISTORIES.mkdir(exist_ok=True)
    for scenario in every:
        if names and scenario.__name__ not in names:
            continue
        history = await record_one(scenario)
        target = HISTORIES / f"{scenario.__name__}.json"
        target.write_text(history.to_json(), encoding="utf-8")
        print(f"{target.name}: {len(history.events)} events")


async def record_one(scenario: Scenario) -> WorkflowHistory:
    from tests.conftest import register_search_attributes

    # A server per scenario, as the tests have: a journey ended with work outstanding can leave a
    # time-skipping server running its sleeps in real time (sdk-java#1138).
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
    )
    vendor = FakeVendor() if scenario in VENDOR_SCENARIOS else None
    vendor_urls = {f"{kind}_webhook_url": f"{vendor.url}/{kind}" for kind in ("push", "sms", "staff")} if vendor else {}
    try:
        await register_search_attributes(env)
        with tempfile.TemporaryDirectory() as data_dir:
            settings = bench_settings(Path(data_dir), **vendor_urls)
            async with build_worker(env.client, settings):
                bench = Bench(
                    env,
                    recovery_client(env, load_playbook().model_copy(update={"holdout_share": 0.0}), settings),
                    settings,
                )
                bench.timezone = zone_where_local_hour_is(await bench.now(), 10)
                if vendor is not None:
                    await cast(Callable[[Bench, FakeVendor], Awaitable[None]], scenario)(bench, vendor)
                else:
                    await cast(Callable[[Bench], Awaitable[None]], scenario)(bench)
                workflow_id = workflow_id_for(bench.customer_id)
                if scenario.__name__.startswith("early_life_"):  # the early-life journey's own history
                    workflow_id = f"early-life-{bench.customer_id}"
                history = await env.client.get_workflow_handle(workflow_id).fetch_history()
                await bench.stop_journeys()
    finally:
        if vendor is not None:
            vendor.close()
        await env.shutdown()
    return history


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:]))
