"""Writing to and reading from the journal: SQLite by default, PostgreSQL through a URL.

Every write is an idempotent upsert keyed by ids the workflow derives, so a retried activity
never writes a row twice; and no value that passed the door can make a write fail (times outside
what the database holds are clamped, strings cut to their column).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, String, Table, case, create_engine, desc, event, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.private_files import create_owner_only
from journal.schema import customer_activity, ended_journeys, human_tasks, intake_events, journal_entries, journeys
from workflows.contracts import JournalBatch

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _utc_naive(moment: datetime | None) -> datetime | None:
    """Naive UTC, as stored; a time with no UTC form (year 1 at +14:00) is clamped rather than failing every retry."""
    if moment is None or moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:
        return datetime.min if moment.year == datetime.min.year else datetime.max


def _fit(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Strings cut to their column's length: PostgreSQL refuses a longer one, and a refused write is retried forever."""
    fitted = dict(row)
    for name, value in row.items():
        column_type = table.c[name].type if name in table.c else None
        if isinstance(value, str) and isinstance(column_type, String) and column_type.length and len(value) > column_type.length:
            fitted[name] = value[: column_type.length]
    return fitted


def utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment and moment.tzinfo is None else moment


def open_journal(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if "///" in url and path and path != ":memory:" and not path.startswith("file:"):
            create_owner_only(Path(path))
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers (the report) do not block the worker
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Brings the schema to the newest revision (or `revision`); a no-op when it is there already."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _insert(engine: Engine, table: Any) -> Any:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def journey_id_of(batch: JournalBatch) -> str | None:
    """`<workflow id>:<run key>`: from the summary, or from the entries of a batch built before it said so."""
    if batch.journey.journey_id:
        return batch.journey.journey_id
    return batch.entries[0].entry_id.rsplit(":", 1)[0] if batch.entries else None


def write_batch(engine: Engine, batch: JournalBatch) -> int:
    """Writes a journey's new entries and its latest summary. Returns how many entries were new."""
    summary = batch.journey
    row = summary.model_dump(mode="python")
    row.update(
        started_at=_utc_naive(summary.started_at),
        ended_at=_utc_naive(summary.ended_at),
        drop_off_stages=",".join(s.value for s in summary.drop_off_stages),
        stage=summary.stage.value,
        furthest_stage=summary.furthest_stage.value,
    )
    with engine.begin() as connection:
        journey_id = journey_id_of(batch) or connection.execute(
            # An entry-less batch of an older journey: its latest row, or the workflow id as before.
            select(journeys.c.journey_id).where(journeys.c.workflow_id == summary.workflow_id).order_by(desc(journeys.c.started_at)).limit(1)
        ).scalar() or summary.workflow_id
        row["journey_id"] = journey_id
        row = _fit(journeys, row)
        upsert = _insert(engine, journeys).values(**row)
        connection.execute(
            upsert.on_conflict_do_update(
                index_elements=["journey_id"], set_={k: upsert.excluded[k] for k in row if k != "journey_id"}
            )
        )
        if batch.tasks:
            _write_tasks(engine, connection, batch, journey_id)
        if not batch.entries:
            return 0
        rows = [
            _fit(journal_entries, {
                "entry_id": e.entry_id, "workflow_id": summary.workflow_id, "journey_id": journey_id, "customer_id": summary.customer_id,
                "at": _utc_naive(e.at), "kind": e.kind, "name": e.name, "stage": e.stage.value,
                "reason": e.reason, "detail": e.detail, "playbook_version": summary.playbook_version,
            })
            for e in batch.entries
        ]
        statement = (
            _insert(engine, journal_entries).values(rows).on_conflict_do_nothing(index_elements=["entry_id"])
            .returning(journal_entries.c.entry_id)
        )
        return len(connection.execute(statement).all())


def _write_tasks(engine: Engine, connection: Any, batch: JournalBatch, journey_id: str) -> None:
    """Upserts the batch's task snapshots: the journey's latest word on each of its tasks wins."""
    rows = [
        _fit(human_tasks, {
            **t.model_dump(mode="python"), "journey_id": journey_id, "stage": t.stage.value, "journey_stage": batch.journey.stage.value,
            "opened_at": _utc_naive(t.opened_at), "due_at": _utc_naive(t.due_at),
        })
        for t in batch.tasks or ()
    ]
    upsert = _insert(engine, human_tasks).values(rows)
    keys = ("journey_id", "task_id")
    connection.execute(upsert.on_conflict_do_update(index_elements=list(keys), set_={k: upsert.excluded[k] for k in rows[0] if k not in keys}))


def read_tasks(engine: Engine, states: Sequence[str], limit: int) -> list[dict[str, Any]]:
    """Tasks in `states` of journeys not ended, soonest due first: the inbox's listing, one indexed read."""
    with engine.connect() as connection:
        statement = (
            select(human_tasks)
            .join(journeys, journeys.c.journey_id == human_tasks.c.journey_id)
            .where(human_tasks.c.state.in_(list(states)), journeys.c.outcome.is_(None))
            .order_by(human_tasks.c.due_at, human_tasks.c.task_id)
            .limit(limit)
        )
        return [dict(r._mapping) for r in connection.execute(statement)]


def record_activity(engine: Engine, event_id: str, customer_id: str, occurred_at: datetime) -> None:
    """The app says a customer was active: what post-recovery dormancy is measured against."""
    with engine.begin() as connection:
        connection.execute(
            _insert(engine, customer_activity)
            .values(event_id=event_id, customer_id=customer_id, occurred_at=_utc_naive(occurred_at))
            .on_conflict_do_nothing(index_elements=["event_id"])
        )


# -- the intake ledger ----------------------------------------------------------------------------

PENDING, DELIVERED, IGNORED = "pending", "delivered", "ignored"


@dataclass(frozen=True)
class Claim:
    """What the ledger knows of an event id: its content's fingerprint, its state, and whether this intake is its first."""

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
                _insert(engine, intake_events)
                .values([
                    {"event_id": i, "customer_id": rows[i][0], "fingerprint": rows[i][1], "state": PENDING, "received_at": _utc_naive(now)}
                    for i in ids
                ])
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
            for r in connection.execute(select(ended_journeys).where(ended_journeys.c.customer_id.in_(sorted(set(customer_ids)))))
        }
    return claims, floors  # type: ignore[return-value]


def settle_events(engine: Engine, states: dict[str, str]) -> None:
    """Marks pending events delivered (the signal-with-start succeeded) or ignored; one transaction."""
    with engine.begin() as connection:
        for state in (DELIVERED, IGNORED):
            ids = sorted(i for i, s in states.items() if s == state)
            if ids:
                connection.execute(
                    update(intake_events).where(intake_events.c.event_id.in_(ids), intake_events.c.state == PENDING).values(state=state)
                )


def raise_floor(engine: Engine, customer_id: str, ended_at: datetime) -> None:
    """Remembers when the customer's latest ended journey ended (the later of what is known)."""
    at = _utc_naive(ended_at)
    with engine.begin() as connection:
        upsert = _insert(engine, ended_journeys).values(customer_id=customer_id, ended_at=at)
        later = case((ended_journeys.c.ended_at > upsert.excluded.ended_at, ended_journeys.c.ended_at), else_=upsert.excluded.ended_at)
        connection.execute(upsert.on_conflict_do_update(index_elements=["customer_id"], set_={"ended_at": later}))


def read_rows(engine: Engine, table: Any, where: Iterable[Any] = ()) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(table).where(*where))]
