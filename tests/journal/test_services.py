"""Service health and its waiters in the journal, on SQLite and on PostgreSQL when the machine has one."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from journal.schema import service_health, service_waiters
from journal.services import (
    add_waiter,
    clear_waiters,
    is_healthy,
    remove_waiter,
    service_statuses,
    set_service_health,
    waiters_of,
)
from journal.store import migrate, open_journal
from tests.journal.test_store import postgres_engine

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


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


def test_the_migration_makes_the_tables_the_schema_describes(journal: Engine) -> None:
    for table in (service_health, service_waiters):
        columns = {c["name"]: c for c in inspect(journal).get_columns(table.name)}
        assert set(columns) == set(table.c.keys())
        assert {name for name, c in columns.items() if not c["nullable"]} == {c.name for c in table.c if not c.nullable}
        assert inspect(journal).get_pk_constraint(table.name)["constrained_columns"] == [
            c.name for c in table.primary_key
        ]


def test_a_service_never_reported_is_healthy_and_the_last_report_holds(journal: Engine) -> None:
    assert is_healthy(journal, "ocr") and service_statuses(journal) == []
    set_service_health(journal, "ocr", False, T0)
    set_service_health(journal, "liveness", True, T0)
    assert not is_healthy(journal, "ocr")
    set_service_health(journal, "ocr", True, T0 + timedelta(minutes=5))
    assert [(s.service, s.healthy, s.updated_at) for s in service_statuses(journal)] == [
        ("liveness", True, T0),
        ("ocr", True, T0 + timedelta(minutes=5)),
    ]


def test_waiters_are_paged_and_a_wait_written_again_survives_the_clearing(journal: Engine) -> None:
    for n in range(5):
        add_waiter(journal, "ocr", f"onboarding-c-{n}", T0)
    add_waiter(journal, "ocr", "onboarding-c-0", T0)  # a retried check: still one row
    add_waiter(journal, "liveness", "onboarding-c-9", T0)
    first = waiters_of(journal, "ocr", limit=3)
    assert [w.workflow_id for w in first] == ["onboarding-c-0", "onboarding-c-1", "onboarding-c-2"]
    rest = waiters_of(journal, "ocr", after=first[-1].workflow_id, limit=3)
    assert [w.workflow_id for w in rest] == ["onboarding-c-3", "onboarding-c-4"]

    add_waiter(journal, "ocr", "onboarding-c-1", T0 + timedelta(minutes=1))  # waits again after the read
    clear_waiters(journal, "ocr", first)
    assert [w.workflow_id for w in waiters_of(journal, "ocr")] == ["onboarding-c-1", "onboarding-c-3", "onboarding-c-4"]
    remove_waiter(journal, "ocr", "onboarding-c-3")
    assert [w.workflow_id for w in waiters_of(journal, "ocr")] == ["onboarding-c-1", "onboarding-c-4"]
    assert [w.workflow_id for w in waiters_of(journal, "liveness")] == ["onboarding-c-9"]
