"""The journal on a real database: SQLite file by default, PostgreSQL when the machine has one."""

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from activities.contracts import JournalBatch, JournalEntry, JourneySummary
from activities.journal_schema import journal_entries, journeys
from activities.journal_store import migrate, open_journal, read_rows, write_batch

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc)
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def batch(entries: range, outcome: str | None = None) -> JournalBatch:
    return JournalBatch(
        journey=JourneySummary(
            workflow_id="onboarding-c-1", customer_id="c-1", playbook_version="default@x", recovery_group="treatment",
            started_at=T0, stage="phone_verified", status="nudging", furthest_stage="phone_verified",
            drop_off_stages=["phone_verified"], messages_sent=len(entries), outcome=outcome,
            ended_at=T0 + timedelta(hours=49) if outcome else None,
        ),
        entries=[
            JournalEntry(entry_id=f"onboarding-c-1:run:d{i}", at=T0 + timedelta(hours=i), kind="decision", name="sent",
                         stage="phone_verified", reason="push", detail=f"nudge {i}")
            for i in entries
        ],
    )


def postgres_engine() -> Iterator[Engine]:
    try:
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:  # no server on this machine
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({type(exc).__name__}); the SQLite journal is tested instead")
    name = f"recovery_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = open_journal(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


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


def test_writing_the_same_batch_twice_keeps_one_row_each(journal: Engine) -> None:
    assert write_batch(journal, batch(range(3))) == 3
    assert write_batch(journal, batch(range(3))) == 0, "a retried activity writes nothing new"
    assert len(read_rows(journal, journal_entries)) == 3
    assert len(read_rows(journal, journeys)) == 1


def test_the_journey_summary_is_the_latest_one(journal: Engine) -> None:
    write_batch(journal, batch(range(2)))
    write_batch(journal, batch(range(2, 4), outcome="abandoned"))
    [row] = read_rows(journal, journeys)
    assert (row["outcome"], row["messages_sent"], row["drop_off_stages"]) == ("abandoned", 2, "phone_verified")
    assert row["ended_at"] == (T0 + timedelta(hours=49)).replace(tzinfo=None), "stored as naive UTC"
    assert len(read_rows(journal, journal_entries)) == 4


def test_migrations_run_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    engine = open_journal(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrate(engine)
    assert {"journeys", "journal_entries", "customer_activity", "alembic_version"} <= set(inspect(engine).get_table_names())


def test_migrations_on_an_existing_journal_keep_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "existing.db"
    engine = open_journal(f"sqlite:///{path}")
    migrate(engine)
    write_batch(engine, batch(range(2)))
    engine.dispose()
    again = open_journal(f"sqlite:///{path}")
    migrate(again)
    assert len(read_rows(again, journal_entries)) == 2
    with again.connect() as connection:
        assert connection.execute(text("select version_num from alembic_version")).scalar_one() == "0002"
    assert {"agents", "agent_sessions", "agent_actions"} <= set(inspect(again).get_table_names())
