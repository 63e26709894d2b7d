"""Every path of the playbook, end to end: the real workflow and activities, on the time-skipping server.

Each test drives a customer the way the app would (events through the client), lets the journey's
own timers run by skipping time, and checks what the customer would have received (the outbox), what
support was told, and what ops see (the journey view and its outcome).
"""

import itertools
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from journal.services import set_service_health
from tests.harness import Bench, eventually, zone_where_local_hour_is
from workflows.human_tasks import TaskOutcome, TaskRefused

FUNNEL_AFTER_PHONE = (
    "onboarding.document_uploaded",
    "onboarding.document_approved",
    "onboarding.biometric_passed",
    "onboarding.completed",
)


async def finish_onboarding(bench: Bench, steps: tuple[str, ...] = FUNNEL_AFTER_PHONE) -> None:
    for event_type in steps:
        await bench.send(event_type)
        await bench.skip(minutes=5)


def local_hours(messages: list[dict[str, Any]], tz: str) -> list[int]:
    return [datetime.fromisoformat(m["created_at"]).astimezone(ZoneInfo(tz)).hour for m in messages]


async def test_happy_path_sends_nothing(bench: Bench) -> None:
    await bench.send("onboarding.started")
    await bench.send("onboarding.phone_verified")
    await finish_onboarding(bench)
    outcome = await bench.outcome()
    assert outcome.kind == "completed"
    assert (outcome.preceded_by, outcome.assisted, outcome.drop_off_stages) == ("none", False, [])
    assert bench.outbox() == []


async def test_stage_a_recovered_after_the_first_nudge(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.skip(minutes=50)
    assert bench.outbox() == [], "no nudge before the stage's drop-off threshold"
    await bench.skip(minutes=20)
    [nudge] = bench.outbox()
    assert nudge["channel"] == "push"
    assert "photo of your passport" in nudge["text"]
    assert nudge["deep_link"] == "app://onboarding/document?tutorial=1"
    assert (nudge["stage"], nudge["attempt"]) == ("phone_verified", 1)
    view = await bench.view()
    assert (view.status, view.drop_off_stage, view.nudges_sent) == ("nudging", "phone_verified", 1)
    await finish_onboarding(bench)
    outcome = await bench.outcome()
    assert (outcome.kind, outcome.preceded_by, outcome.drop_off_stages) == ("completed", "nudge_1", ["phone_verified"])
    assert len(bench.outbox()) == 1


async def test_stage_a_three_unanswered_nudges_then_sms_with_the_nearest_store(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.skip(hours=40)
    messages = bench.outbox()
    assert [(m["channel"], m["kind"], m["attempt"]) for m in messages] == [
        ("push", "nudge", 1),
        ("push", "nudge", 2),
        ("push", "nudge", 3),
        ("sms", "sms_store_offer", 1),
    ]
    sms = messages[-1]
    assert "Samarkand Registan store" in sms["text"] and "Registan street 5" in sms["text"]
    # The frequency cap and quiet hours held all the way: 2 in any 24 h, 3 h apart, never at night.
    times = [datetime.fromisoformat(m["created_at"]) for m in messages]
    assert all(b - a >= timedelta(hours=3) for a, b in itertools.pairwise(times))
    assert all(sum(1 for t in times if s <= t < s + timedelta(hours=24)) <= 2 for s in times)
    assert all(9 <= h < 21 for h in local_hours(messages, bench.timezone))
    view = await bench.view()
    assert view.status == "escalated"
    await bench.skip(hours=30)
    outcome = await bench.outcome()
    assert (outcome.kind, outcome.stage, outcome.preceded_by) == ("abandoned", "phone_verified", "sms_store_offer")


async def test_stage_b_reason_specific_copy_then_a_video_call_task(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.document_uploaded")
    await bench.send("onboarding.document_rejected", reason="glare")
    await bench.skip(hours=30)
    nudges = bench.outbox()
    assert len(nudges) == 3
    assert all("glare" in m["text"] and "video call" in m["text"] for m in nudges)
    assert all(m["deep_link"] == "app://onboarding/document?retry=1" for m in nudges)
    view = await bench.view()
    assert view.status == "awaiting_agent"
    task = view.open_task
    assert task is not None and (task.kind, task.reason, task.state) == ("video_call", "playbook_escalation", "open")
    [notice] = bench.staff_notifications()
    assert (notice["kind"], notice["task_id"]) == ("task_opened", task.task_id)

    claimed = await bench.client.claim_task(task.task_id, "agent-ana")
    assert (claimed.state, claimed.claimed_by) == ("claimed", "agent-ana")
    with pytest.raises(TaskRefused, match="claimed by another agent"):
        await bench.client.complete_task(task.task_id, "agent-bob", TaskOutcome.VERIFIED_ON_CALL)
    done = await bench.client.complete_task(
        task.task_id, "agent-ana", TaskOutcome.VERIFIED_ON_CALL, note="checked on video"
    )
    assert done.outcome == "verified_on_call"
    view = await bench.view()
    assert (view.stage, view.status, view.open_task) == ("document_approved", "active", None)
    await finish_onboarding(bench, ("onboarding.biometric_passed", "onboarding.completed"))
    outcome = await bench.outcome()
    assert (outcome.kind, outcome.assisted, outcome.preceded_by) == ("completed", True, "human_task")


async def test_help_requested_goes_to_a_human_at_once_and_pauses_nudges(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.help_requested")
    await bench.skip(minutes=1)
    view = await bench.view()
    assert view.open_task is not None
    assert (view.open_task.kind, view.open_task.reason) == ("help_request", "help_requested")
    assert view.open_task.due_at - view.open_task.opened_at == timedelta(hours=1)
    assert [n["kind"] for n in bench.staff_notifications()] == ["task_opened"]
    await bench.skip(hours=10)
    assert bench.outbox() == [], "an agent has the customer: no automated nudges meanwhile"


async def test_a_task_nobody_claims_by_its_due_time_is_escalated_once(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.help_requested")
    await bench.skip(minutes=59)
    assert [n["kind"] for n in bench.staff_notifications()] == ["task_opened"]
    await bench.skip(minutes=2)
    assert [n["kind"] for n in bench.staff_notifications()] == ["task_opened", "task_overdue"]
    view = await bench.view()
    assert [(d.action, d.reason) for d in view.decisions if d.action == "task_overdue"] == [
        ("task_overdue", "unclaimed_past_due")
    ]
    assert view.open_task is not None and view.open_task.state == "open", "still waiting for an agent"
    await bench.skip(hours=5)
    assert len(bench.staff_notifications()) == 2


async def test_a_task_worked_after_the_window_still_ends_in_the_store_offer(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.help_requested")
    await bench.skip(hours=50)
    view = await bench.view()
    assert view.outcome is None and view.open_task is not None, "a live task holds the 48-hour window"
    await bench.client.claim_task(view.open_task.task_id, "agent-ana")
    await bench.client.complete_task(view.open_task.task_id, "agent-ana", TaskOutcome.UNREACHABLE)
    await bench.skip(minutes=5)
    [sms] = bench.outbox()
    assert (sms["channel"], sms["kind"]) == ("sms", "sms_store_offer")
    await bench.skip(hours=49)
    outcome = await bench.outcome()
    assert (outcome.kind, outcome.preceded_by) == ("abandoned", "sms_store_offer")


async def test_second_rejection_goes_to_a_human_at_once(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.document_uploaded")
    await bench.send("onboarding.document_rejected", reason="blur")
    await bench.skip(minutes=10)
    assert (await bench.view()).open_task is None
    await bench.send("onboarding.document_uploaded")
    await bench.send("onboarding.document_rejected", reason="fingers over the photo")
    await bench.skip(minutes=1)
    view = await bench.view()
    assert view.open_task is not None and view.open_task.reason == "repeated_rejection"
    assert "blur" in view.open_task.detail and "other" in view.open_task.detail
    assert bench.outbox() == []


async def test_quiet_hours_defer_the_nudge_to_nine_in_the_morning(bench: Bench) -> None:
    bench.timezone = zone_where_local_hour_is(await bench.now(), 21)
    await bench.send("onboarding.phone_verified")
    await bench.skip(hours=3)
    assert bench.outbox() == [], "due at 22:xx local: deferred, not sent"
    view = await bench.view()
    assert [(d.action, d.reason) for d in view.suppressed] == [("deferred", "quiet_hours")]
    assert view.attempts_at_stage == 0, "a deferred nudge is not an attempt"
    await bench.skip(hours=10)
    [nudge] = bench.outbox()
    sent_local = datetime.fromisoformat(nudge["created_at"]).astimezone(ZoneInfo(bench.timezone))
    assert (sent_local.hour, sent_local.minute) == (9, 0)
    assert nudge["attempt"] == 1


async def test_frequency_cap_defers_the_third_nudge_of_a_day(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")  # local 10:00; nudges due 11:00, 15:00, 23:00
    await bench.skip(hours=20)
    assert len(bench.outbox()) == 2
    view = await bench.view()
    assert [(d.action, d.reason) for d in view.suppressed] == [("deferred", "frequency_cap")]
    await bench.skip(hours=6)
    third = bench.outbox()[2]
    first = bench.outbox()[0]
    gap = datetime.fromisoformat(third["created_at"]) - datetime.fromisoformat(first["created_at"])
    assert gap >= timedelta(hours=24), "a third message waits until the first is a day old"


async def test_push_opt_out_falls_back_to_sms(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.send("customer.opted_out", channel="push")
    await bench.skip(hours=2)
    [nudge] = bench.outbox()
    assert nudge["channel"] == "sms"
    view = await bench.view()
    assert view.messages[0].fallback and view.opted_out == ["push"]
    await bench.send("customer.opted_in", channel="push")
    await bench.skip(hours=5)
    assert [m["channel"] for m in bench.outbox()] == ["sms", "push"]


async def test_opt_out_of_all_stops_messaging_but_keeps_tracking(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.send("customer.opted_out", channel="all")
    await bench.skip(hours=30)
    assert bench.outbox() == []
    view = await bench.view()
    assert view.status == "opted_out"
    assert ("suppressed", "opted_out") in [(d.action, d.reason) for d in view.suppressed]
    await bench.send("onboarding.document_uploaded")
    await bench.skip(minutes=1)
    assert (await bench.view()).stage == "document_uploaded", "still tracking progress"
    await bench.skip(hours=200)
    outcome = await bench.outcome()
    assert outcome.kind == "opted_out"


async def test_no_progress_for_48_hours_ends_the_journey_as_abandoned(bench: Bench) -> None:
    await bench.send("onboarding.document_approved")
    await bench.skip(hours=47)
    assert (await bench.view()).outcome is None
    await bench.skip(hours=2)
    outcome = await bench.outcome()
    assert (outcome.kind, outcome.stage, outcome.reason) == (
        "abandoned",
        "document_approved",
        "no_progress_within_recovery_window",
    )
    assert outcome.drop_off_stages == ["document_approved"]
    assert all("selfie" in m["text"] for m in bench.outbox() if m["kind"] == "nudge")


async def test_completion_mid_playbook_cancels_pending_nudges(bench: Bench) -> None:
    await bench.send("onboarding.document_approved")
    await bench.skip(hours=2)
    assert len(bench.outbox()) == 1
    await bench.send("onboarding.completed")
    outcome = await bench.outcome()
    assert (outcome.kind, outcome.preceded_by) == ("completed", "nudge_1")
    await bench.skip(hours=30)
    assert len(bench.outbox()) == 1


async def test_duplicate_late_and_out_of_order_events(bench: Bench) -> None:
    t0 = await bench.now()
    await bench.send("onboarding.started", event_id="ev-1", occurred_at=t0)
    await bench.send("onboarding.document_uploaded", event_id="ev-3", occurred_at=t0 + timedelta(minutes=3))
    await bench.send("onboarding.phone_verified", event_id="ev-2", occurred_at=t0 + timedelta(minutes=2))  # late
    await bench.signal_again(
        "onboarding.document_uploaded", event_id="ev-3", occurred_at=t0 + timedelta(minutes=3)
    )  # twice
    await bench.skip(minutes=1)
    view = await bench.view()
    assert view.stage == "document_uploaded"
    assert [(e.event_id, e.effect) for e in view.events] == [
        ("ev-1", "advanced"),
        ("ev-3", "advanced"),
        ("ev-2", "stale"),
    ]
    assert view.duplicates_ignored == 1
    # A rejected document may be uploaded again: the one move backwards the funnel allows.
    await bench.send(
        "onboarding.document_rejected", event_id="ev-4", occurred_at=t0 + timedelta(minutes=4), reason="expired"
    )
    await bench.send("onboarding.document_uploaded", event_id="ev-5", occurred_at=t0 + timedelta(minutes=5))
    await bench.skip(minutes=1)
    assert (await bench.view()).stage == "document_uploaded"


async def test_an_event_after_the_journey_ended_is_ignored(bench: Bench) -> None:
    await bench.send("onboarding.completed")
    await bench.outcome()
    receipt = await bench.send("onboarding.phone_verified")
    assert not receipt.accepted and "ended" in receipt.note
    view = await bench.view()
    assert (view.status, view.stage, len(view.events)) == ("completed", "completed", 1)


async def test_error_copy_says_it_was_our_fault_and_waits_for_the_service(bench: Bench) -> None:
    assert bench.client.journal is not None
    set_service_health(bench.client.journal, "ocr", False, await bench.now())
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.error", error="maintenance", service="ocr")
    await bench.skip(hours=3)
    assert bench.outbox() == []
    view = await bench.view()
    assert ("deferred", "service_unhealthy") in [(d.action, d.reason) for d in view.suppressed]
    assert view.attempts_at_stage == 0
    set_service_health(bench.client.journal, "ocr", True, await bench.now())  # no wake-up: the next recheck sees it
    await bench.skip(minutes=31)
    [nudge] = bench.outbox()
    assert "maintenance" in nudge["text"] and "passport photo" in nudge["text"]


async def test_review_that_stalls_alerts_ops_not_the_customer(bench: Bench) -> None:
    await bench.send("onboarding.document_uploaded")
    await bench.skip(hours=3)
    assert [n["kind"] for n in bench.staff_notifications()] == ["review_stalled"]
    assert bench.outbox() == []
    await bench.skip(hours=60)
    assert (await bench.view()).outcome is None, "a customer waiting on us is not abandoned at 48 h"


async def test_agent_outcomes_move_the_journey(bench: Bench) -> None:
    customers = {outcome: f"{bench.customer_id}-{i}" for i, outcome in enumerate(TaskOutcome)}
    for customer_id in customers.values():
        await bench.send("onboarding.document_approved", customer_id=customer_id)
        await bench.send("onboarding.help_requested", customer_id=customer_id)
    await bench.skip(minutes=1)
    for outcome, customer_id in customers.items():
        task = (await bench.view(customer_id)).open_task
        assert task is not None
        await bench.client.claim_task(task.task_id, "agent-ana")
        await bench.client.complete_task(task.task_id, "agent-ana", outcome)
    await bench.skip(minutes=1)

    store = await bench.outcome(customers[TaskOutcome.ACTIVATED_IN_STORE])
    assert (store.kind, store.assisted, store.preceded_by) == ("completed", True, "human_task")
    assert (await bench.view(customers[TaskOutcome.VERIFIED_ON_CALL])).stage == "biometric_passed"
    [sms] = bench.outbox(customers[TaskOutcome.UNREACHABLE])
    assert (sms["channel"], sms["kind"]) == ("sms", "sms_store_offer")
    retry = await bench.view(customers[TaskOutcome.CUSTOMER_WILL_RETRY])
    assert retry.stage == "document_approved" and retry.attempts_at_stage == 0
    assert retry.recovery_deadline > retry.started_at + timedelta(hours=48), "a fresh recovery window"
    await bench.skip(hours=2)
    assert len(bench.outbox(customers[TaskOutcome.CUSTOMER_WILL_RETRY])) == 1, "the stage's playbook starts over"


async def test_agent_requests_the_journey_refuses(live_bench: Bench) -> None:
    # On the real dev server: refused Updates leave the time-skipping test server unable to skip time.
    bench = live_bench
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.help_requested")

    async def task_opened() -> bool:
        return (await bench.view()).open_task is not None

    await eventually(task_opened)
    task = (await bench.view()).open_task
    assert task is not None
    with pytest.raises(TaskRefused, match="unknown task"):
        await bench.client.claim_task(f"{bench.customer_id}:task-9", "agent-ana")
    with pytest.raises(TaskRefused, match="must be claimed"):
        await bench.client.complete_task(task.task_id, "agent-ana", TaskOutcome.UNREACHABLE)
    await bench.client.claim_task(task.task_id, "agent-ana")
    with pytest.raises(TaskRefused, match="claimed by another agent"):
        await bench.client.claim_task(task.task_id, "agent-bob")
    await bench.client.complete_task(task.task_id, "agent-ana", TaskOutcome.CUSTOMER_WILL_RETRY)
    with pytest.raises(TaskRefused, match="already completed"):
        await bench.client.complete_task(task.task_id, "agent-ana", TaskOutcome.UNREACHABLE)
    view = await bench.view()
    assert sum(d.action == "task_completed" for d in view.decisions) == 1
