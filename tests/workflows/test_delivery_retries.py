"""A vendor that fails twice then succeeds: the customer gets the nudge once, through the real HTTP client."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.fake_vendor import FakeVendor, VendorRequest
from tests.harness import Bench, bench_settings, eventually, running_bench
from workflows.human_tasks import TaskOutcome
from workflows.playbook import Playbook

# The retries of a send come 2, 6, 14, 30 and 62 s after its first try. Between the end of a skip and the
# customer's next event real time passes, and on a busy machine it can reach the next retry: 40 s past the
# first try leaves 22 s of real time before the sixth.
PAST_THE_FIFTH_TRY = 40


def push_tries(vendor: FakeVendor) -> list[VendorRequest]:
    """The nudge's tries: a journey left at a stage may also alert ops through the same stand-in."""
    return [r for r in vendor.requests if r.path == "/push"]


@pytest.fixture
async def vendor_bench(
    time_skipping_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path
) -> AsyncIterator[tuple[Bench, FakeVendor]]:
    vendor = FakeVendor()
    settings = bench_settings(
        tmp_path,
        push_webhook_url=vendor.url + "/push",
        sms_webhook_url=vendor.url + "/sms",
        staff_webhook_url=vendor.url + "/staff",
    )
    try:
        async with running_bench(time_skipping_env, default_playbook, settings) as bench:
            yield bench, vendor
    finally:
        vendor.close()


async def test_a_send_that_fails_twice_then_succeeds_is_delivered_once(vendor_bench: tuple[Bench, FakeVendor]) -> None:
    bench, vendor = vendor_bench
    vendor.scripted_statuses = [503, 502, 202]
    await bench.send("onboarding.phone_verified")
    await bench.skip(hours=1, minutes=30)
    assert [r.status for r in vendor.requests] == [503, 502, 202]
    assert len({r.idempotency_key for r in vendor.requests}) == 1, "every retry carries the same key"
    assert len(vendor.delivered) == 1
    view = await bench.view()
    assert view.nudges_sent == 1 and view.attempts_at_stage == 1
    assert bench.outbox() == [], "a configured vendor replaces the local outbox"


async def test_a_send_the_vendor_refuses_is_recorded_and_the_playbook_goes_on(
    vendor_bench: tuple[Bench, FakeVendor],
) -> None:
    bench, vendor = vendor_bench
    vendor.scripted_statuses = [422]
    await bench.send("onboarding.phone_verified")
    await bench.skip(hours=1, minutes=30)
    assert [r.status for r in vendor.requests] == [422], "a 4xx is not retried"
    view = await bench.view()
    assert [(d.action, d.reason) for d in view.decisions if d.action == "failed"] == [("failed", "delivery_failed")]
    assert view.attempts_at_stage == 1 and view.nudges_sent == 0
    await bench.skip(hours=5)
    assert [r.status for r in vendor.requests] == [422, 202], "nudge 2 goes out on schedule"


async def test_a_support_webhook_that_refuses_does_not_end_the_journey(vendor_bench: tuple[Bench, FakeVendor]) -> None:
    bench, vendor = vendor_bench
    vendor.scripted_statuses = [401]  # a wrong token for the support system
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.help_requested")
    await bench.skip(minutes=5)
    view = await bench.view()
    assert view.outcome is None and view.status == "awaiting_agent", "the journey lives on"
    assert ("failed", "notification_failed") in [(d.action, d.reason) for d in view.decisions]
    task = view.open_task
    assert task is not None
    await bench.client.claim_task(task.task_id, "agent-ana")
    await bench.client.complete_task(task.task_id, "agent-ana", TaskOutcome.ACTIVATED_IN_STORE)
    assert (await bench.outcome()).kind == "completed"


async def test_a_send_waiting_on_retries_is_cancelled_when_the_customer_moves_on(
    vendor_bench: tuple[Bench, FakeVendor],
) -> None:
    bench, vendor = vendor_bench
    vendor.scripted_statuses = [503] * 8  # the vendor is down while nudge 1 is due
    await bench.send("onboarding.phone_verified")
    await bench.skip(hours=1, seconds=PAST_THE_FIFTH_TRY)  # nudge 1 is due after an hour: it has failed and waits
    failed_attempts = len(push_tries(vendor))
    assert failed_attempts >= 1 and not vendor.delivered
    await bench.send("onboarding.document_uploaded")  # the customer moves on: the nudge is moot
    await bench.skip(hours=2)
    assert len(push_tries(vendor)) == failed_attempts, "no attempt after the customer progressed"
    assert not [r for r in vendor.requests if r.path == "/push" and r.status < 300]
    view = await bench.view()
    assert [(d.action, d.reason) for d in view.decisions if d.action == "cancelled"] == [
        ("cancelled", "customer_progressed")
    ]
    assert view.nudges_sent == 0 and view.stage == "document_uploaded"


async def test_a_send_waiting_on_retries_is_cancelled_when_the_journey_ends(
    vendor_bench: tuple[Bench, FakeVendor],
) -> None:
    bench, vendor = vendor_bench
    vendor.scripted_statuses = [503] * 8
    await bench.send("onboarding.phone_verified")
    await bench.skip(hours=1, seconds=PAST_THE_FIFTH_TRY)
    failed_attempts = len(push_tries(vendor))
    await bench.send("onboarding.completed")
    outcome = await bench.outcome()
    await bench.skip(hours=2)
    assert outcome.kind == "completed" and outcome.messages_sent == 0
    assert len(push_tries(vendor)) == failed_attempts, "no attempt after the journey ended"


async def test_a_send_under_way_when_the_customer_moves_on_is_kept_if_it_went_out(
    vendor_bench: tuple[Bench, FakeVendor],
) -> None:
    """The vendor has the nudge in hand when the customer's next step arrives: the send finishes, the
    customer got the nudge, and the journey says so (it cannot take a message back)."""
    bench, vendor = vendor_bench
    vendor.answering.clear()
    await bench.send("onboarding.phone_verified")
    await bench.skip(hours=1, seconds=1)

    async def in_flight() -> bool:
        return vendor.arrived == 1

    await eventually(in_flight)
    await bench.send("onboarding.document_uploaded")

    async def moved_on() -> bool:
        return (await bench.view()).stage == "document_uploaded"

    await eventually(moved_on)
    vendor.answering.set()

    async def recorded() -> bool:
        return bool((await bench.view()).messages)

    await eventually(recorded)
    view = await bench.view()
    assert len(vendor.delivered) == 1 and len(push_tries(vendor)) == 1
    assert [(m.stage, m.attempt) for m in view.messages] == [("phone_verified", 1)]
    assert view.nudges_sent == 1
    assert not [d for d in view.decisions if d.action == "cancelled"]
    assert view.stage == "document_uploaded" and view.attempts_at_stage == 0, "the new stage starts afresh"
