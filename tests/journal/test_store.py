"""The journal on a real database: SQLite file by default, PostgreSQL when the machine has one."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from journal.report import report_from_journal
from journal.schema import human_tasks, journal_entries, journeys
from journal.store import MIGRATIONS, migrate, open_journal, read_rows, record_activity, write_batch
from journal.tasks import read_tasks
from workflows.contracts import JournalBatch, JournalEntry, JourneySummary, TaskSnapshot

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def batch(entries: range, outcome: str | None = None) -> JournalBatch:
    return JournalBatch(
        journey=JourneySummary(
            workflow_id="onboarding-c-1",
            customer_id="c-1",
            playbook_version="default@x",
            recovery_group="treatment",
            started_at=T0,
            stage="phone_verified",
            status="nudging",
            furthest_stage="phone_verified",
            drop_off_stages=["phone_verified"],
            messages_sent=len(entries),
            outcome=outcome,
            ended_at=T0 + timedelta(hours=49) if outcome else None,
        ),
        entries=[
            JournalEntry(
                entry_id=f"onboarding-c-1:run:d{i}",
                at=T0 + timedelta(hours=i),
                kind="decision",
                name="sent",
                stage="phone_verified",
                reason="push",
                detail=f"nudge {i}",
            )
            for i in entries
        ],
    )


def postgres_engine() -> Iterator[Engine]:
    try:
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:  # no server on this machine
        pytest.skip(
            f"PostgreSQL is not reachable at 127.0.0.1:5432 ({type(exc).__name__}); "
            "the SQLite journal is tested instead"
        )
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
    assert {"journeys", "journal_entries", "customer_activity", "alembic_version"} <= set(
        inspect(engine).get_table_names()
    )


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
        newest = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        assert connection.execute(text("select version_num from alembic_version")).scalar_one() == newest
    assert {"agents", "agent_sessions", "agent_actions"} <= set(inspect(again).get_table_names())


# -- journeys by run (a customer back after an ended journey has two) -----------------------------


def two_runs(run: str, outcome: str | None = None) -> JournalBatch:
    """One journey of customer c-1 under workflow id onboarding-c-1; `run` is its run key."""
    journey_id = f"onboarding-c-1:{run}"
    return JournalBatch(
        journey=batch(range(0)).journey.model_copy(update={"journey_id": journey_id, "outcome": outcome}),
        entries=[
            JournalEntry(
                entry_id=f"{journey_id}:e0",
                at=T0,
                kind="event",
                name="customer.opted_out",
                stage="phone_verified",
                reason="recorded",
            )
        ],
    )


def test_two_journeys_of_one_customer_are_two_rows_and_counted_once_each(journal: Engine) -> None:
    write_batch(journal, two_runs("aaaaaaaa", outcome="abandoned"))
    write_batch(journal, two_runs("bbbbbbbb"))
    write_batch(journal, two_runs("bbbbbbbb"))  # a retried write
    rows = read_rows(journal, journeys)
    assert sorted(r["journey_id"] for r in rows) == ["onboarding-c-1:aaaaaaaa", "onboarding-c-1:bbbbbbbb"]
    assert {r["journey_id"] for r in read_rows(journal, journal_entries)} == {r["journey_id"] for r in rows}
    report = report_from_journal(journal, since=None, until=T0 + timedelta(days=1))
    assert (report.journeys, report.ended, report.guardrails.opt_outs) == (2, 1, 2)


def test_a_batch_built_before_journey_ids_takes_it_from_its_entries(journal: Engine) -> None:
    old = two_runs("cccccccc")
    write_batch(journal, old.model_copy(update={"journey": old.journey.model_copy(update={"journey_id": None})}))
    [row] = read_rows(journal, journeys)
    assert row["journey_id"] == "onboarding-c-1:cccccccc"


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = open_journal(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
    else:
        yield from postgres_engine()


def test_the_migration_keys_existing_journeys_by_the_prefix_of_their_entries(unmigrated: Engine) -> None:
    migrate(unmigrated, "0002")
    with unmigrated.begin() as connection:
        for workflow_id in ("onboarding-c-1", "onboarding-c-2"):
            connection.execute(
                text(
                    "INSERT INTO journeys (workflow_id, customer_id, playbook_version, recovery_group, started_at, "
                    "stage, status, furthest_stage, drop_off_stages, messages_sent, assisted) VALUES "
                    f"('{workflow_id}', 'c', 'default@x', 'treatment', '2026-11-23 05:00:00', "
                    "'started', 'active', 'started', '', 0, false)"
                )
            )
        connection.execute(
            text(
                "INSERT INTO journal_entries "
                "(entry_id, workflow_id, customer_id, at, kind, name, stage, reason, detail, playbook_version) "
                "VALUES ('onboarding-c-1:1a2b3c4d:e0', 'onboarding-c-1', 'c', '2026-11-23 05:00:00', "
                "'event', 'onboarding.started', "
                "'started', 'advanced', '', 'default@x')"
            )
        )
    migrate(unmigrated)
    assert sorted(r["journey_id"] for r in read_rows(unmigrated, journeys)) == [
        "onboarding-c-1:1a2b3c4d",
        "onboarding-c-2",
    ]
    [entry] = read_rows(unmigrated, journal_entries)
    assert entry["journey_id"] == "onboarding-c-1:1a2b3c4d"
    assert {"intake_events", "ended_journeys"} <= set(inspect(unmigrated).get_table_names())
    write_batch(unmigrated, two_runs("1a2b3c4d", outcome="completed"))  # the journey goes on writing to its row
    assert len(read_rows(unmigrated, journeys)) == 2


# -- nothing that passed the door fails a write ---------------------------------------------------


def test_times_without_a_utc_form_and_long_strings_are_written_not_retried_forever(journal: Engine) -> None:
    edges = [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
    ]
    entries = [
        JournalEntry(
            entry_id=f"onboarding-c-1:run:e{i}",
            at=at,
            kind="event",
            name="onboarding.started",
            stage="started",
            reason="r" * 500,
        )
        for i, at in enumerate(edges)
    ]
    assert write_batch(journal, JournalBatch(journey=batch(range(0)).journey, entries=entries)) == 2
    record_activity(journal, "a-1", "c-1", edges[0])
    record_activity(journal, "a-2", "c-1", edges[1])
    assert sorted(r["at"].year for r in read_rows(journal, journal_entries)) == [1, 9999]
    assert {len(r["reason"]) for r in read_rows(journal, journal_entries)} == {100}


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


# -- human tasks: what the agents' inbox lists ------------------------------------------------------


def with_task(run: str, state: str, claimed_by: str | None = None, outcome: str | None = None) -> JournalBatch:
    task = TaskSnapshot(
        task_id="c-1:task-1",
        kind="video_call",
        reason="repeated_rejection",
        stage="document_rejected",
        detail="blur, glare",
        state=state,
        claimed_by=claimed_by,
        opened_at=T0,
        due_at=T0 + timedelta(hours=4),
        customer_id="c-1",
        workflow_id="onboarding-c-1",
        timezone="Asia/Tashkent",
    )
    return two_runs(run, outcome=outcome).model_copy(update={"tasks": [task]})


def test_tasks_are_upserted_by_journey_and_listed_while_live(journal: Engine) -> None:
    write_batch(journal, with_task("aaaaaaaa", "open"))
    [row] = read_tasks(journal, ("open", "claimed"), 10)
    assert (row["task_id"], row["state"], row["journey_stage"], row["timezone"], row["detail"]) == (
        "c-1:task-1",
        "open",
        "phone_verified",
        "Asia/Tashkent",
        "blur, glare",
    )
    assert row["due_at"] == (T0 + timedelta(hours=4)).replace(tzinfo=None)
    write_batch(journal, with_task("aaaaaaaa", "claimed", "agent-ana"))
    assert [(r["state"], r["claimed_by"]) for r in read_tasks(journal, ("open", "claimed"), 10)] == [
        ("claimed", "agent-ana")
    ]
    assert read_tasks(journal, ("open",), 10) == []
    write_batch(journal, with_task("aaaaaaaa", "completed", "agent-ana"))
    assert read_tasks(journal, ("open", "claimed"), 10) == []
    # The customer's next journey numbers its tasks afresh: another row, and the first keeps its state.
    write_batch(journal, with_task("bbbbbbbb", "open"))
    assert [r["journey_id"] for r in read_tasks(journal, ("open", "claimed"), 10)] == ["onboarding-c-1:bbbbbbbb"]
    assert len(read_rows(journal, human_tasks)) == 2


def test_a_task_of_an_ended_journey_is_not_listed_and_older_batches_leave_tasks_alone(journal: Engine) -> None:
    write_batch(journal, with_task("aaaaaaaa", "open"))
    write_batch(journal, two_runs("aaaaaaaa"))  # built before tasks were journaled: tasks=None
    assert len(read_tasks(journal, ("open",), 10)) == 1
    write_batch(journal, two_runs("aaaaaaaa", outcome="abandoned"))
    assert read_tasks(journal, ("open",), 10) == [], "the journey ended without a last word on its task"
