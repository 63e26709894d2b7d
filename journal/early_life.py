"""Writing early-life journeys to the journal: their row, their decisions and their tasks.

Idempotent upserts keyed by ids the workflow derives, like `write_batch` (journal/store.py): a retried
activity writes nothing twice. Decisions go to `early_life_entries` (apart from onboarding's
`journal_entries`); tasks to `human_tasks`, so the agents' inbox lists retention calls with
onboarding's tasks.
"""

from sqlalchemy import Engine

from journal.schema import early_life_entries, early_life_journeys
from journal.store import _fit, insert_into, insert_new_entries, utc_naive, write_tasks
from workflows.early_life_journal import EarlyLifeBatch

_TIMES = ("activated_at", "last_activity_at", "dormant_at", "re_engaged_at", "ended_at")


def write_early_life(engine: Engine, batch: EarlyLifeBatch) -> int:
    """Writes the journey's row, new entries and tasks. Returns how many entries were new."""
    summary = batch.journey
    row = summary.model_dump(mode="python")
    row.update({name: utc_naive(row[name]) for name in _TIMES})
    row = _fit(early_life_journeys, row)
    with engine.begin() as connection:
        upsert = insert_into(engine, early_life_journeys).values(**row)
        connection.execute(
            upsert.on_conflict_do_update(
                index_elements=["journey_id"], set_={k: upsert.excluded[k] for k in row if k != "journey_id"}
            )
        )
        if batch.tasks:
            write_tasks(engine, connection, batch.tasks, summary.journey_id, "early_life")
        if not batch.entries:
            return 0
        entries = [
            _fit(
                early_life_entries,
                {
                    "entry_id": e.entry_id,
                    "journey_id": summary.journey_id,
                    "customer_id": summary.customer_id,
                    "at": utc_naive(e.at),
                    "name": e.name,
                    "reason": e.reason,
                    "detail": e.detail,
                },
            )
            for e in batch.entries
        ]
        return insert_new_entries(engine, connection, early_life_entries, entries)
