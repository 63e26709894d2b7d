"""Writing to and reading from the journal: SQLite by default, PostgreSQL through a URL.

Every write is an idempotent upsert keyed by ids the workflow derives, so a retried activity
never writes a row twice; and no value that passed the door can make a write fail (times outside
what the database holds are clamped, strings cut to their column). The intake ledger (`journal/intake.py`)
and the tasks listing (`journal/tasks.py`) build on the helpers here.
"""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, String, Table, case, create_engine, desc, event, select
from sqlalchemy.dialects import postgresql, sqlite

from core.private_files import create_owner_only
from journal.schema import customer_activity, human_tasks, journal_entries, journeys
from workflows.contracts import JournalBatch, TaskSnapshot

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@overload
def utc_naive(moment: datetime) -> datetime: ...
@overload
def utc_naive(moment: None) -> None: ...
def utc_naive(moment: datetime | None) -> datetime | None:
    """Naive UTC, as stored; a time with no UTC form (year 1 at +14:00) is clamped rather than failing every retry."""
    if moment is None or moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        return datetime.min if moment.year == datetime.min.year else datetime.max


def _fit(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Strings cut to their column's length: PostgreSQL refuses a longer one, and a refused write is retried forever."""
    fitted = dict(row)
    for name, value in row.items():
        column_type = table.c[name].type if name in table.c else None
        if (
            isinstance(value, str)
            and isinstance(column_type, String)
            and column_type.length
            and len(value) > column_type.length
        ):
            fitted[name] = value[: column_type.length]
    return fitted


@overload
def utc(moment: datetime) -> datetime: ...
@overload
def utc(moment: None) -> None: ...
def utc(moment: datetime | None) -> datetime | None:
    """A time read back from the journal (stored naive), or given without a zone, as the UTC time it is."""
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


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


def insert_into(engine: Engine, table: Any) -> Any:
    """An INSERT that takes ON CONFLICT in this engine's dialect (SQLite or PostgreSQL)."""
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
        started_at=utc_naive(summary.started_at),
        ended_at=utc_naive(summary.ended_at),
        drop_off_stages=",".join(s.value for s in summary.drop_off_stages),
        stage=summary.stage.value,
        furthest_stage=summary.furthest_stage.value,
        updated_at=_latest_of(batch),
    )
    with engine.begin() as connection:
        journey_id = (
            journey_id_of(batch)
            or connection.execute(
                # An entry-less batch of an older journey: its latest row, or the workflow id as before.
                select(journeys.c.journey_id)
                .where(journeys.c.workflow_id == summary.workflow_id)
                .order_by(desc(journeys.c.started_at))
                .limit(1)
            ).scalar()
            or summary.workflow_id
        )
        row["journey_id"] = journey_id
        row = _fit(journeys, row)
        upsert = insert_into(engine, journeys).values(**row)
        latest = upsert.excluded.updated_at
        updates = {k: upsert.excluded[k] for k in row if k != "journey_id"}
        # A batch of late events (old occurred_at) never moves `updated_at` back.
        updates["updated_at"] = case((journeys.c.updated_at > latest, journeys.c.updated_at), else_=latest)
        connection.execute(upsert.on_conflict_do_update(index_elements=["journey_id"], set_=updates))
        if batch.tasks:
            write_tasks(engine, connection, batch.tasks, journey_id, batch.journey.stage.value)
        if not batch.entries:
            return 0
        rows = [
            _fit(
                journal_entries,
                {
                    "entry_id": e.entry_id,
                    "workflow_id": summary.workflow_id,
                    "journey_id": journey_id,
                    "customer_id": summary.customer_id,
                    "at": utc_naive(e.at),
                    "kind": e.kind,
                    "name": e.name,
                    "stage": e.stage.value,
                    "reason": e.reason,
                    "detail": e.detail,
                    "playbook_version": summary.playbook_version,
                },
            )
            for e in batch.entries
        ]
        return insert_new_entries(engine, connection, journal_entries, rows)


def _latest_of(batch: JournalBatch) -> datetime | None:
    """When the journal last heard of the journey: its newest entry, its end, or its start."""
    summary = batch.journey
    moments = [e.at for e in batch.entries] + [summary.started_at] + ([summary.ended_at] if summary.ended_at else [])
    return max(utc_naive(m) for m in moments)


def write_tasks(
    engine: Engine, connection: Any, tasks: Sequence[TaskSnapshot], journey_id: str, journey_stage: str
) -> None:
    """Upserts a journey's task snapshots (onboarding's or early life's): its latest word on each task wins."""
    rows = [
        _fit(
            human_tasks,
            {
                **t.model_dump(mode="python"),
                "journey_id": journey_id,
                "stage": t.stage.value,
                "journey_stage": journey_stage,
                "opened_at": utc_naive(t.opened_at),
                "due_at": utc_naive(t.due_at),
            },
        )
        for t in tasks
    ]
    upsert = insert_into(engine, human_tasks).values(rows)
    keys = ("journey_id", "task_id")
    connection.execute(
        upsert.on_conflict_do_update(
            index_elements=list(keys), set_={k: upsert.excluded[k] for k in rows[0] if k not in keys}
        )
    )


def insert_new_entries(engine: Engine, connection: Any, table: Table, rows: list[dict[str, Any]]) -> int:
    """Inserts a journey's entries (keyed by `entry_id`) that are not there yet; returns how many were new."""
    statement = (
        insert_into(engine, table)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["entry_id"])
        .returning(table.c.entry_id)
    )
    return len(connection.execute(statement).all())


def record_activity(engine: Engine, event_id: str, customer_id: str, occurred_at: datetime) -> None:
    """The app says a customer was active: what post-recovery dormancy is measured against."""
    with engine.begin() as connection:
        connection.execute(
            insert_into(engine, customer_activity)
            .values(event_id=event_id, customer_id=customer_id, occurred_at=utc_naive(occurred_at))
            .on_conflict_do_nothing(index_elements=["event_id"])
        )


def read_rows(engine: Engine, table: Any, where: Iterable[Any] = ()) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(table).where(*where))]
