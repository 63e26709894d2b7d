"""The intake ledger: each event id with its content's fingerprint, pending before its signal and
delivered (or ignored) after, so a resent event costs no signal and one never confirmed is sent again."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, case, select, update

from journal.schema import ended_journeys, intake_events
from journal.store import insert_into, utc, utc_naive

PENDING, DELIVERED, IGNORED = "pending", "delivered", "ignored"


@dataclass(frozen=True)
class Claim:
    """What the ledger knows of an event id: its content's fingerprint, its state, and whether this
    intake is its first."""

    fingerprint: str
    state: str
    new: bool


def claim_events(
    engine: Engine, events: Sequence[tuple[str, str, str]], customer_ids: Iterable[str], now: datetime
) -> tuple[dict[str, Claim], dict[str, datetime]]:
    """One transaction for a batch: inserts the unknown event ids (`event_id, customer_id, fingerprint`)
    as pending, and reads back every id's row and the end of each customer's latest ended journey."""
    rows: dict[str, tuple[str, str]] = {}
    for event_id, customer_id, digest in events:
        rows.setdefault(event_id, (customer_id, digest))  # twice in a batch: the first one is the event
    ids = sorted(rows)  # one lock order for every batch: concurrent batches on PostgreSQL cannot deadlock
    with engine.begin() as connection:
        inserted: set[str] = set()
        if ids:
            statement = (
                insert_into(engine, intake_events)
                .values(
                    [
                        {
                            "event_id": i,
                            "customer_id": rows[i][0],
                            "fingerprint": rows[i][1],
                            "state": PENDING,
                            "received_at": utc_naive(now),
                        }
                        for i in ids
                    ]
                )
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(intake_events.c.event_id)
            )
            inserted = {r.event_id for r in connection.execute(statement)}
        claims = {
            r.event_id: Claim(r.fingerprint, r.state, r.event_id in inserted)
            for r in connection.execute(select(intake_events).where(intake_events.c.event_id.in_(ids)))
        }
        floors = {
            r.customer_id: utc(r.ended_at)
            for r in connection.execute(
                select(ended_journeys).where(ended_journeys.c.customer_id.in_(sorted(set(customer_ids))))
            )
        }
    return claims, floors


def settle_events(engine: Engine, states: dict[str, str]) -> None:
    """Marks pending events delivered (the signal-with-start succeeded) or ignored; one transaction."""
    with engine.begin() as connection:
        for state in (DELIVERED, IGNORED):
            ids = sorted(i for i, s in states.items() if s == state)
            if ids:
                connection.execute(
                    update(intake_events)
                    .where(intake_events.c.event_id.in_(ids), intake_events.c.state == PENDING)
                    .values(state=state)
                )


def raise_floor(engine: Engine, customer_id: str, ended_at: datetime) -> None:
    """Remembers when the customer's latest ended journey ended (the later of what is known)."""
    at = utc_naive(ended_at)
    with engine.begin() as connection:
        upsert = insert_into(engine, ended_journeys).values(customer_id=customer_id, ended_at=at)
        later = case(
            (ended_journeys.c.ended_at > upsert.excluded.ended_at, ended_journeys.c.ended_at),
            else_=upsert.excluded.ended_at,
        )
        connection.execute(upsert.on_conflict_do_update(index_elements=["customer_id"], set_={"ended_at": later}))
