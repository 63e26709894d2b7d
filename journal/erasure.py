"""Erasing a customer from the journal (the right to erasure), and the record that remains of it.

Every row about the customer goes, in every table of the journal, found by its columns rather than by a
list of tables, so a table added later is erased too: its `customer_id`, its `workflow_id` (one of the
customer's journeys), or an id derived from either (`<workflow id>:...`, `<customer id>:...`: journeys,
entries, messages, tasks). What remains is one `erasures` row: the sha256 of the id, when, who, how much.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, String, Table, desc, inspect, or_, select, text

from journal.schema import erasures, metadata
from journal.store import insert_into, utc_naive

# Columns whose values are derived from the customer's id or one of their workflow ids, as `<that id>:...`.
DERIVED_ID_COLUMNS = ("journey_id", "entry_id", "message_id", "task_id", "notification_id")


def customer_hash(customer_id: str) -> str:
    """What an erasure record keeps of the customer: the sha256 of their id, in hex."""
    return hashlib.sha256(customer_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ErasureRecord:
    customer_hash: str
    erased_at: datetime
    actor: str
    counts: dict[str, Any]


def workflow_ids_in_journal(engine: Engine, customer_id: str) -> set[str]:
    """The workflow ids the journal knows for the customer (journeys of any type)."""
    found: set[str] = set()
    with engine.connect() as connection:
        for table in _tables(connection):
            if "customer_id" in table.c and "workflow_id" in table.c:
                found.update(
                    connection.execute(
                        select(table.c.workflow_id).where(table.c.customer_id == customer_id).distinct()
                    ).scalars()
                )
    return {w for w in found if w}


def _tables(connection: Any) -> list[Table]:
    """The schema's tables this database has (a table of a later migration not yet run is skipped)."""
    present = set(inspect(connection).get_table_names())
    return [t for t in metadata.sorted_tables if t.name in present and t is not erasures]


def _about(table: Table, customer_id: str, workflow_ids: Iterable[str]) -> Any:
    """The condition that picks the table's rows about the customer, or None when it cannot name them."""
    ids = sorted(set(workflow_ids))
    conditions: list[Any] = []
    if "customer_id" in table.c:
        conditions.append(table.c.customer_id == customer_id)
    if "workflow_id" in table.c and ids:
        conditions.append(table.c.workflow_id.in_(ids))
    for name in DERIVED_ID_COLUMNS:
        if name in table.c and isinstance(table.c[name].type, String):
            conditions += [table.c[name].startswith(f"{prefix}:", autoescape=True) for prefix in [customer_id, *ids]]
    return or_(*conditions) if conditions else None


def erase_rows(
    engine: Engine, customer_id: str, workflow_ids: Iterable[str], at: datetime, actor: str, erased: Mapping[str, Any]
) -> dict[str, int]:
    """Deletes every row about the customer and, when anything was erased (these rows, or the counts in
    `erased` from outside the journal), writes the erasure record, all in one transaction. Returns the rows
    deleted by table (tables with none left out). On SQLite the freed pages are overwritten (`secure_delete`)."""
    ids = list(workflow_ids)
    deleted: dict[str, int] = {}
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(text("PRAGMA secure_delete = ON"))
        for table in reversed(_tables(connection)):
            condition = _about(table, customer_id, ids)
            if condition is None:
                continue
            count = connection.execute(table.delete().where(condition)).rowcount
            if count:
                deleted[table.name] = count
        counts = {**erased, "journal_rows_deleted": deleted}
        if deleted or any(erased.values()):
            connection.execute(
                insert_into(engine, erasures).values(
                    customer_hash=customer_hash(customer_id),
                    erased_at=utc_naive(at),
                    actor=actor[:64],
                    counts=json.dumps(counts, sort_keys=True),
                )
            )
    return deleted


def latest_erasure(engine: Engine, customer_id: str) -> ErasureRecord | None:
    """The customer's latest erasure record, found by the hash of their id, or None."""
    with engine.connect() as connection:
        row = connection.execute(
            select(erasures)
            .where(erasures.c.customer_hash == customer_hash(customer_id))
            .order_by(desc(erasures.c.erased_at), desc(erasures.c.id))
            .limit(1)
        ).first()
    if row is None:
        return None
    counts = json.loads(row.counts or "{}")
    return ErasureRecord(row.customer_hash, row.erased_at.replace(tzinfo=UTC), row.actor, counts)
