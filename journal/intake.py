"""The intake ledger: each event id with its content's fingerprint, pending before its signal and
delivered (or ignored) after, so a resent event costs no signal and one never confirmed is sent again.

`IntakeLedger` is how a process's concurrent intakes write it: claims that arrive while a transaction
runs are written together in the next one, and so are settlements, one transaction at a time on one
thread. Each intake still has its claim committed before its signal and its settlement after; what it
saves is a transaction (and its commit) and a worker thread per request, and on SQLite the writers of
one process queueing on the database's lock (`busy_timeout` sleeps) instead of in memory.
"""

import asyncio
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, case, select, update

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
    with engine.begin() as connection:
        return _claim(connection, engine, events, customer_ids, now)


def _claim(
    connection: Connection,
    engine: Engine,
    events: Sequence[tuple[str, str, str]],
    customer_ids: Iterable[str],
    now: datetime,
) -> tuple[dict[str, Claim], dict[str, datetime]]:
    rows: dict[str, tuple[str, str]] = {}
    for event_id, customer_id, digest in events:
        rows.setdefault(event_id, (customer_id, digest))  # twice in a batch: the first one is the event
    ids = sorted(rows)  # one lock order for every batch: concurrent batches on PostgreSQL cannot deadlock
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
    return claims, floors  # type: ignore[return-value]


def settle_events(engine: Engine, states: dict[str, str]) -> None:
    """Marks pending events delivered (the signal-with-start succeeded) or ignored; one transaction."""
    with engine.begin() as connection:
        _settle(connection, states)


def _settle(connection: Connection, states: dict[str, str]) -> None:
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


MAX_EVENTS_PER_WRITE = 1000  # claims joined into one statement: 5 parameters each, far below SQLite's 32,766


@dataclass
class _Claims:
    events: Sequence[tuple[str, str, str]]
    customer_ids: set[str]
    now: datetime
    answer: "asyncio.Future[tuple[dict[str, Claim], dict[str, datetime]]]"


@dataclass
class _Settlement:
    states: dict[str, str]
    answer: "asyncio.Future[None]"


@dataclass
class IntakeLedger:
    """The ledger as one process's concurrent intakes write it: what they ask while a transaction runs
    is written together in the next, one transaction at a time, on one thread of its own.

    A claim answers once the transaction that inserted its events has committed, so an event is pending
    before its signal as with `claim_events`; among claims written together the first to name an event
    id is its intake (`Claim.new`), as if they had come one after the other. A failed transaction fails
    every intake in it (each answers 503 and is sent again); nothing of it was written."""

    engine: Engine
    _claims: list[_Claims] = field(default_factory=list)
    _settlements: list[_Settlement] = field(default_factory=list)
    _writer: "asyncio.Task[None] | None" = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-ledger")
    )

    async def claim(
        self, events: Sequence[tuple[str, str, str]], customer_ids: Iterable[str], now: datetime
    ) -> tuple[dict[str, Claim], dict[str, datetime]]:
        """`claim_events`, written with the claims of the other intakes waiting meanwhile."""
        answer = self._loop_now().create_future()
        self._claims.append(_Claims(events, set(customer_ids), now, answer))
        self._wake()
        claims: tuple[dict[str, Claim], dict[str, datetime]] = await answer
        return claims

    async def settle(self, states: dict[str, str]) -> None:
        """`settle_events`, written with the settlements of the other intakes waiting meanwhile."""
        answer = self._loop_now().create_future()
        self._settlements.append(_Settlement(dict(states), answer))
        self._wake()
        await answer

    def _loop_now(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests run one each): what the old one queued died with it
            self._loop, self._writer, self._claims, self._settlements = loop, None, [], []
        return loop

    def _wake(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        while self._settlements or self._claims:
            if self._settlements:  # signals already made: mark them first, they free nothing but a row
                settlements, self._settlements = self._settlements, []
                await self._run(loop, settlements, self._settle_all, settlements)
            if self._claims:
                claims = self._take_claims()
                await self._run(loop, claims, self._claim_all, claims)

    def _take_claims(self) -> list[_Claims]:
        taken, size = 0, 0
        for ask in self._claims:
            if taken and size + len(ask.events) > MAX_EVENTS_PER_WRITE:
                break
            size, taken = size + len(ask.events), taken + 1
        claims, self._claims = self._claims[:taken], self._claims[taken:]
        return claims

    async def _run(self, loop: asyncio.AbstractEventLoop, asks: Sequence[Any], write: Any, *args: Any) -> None:
        try:
            await loop.run_in_executor(self._thread, write, *args)
        except Exception as err:  # every intake of this transaction answers with its failure
            for ask in asks:
                if not ask.answer.done():
                    ask.answer.set_exception(err)

    def _settle_all(self, settlements: list[_Settlement]) -> None:
        states: dict[str, str] = {}
        for settlement in settlements:
            for event_id, state in settlement.states.items():
                if states.get(event_id) != DELIVERED:  # delivered by any intake: it is in the journey
                    states[event_id] = state
        with self.engine.begin() as connection:
            _settle(connection, states)
        for settlement in settlements:
            self._answer(settlement.answer, None)

    def _claim_all(self, claims: list[_Claims]) -> None:
        with self.engine.begin() as connection:
            rows, floors = _claim(
                connection,
                self.engine,
                [event for ask in claims for event in ask.events],
                set().union(*(ask.customer_ids for ask in claims)),
                max(ask.now for ask in claims),
            )
        first: set[str] = set()
        for ask in claims:
            mine = {event_id for event_id, _, _ in ask.events}
            answer = {
                event_id: Claim(row.fingerprint, row.state, row.new and event_id not in first)
                for event_id, row in rows.items()
                if event_id in mine
            }
            first |= mine
            self._answer(ask.answer, (answer, {c: floors[c] for c in ask.customer_ids if c in floors}))

    def _answer(self, answer: "asyncio.Future[Any]", value: Any) -> None:
        """From the ledger's thread: the intake's own loop sets it (unless the intake gave up meanwhile)."""

        def settle() -> None:
            if not answer.done():
                answer.set_result(value)

        answer.get_loop().call_soon_threadsafe(settle)
