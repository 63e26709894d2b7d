"""Finding journeys in the journal (journal/listing.py), what the journal keeps for it, and closed
journeys in the report: on SQLite, and on PostgreSQL where a server listens."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from journal.listing import BadCursor, list_journeys
from journal.report import report_from_journal
from journal.schema import journeys
from journal.store import migrate, open_journal, read_rows, write_batch
from tests.journal.test_store import postgres_engine
from workflows.contracts import JournalBatch, JournalEntry, JourneySummary

T0 = datetime(2026, 11, 23, 5, 0)  # naive UTC, as stored


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = open_journal(f"sqlite:///{tmp_path / 'journal.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
    else:
        for engine in postgres_engine():
            migrate(engine)
            yield engine


def row(n: int, started: datetime, **fields: Any) -> dict[str, Any]:
    customer = f"c-{n:03d}"
    return {
        "journey_id": f"onboarding-{customer}:run{n:05d}",
        "workflow_id": f"onboarding-{customer}",
        "customer_id": customer,
        "playbook_version": "default@x",
        "recovery_group": "treatment",
        "started_at": started,
        "stage": "phone_verified",
        "status": "nudging",
        "furthest_stage": "phone_verified",
        "drop_off_stages": "",
        "messages_sent": 2,
        "assisted": False,
        "outcome": None,
        "ended_at": None,
        "updated_at": None,
        "nudges_sent": None,
        **fields,
    }


def test_paging_gives_every_journey_once_newest_first_even_when_one_starts_meanwhile(journal: Engine) -> None:
    # Ties on the start time (a batch started the same second) are ordered by journey id.
    rows = [row(n, T0 + timedelta(minutes=n // 3)) for n in range(10)]
    with journal.begin() as connection:
        connection.execute(insert(journeys), rows)
    first = list_journeys(journal, limit=4)
    with journal.begin() as connection:  # started while someone pages: not on a later page
        connection.execute(insert(journeys), [row(99, T0 + timedelta(days=1))])
    seen = [j.journey_id for j in first.journeys]
    cursor = first.next
    while cursor is not None:
        page = list_journeys(journal, limit=4, cursor=cursor)
        seen += [j.journey_id for j in page.journeys]
        cursor = page.next
    expected = [r["journey_id"] for r in sorted(rows, key=lambda r: (r["started_at"], r["journey_id"]), reverse=True)]
    assert seen == expected
    assert list_journeys(journal, limit=11).journeys[0].customer_id == "c-099"


def test_filters_and_what_each_journey_carries(journal: Engine) -> None:
    with journal.begin() as connection:
        connection.execute(
            insert(journeys),
            [
                row(1, T0, nudges_sent=1, updated_at=T0 + timedelta(hours=3)),
                row(2, T0 + timedelta(hours=1), status="closed", outcome="closed", ended_at=T0 + timedelta(hours=2)),
                row(3, T0 + timedelta(hours=2), stage="document_rejected", recovery_group="holdout"),
            ],
        )
    [closed] = list_journeys(journal, status="closed").journeys
    assert (closed.customer_id, closed.outcome, closed.ended_at) == (
        "c-002",
        "closed",
        (T0 + timedelta(hours=2)).replace(tzinfo=UTC),
    )
    [rejected] = list_journeys(journal, stage="document_rejected").journeys
    assert (rejected.group, rejected.nudges) == ("holdout", 2), "rows from before 0009 show their messages sent"
    assert [
        j.customer_id for j in list_journeys(journal, since=(T0 + timedelta(hours=1)).replace(tzinfo=UTC)).journeys
    ] == ["c-003", "c-002"]
    [one] = list_journeys(journal, customer_id="c-001").journeys
    assert (one.nudges, one.updated_at, one.workflow_id) == (
        1,
        (T0 + timedelta(hours=3)).replace(tzinfo=UTC),
        "onboarding-c-001",
    )
    assert list_journeys(journal, status="completed").journeys == []


@pytest.mark.parametrize("cursor", ["", "garbage", "W10", "WyJub3QgYSBkYXRlIiwgIngiXQ"])
def test_a_cursor_the_listing_did_not_hand_out_is_refused(journal: Engine, cursor: str) -> None:
    with pytest.raises(BadCursor):
        list_journeys(journal, cursor=cursor or "=")


def batch(at: datetime, outcome: str | None = None, status: str = "nudging") -> JournalBatch:
    return JournalBatch(
        journey=JourneySummary(
            workflow_id="onboarding-c-1",
            journey_id="onboarding-c-1:run",
            customer_id="c-1",
            playbook_version="default@x",
            recovery_group="treatment",
            started_at=T0.replace(tzinfo=UTC),
            stage="phone_verified",
            status=status,
            furthest_stage="phone_verified",
            drop_off_stages=["phone_verified"],
            messages_sent=1,
            nudges_sent=1,
            outcome=outcome,
            outcome_reason="duplicate account" if outcome else None,
            ended_at=at if outcome else None,
        ),
        entries=[
            JournalEntry(
                entry_id=f"onboarding-c-1:run:e{at.timestamp()}",
                at=at,
                kind="event",
                name="onboarding.error",
                stage="phone_verified",
            )
        ],
    )


def test_updated_at_never_goes_back_and_a_closed_journey_counts_as_closed(journal: Engine) -> None:
    write_batch(journal, batch(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)))
    write_batch(journal, batch(datetime(2026, 11, 23, 6, 0, tzinfo=UTC)))  # a late event: occurred earlier
    [stored] = read_rows(journal, journeys)
    assert (stored["updated_at"], stored["nudges_sent"]) == (datetime(2026, 11, 23, 9, 0), 1)

    write_batch(journal, batch(datetime(2026, 11, 23, 10, 0, tzinfo=UTC), outcome="closed", status="closed"))
    report = report_from_journal(journal, since=None, until=datetime(2026, 12, 1, tzinfo=UTC))
    assert (report.journeys, report.ended, report.closed, report.completed) == (1, 1, 1, 0)
