"""Erasing a customer's rows from the journal, on SQLite and on PostgreSQL when the machine has one: every
table, a table added later included, keeps nothing of them, and nothing of a customer whose id starts
with theirs is lost; the erasure record keeps a hash of the id, never the id."""

import hashlib
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Boolean, DateTime, Integer, String, Table, inspect, select
from sqlalchemy.engine import Engine

from journal.erasure import DERIVED_ID_COLUMNS, erase_rows, latest_erasure, workflow_ids_in_journal
from journal.schema import agent_actions, erasures, metadata
from journal.store import migrate, open_journal
from tests.journal.test_store import postgres_engine

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
CUSTOMER = "c_1.a"  # '_' and '.': a LIKE pattern would take them for wildcards
NEIGHBOUR = "c_1.a0"
LOOKALIKE = "cX1Xa"  # what 'c_1.a' matches as an unescaped LIKE pattern
_values = itertools.count(1)


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


def _value(table: Table, name: str, customer_id: str) -> Any:
    """A row's value: linked to the customer where the column names them, anything else elsewhere."""
    column = table.c[name]
    if name == "customer_id":
        return customer_id
    if name == "workflow_id":
        return f"onboarding-{customer_id}"
    if name == "task_id":
        return f"{customer_id}:task-1"
    if name in DERIVED_ID_COLUMNS:
        return f"onboarding-{customer_id}:run00001:{name}"
    if isinstance(column.type, Boolean):
        return False
    if isinstance(column.type, Integer):
        return next(_values)
    if isinstance(column.type, DateTime):
        return T0.replace(tzinfo=None)
    length = getattr(column.type, "length", None) or 40
    return f"v{next(_values)}"[:length]


def _fill(engine: Engine, customer_id: str) -> None:
    """One row about the customer in every table of the schema (the erasure record's aside)."""
    with engine.begin() as connection:
        present = set(inspect(connection).get_table_names())
        for table in metadata.sorted_tables:
            if table is erasures or table.name not in present:
                continue
            row = {
                c.name: _value(table, c.name, customer_id)
                for c in table.c
                if not (c.primary_key and c.autoincrement is True and isinstance(c.type, Integer))
            }
            connection.execute(table.insert().values(**row))


def _everything(engine: Engine) -> str:
    with engine.connect() as connection:
        return "\n".join(
            f"{name}: {tuple(row)}"
            for name in inspect(connection).get_table_names()
            if name in metadata.tables
            for row in connection.execute(select(metadata.tables[name]))
        )


def test_every_row_about_the_customer_goes_and_the_record_keeps_a_hash(journal: Engine) -> None:
    for customer_id in (CUSTOMER, NEIGHBOUR, LOOKALIKE):
        _fill(journal, customer_id)
    with journal.begin() as connection:  # an audit line that names the customer by their task only
        connection.execute(
            agent_actions.insert().values(at=T0, agent="ana", action="claimed", task_id=f"{CUSTOMER}:task-2")
        )
    assert workflow_ids_in_journal(journal, CUSTOMER) == {f"onboarding-{CUSTOMER}"}
    before = _everything(journal)

    deleted = erase_rows(
        journal, CUSTOMER, workflow_ids_in_journal(journal, CUSTOMER), T0, "ops-ana", {"outbox_lines_deleted": 2}
    )

    present = set(inspect(journal).get_table_names())
    linked = [
        t.name
        for t in metadata.sorted_tables
        if t is not erasures and t.name in present and set(t.c.keys()) & {"customer_id", "workflow_id"}
    ]
    assert set(deleted) == set(linked)
    assert deleted["agent_actions"] == 2
    after = _everything(journal)
    assert CUSTOMER not in after.replace(NEIGHBOUR, "")
    for other in (NEIGHBOUR, LOOKALIKE):
        assert after.count(other) == before.count(other), other
    record = latest_erasure(journal, CUSTOMER)
    assert record is not None
    assert (record.customer_hash, record.erased_at, record.actor) == (
        hashlib.sha256(CUSTOMER.encode()).hexdigest(),
        T0,
        "ops-ana",
    )
    assert record.counts == {"outbox_lines_deleted": 2, "journal_rows_deleted": deleted}


def test_nothing_to_erase_writes_no_record(journal: Engine) -> None:
    _fill(journal, NEIGHBOUR)
    assert erase_rows(journal, CUSTOMER, [f"onboarding-{CUSTOMER}"], T0, "ops-ana", {"journeys_ended": 0}) == {}
    assert latest_erasure(journal, CUSTOMER) is None


def test_the_migration_makes_the_erasures_table_the_schema_describes(journal: Engine) -> None:
    columns = {c["name"]: c for c in inspect(journal).get_columns("erasures")}
    assert set(columns) == set(erasures.c.keys())
    assert {name for name, c in columns.items() if not c["nullable"]} == {c.name for c in erasures.c if not c.nullable}
    assert isinstance(erasures.c.customer_hash.type, String) and erasures.c.customer_hash.type.length == 64
