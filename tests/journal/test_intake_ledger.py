"""The intake ledger on SQLite and PostgreSQL: what tells a duplicate from a conflict, and a crash from a delivery."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from journal.intake import DELIVERED, IGNORED, PENDING, claim_events, raise_floor, settle_events
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
