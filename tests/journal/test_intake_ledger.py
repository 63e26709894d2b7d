"""The intake ledger on SQLite and PostgreSQL: what tells a duplicate from a conflict, and a crash from a delivery."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from journal.intake import DELIVERED, IGNORED, PENDING, IntakeLedger, claim_events, raise_floor, settle_events
from tests.journal.test_store import journal  # noqa: F401  (the SQLite and PostgreSQL fixture)

NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


def test_a_batch_is_claimed_once_and_settled_once(journal: Engine) -> None:
    claims, floors = claim_events(journal, [("e-1", "c-1", "f1"), ("e-2", "c-2", "f2")], {"c-1", "c-2"}, NOW)
    assert {i: (c.fingerprint, c.state, c.new) for i, c in claims.items()} == {
        "e-1": ("f1", PENDING, True),
        "e-2": ("f2", PENDING, True),
    }
    assert floors == {}

    settle_events(journal, {"e-1": DELIVERED, "e-2": IGNORED})
    again, _ = claim_events(
        journal, [("e-1", "c-1", "other"), ("e-2", "c-2", "f2"), ("e-3", "c-1", "f3")], {"c-1"}, NOW
    )
    assert {i: (c.fingerprint, c.state, c.new) for i, c in again.items()} == {
        "e-1": ("f1", DELIVERED, False),  # the first content stands: a different one is a conflict
        "e-2": ("f2", IGNORED, False),
        "e-3": ("f3", PENDING, True),
    }
    settle_events(journal, {"e-1": IGNORED})  # a settled event is not settled again
    assert claim_events(journal, [("e-1", "c-1", "f1")], (), NOW)[0]["e-1"].state == DELIVERED


def test_a_pending_event_is_found_pending_by_the_next_intake(journal: Engine) -> None:
    claim_events(journal, [("e-9", "c-9", "f9")], (), NOW)  # then the process died before its signal
    [claim] = claim_events(journal, [("e-9", "c-9", "f9")], (), NOW)[0].values()
    assert (claim.state, claim.new) == (PENDING, False)


def test_the_floor_is_the_latest_end_known(journal: Engine) -> None:
    raise_floor(journal, "c-1", NOW)
    raise_floor(journal, "c-1", NOW - timedelta(days=1))
    assert claim_events(journal, [], {"c-1", "c-2"}, NOW)[1] == {"c-1": NOW}
    raise_floor(journal, "c-1", NOW + timedelta(hours=1))
    assert claim_events(journal, [], {"c-1"}, NOW)[1] == {"c-1": NOW + timedelta(hours=1)}


async def test_concurrent_intakes_share_a_transaction_and_the_first_to_name_an_event_is_its_intake(
    journal: Engine,
) -> None:
    ledger = IntakeLedger(journal)
    first, second, third = await asyncio.gather(
        ledger.claim([("e-1", "c-1", "f1")], {"c-1"}, NOW),
        ledger.claim([("e-1", "c-1", "f1"), ("e-2", "c-2", "f2")], {"c-2"}, NOW),
        ledger.claim([("e-1", "c-1", "other")], (), NOW),
    )
    assert {i: (c.state, c.new) for i, c in first[0].items()} == {"e-1": (PENDING, True)}
    assert {i: (c.state, c.new) for i, c in second[0].items()} == {"e-1": (PENDING, False), "e-2": (PENDING, True)}
    assert third[0]["e-1"].fingerprint == "f1"  # other content under the same id: the client's conflict
    await asyncio.gather(ledger.settle({"e-1": DELIVERED}), ledger.settle({"e-1": IGNORED, "e-2": IGNORED}))
    again, _ = claim_events(journal, [("e-1", "c-1", "f1"), ("e-2", "c-2", "f2")], (), NOW)
    assert {i: c.state for i, c in again.items()} == {"e-1": DELIVERED, "e-2": IGNORED}


async def test_a_failed_ledger_transaction_fails_every_intake_in_it(tmp_path: Path) -> None:
    ledger = IntakeLedger(create_engine(f"sqlite:///{tmp_path / 'no-schema.db'}"))
    results = await asyncio.gather(
        ledger.claim([("e-1", "c-1", "f1")], (), NOW),
        ledger.claim([("e-2", "c-2", "f2")], (), NOW),
        return_exceptions=True,
    )
    assert all(isinstance(result, OperationalError) for result in results), results
