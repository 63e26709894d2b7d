"""Writing to and reading from the journal: SQLite by default, PostgreSQL through a URL.

Every write is an idempotent upsert keyed by ids the workflow derives, so a retried activity
never writes a row twice.
"""

from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.dialects import postgresql, sqlite

from activities.contracts import JournalBatch
from activities.journal_schema import customer_activity, journal_entries, journeys

MIGRATIONS = Path(__file__).resolve().parent / "journal_migrations"


def _utc_naive(moment: datetime | None) -> datetime | None:
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment else None


def utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment and moment.tzinfo is None else moment


def open_journal(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers (the report) do not block the worker
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Brings the schema to the newest revision; a no-op when it is there already."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _insert(engine: Engine, table: Any) -> Any:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


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
        upsert = _insert(engine, journeys).values(**row)
        connection.execute(
            upsert.on_conflict_do_update(
                index_elements=["workflow_id"], set_={k: upsert.excluded[k] for k in row if k != "workflow_id"}
            )
        )
        if not batch.entries:
            return 0
        rows = [
            {
                "entry_id": e.entry_id, "workflow_id": summary.workflow_id, "customer_id": summary.customer_id,
                "at": _utc_naive(e.at), "kind": e.kind, "name": e.name, "stage": e.stage.value,
                "reason": e.reason, "detail": e.detail, "playbook_version": summary.playbook_version,
            }
            for e in batch.entries
        ]
        statement = (
            _insert(engine, journal_entries).values(rows).on_conflict_do_nothing(index_elements=["entry_id"])
            .returning(journal_entries.c.entry_id)
        )
        return len(connection.execute(statement).all())


def record_activity(engine: Engine, event_id: str, customer_id: str, occurred_at: datetime) -> None:
    """The app says a customer was active: what post-recovery dormancy is measured against."""
    with engine.begin() as connection:
        connection.execute(
            _insert(engine, customer_activity)
            .values(event_id=event_id, customer_id=customer_id, occurred_at=_utc_naive(occurred_at))
            .on_conflict_do_nothing(index_elements=["event_id"])
        )


def read_rows(engine: Engine, table: Any, where: Iterable[Any] = ()) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(table).where(*where))]
