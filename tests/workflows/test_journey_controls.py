"""Operators' controls on the time-skipping server: closing a journey (the `close_journey` Update), a
cancel request from the Temporal UI closing it the same way, and finding journeys in the journal."""

from datetime import timedelta
from typing import Any

import pytest

from core.deps import JourneyNotFound
from journal.listing import list_journeys
from journal.schema import journal_entries, journeys
from journal.store import read_rows
from tests.harness import Bench, eventually
from workflows.journey import workflow_id_for
from workflows.journey_controls import CloseRefused
from workflows.journey_state import DecisionAction, JourneyStatus, OutcomeKind


def journal_row(bench: Bench, customer_id: str | None = None) -> dict[str, Any] | None:
    assert bench.client.journal is not None
    rows = read_rows(bench.client.journal, journeys, [journeys.c.customer_id == (customer_id or bench.customer_id)])
    return max(rows, key=lambda r: r["started_at"]) if rows else None


async def journal_says(bench: Bench, status: str, customer_id: str | None = None) -> None:
    async def check() -> bool:
        row = journal_row(bench, customer_id)
        return row is not None and row["status"] == status

    await eventually(check)


async def test_a_closed_journey_ends_at_once_and_says_so_everywhere(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.help_requested")
    await bench.skip(hours=3)
    assert (await bench.view()).open_task is not None

    outcome = await bench.client.close_journey(bench.customer_id, "customer asked us to stop by phone", "ops-ana")
    assert (outcome.kind, outcome.reason, outcome.closed_by) == (
        OutcomeKind.CLOSED,
        "customer asked us to stop by phone",
        "ops-ana",
    )
    assert (await bench.outcome()).kind is OutcomeKind.CLOSED, "the workflow ends with it"

    view = await bench.view()  # readable after the end
    assert view.status is JourneyStatus.CLOSED and view.outcome is not None
    assert view.open_task is None and all(t.state.value == "closed" for t in view.tasks)
    ended = [d for d in view.decisions if d.action is DecisionAction.ENDED]
    assert [(d.reason, d.detail) for d in ended] == [("closed", "by ops-ana: customer asked us to stop by phone")]

    await journal_says(bench, "closed")
    row = journal_row(bench)
    assert row is not None
    assert (row["outcome"], row["outcome_reason"]) == ("closed", "customer asked us to stop by phone")
    assert row["updated_at"] is not None and row["updated_at"] >= row["started_at"]
    assert bench.client.journal is not None
    entries = read_rows(bench.client.journal, journal_entries, [journal_entries.c.name == "ended"])
    assert [(e["reason"], e["detail"]) for e in entries if e["customer_id"] == bench.customer_id] == [
        ("closed", "by ops-ana: customer asked us to stop by phone")
    ]

    with pytest.raises(CloseRefused, match="already ended"):
        await bench.client.close_journey(bench.customer_id, "again", "ops-ana")
    with pytest.raises(JourneyNotFound):
        await bench.client.close_journey("nobody-here", "a reason", "ops-ana")


async def test_events_after_a_close_start_a_new_journey_and_never_reopen_the_closed_one(bench: Bench) -> None:
    """As after any end but completion (the re-entry rules): the closed journey takes nothing more, an
    event from before the close is ignored, one that occurred after it starts a new journey."""
    await bench.send("onboarding.phone_verified")
    await bench.view()
    closed_at = (await bench.client.close_journey(bench.customer_id, "duplicate account", "ops-ana")).ended_at
    await bench.outcome()
    await bench.skip(minutes=10)

    before = await bench.send("onboarding.document_uploaded", occurred_at=closed_at - timedelta(minutes=1))
    assert before.status == "ignored"
    await journal_says(bench, "closed")

    after = await bench.send("onboarding.document_uploaded")
    assert after.status == "recorded" and "new journey" in after.note
    view = await bench.view()
    assert view.status is not JourneyStatus.CLOSED and view.stage.value == "document_uploaded"
    assert view.outcome is None

    assert bench.client.journal is not None
    await eventually(lambda: _rows_are(bench, ["closed", "active"]))
    await bench.view()  # the new journey has taken its last workflow task before the bench ends it


async def _rows_are(bench: Bench, statuses: list[str]) -> bool:
    assert bench.client.journal is not None
    rows = read_rows(bench.client.journal, journeys, [journeys.c.customer_id == bench.customer_id])
    return [r["status"] for r in sorted(rows, key=lambda r: r["started_at"])] == statuses


async def test_a_journey_with_no_event_yet_or_an_ended_one_cannot_be_closed(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.completed")
    assert (await bench.outcome()).kind is OutcomeKind.COMPLETED
    with pytest.raises(CloseRefused, match="already ended"):
        await bench.client.close_journey(bench.customer_id, "too late", "ops-ana")
    assert (await bench.view()).status is JourneyStatus.COMPLETED


async def test_a_cancel_from_the_temporal_ui_closes_the_journey_and_the_journal_says_so(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.skip(hours=3)
    assert (await bench.view()).status is JourneyStatus.NUDGING
    await journal_says(bench, "active")  # a nudge is no milestone: this is what a cancel used to leave for good

    handle = bench.env.client.get_workflow_handle(workflow_id_for(bench.customer_id))
    await handle.cancel()  # what the Web UI's "Cancel" sends

    outcome = await bench.outcome()
    assert (outcome.kind, outcome.reason) == (OutcomeKind.CLOSED, "cancelled in Temporal")
    assert outcome.closed_by == "temporal"
    view = await bench.view()
    assert view.status is JourneyStatus.CLOSED
    assert [d.detail for d in view.decisions if d.action is DecisionAction.ENDED] == [
        "by temporal: cancelled in Temporal"
    ]
    await journal_says(bench, "closed")
    row = journal_row(bench)
    assert row is not None and (row["outcome"], row["outcome_reason"]) == ("closed", "cancelled in Temporal")


async def test_the_listing_pages_every_journey_exactly_once_and_filters(bench: Bench) -> None:
    customers = [f"{bench.customer_id}-{n}" for n in range(7)]
    for n, customer_id in enumerate(customers):
        first = "onboarding.phone_verified" if n % 2 else "onboarding.document_approved"
        await bench.send(first, customer_id=customer_id)
        await bench.skip(minutes=1)
    for customer_id in customers:
        await bench.view(customer_id)
    await bench.client.close_journey(customers[3], "test customer", "ops-ana")
    assert bench.client.journal is not None
    journal = bench.client.journal
    await eventually(lambda: _listed(bench, 7))
    await journal_says(bench, "closed", customers[3])

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await bench.client.list_journeys(limit=3, cursor=cursor)
        pages += 1
        seen += [j.customer_id for j in page.journeys]
        assert len(page.journeys) <= 3
        if page.next is None:
            break
        cursor = page.next
    assert sorted(seen) == sorted(customers) and pages == 3, "every journey once, newest first"
    assert seen == list(reversed(customers))

    closed = list_journeys(journal, status="closed")
    assert [(j.customer_id, j.status, j.outcome) for j in closed.journeys] == [(customers[3], "closed", "closed")]
    assert closed.next is None and closed.journeys[0].ended_at is not None
    at_a = list_journeys(journal, stage="phone_verified")
    assert sorted(j.customer_id for j in at_a.journeys) == sorted(customers[1::2])
    item = at_a.journeys[0]
    assert item.workflow_id == workflow_id_for(item.customer_id) and item.group == "treatment"
    assert item.updated_at is not None and item.updated_at >= item.started_at
    started = sorted(j.started_at for j in (await bench.client.list_journeys()).journeys)
    recent = list_journeys(journal, since=started[4])
    assert sorted(j.customer_id for j in recent.journeys) == sorted(customers[4:])
    assert [j.customer_id for j in list_journeys(journal, customer_id=customers[5]).journeys] == [customers[5]]
    for customer_id in customers:
        await bench.view(customer_id)


async def _listed(bench: Bench, count: int) -> bool:
    return len((await bench.client.list_journeys(limit=100)).journeys) == count
