"""The journal activity: a journey's new events and decisions, written once however often retried."""

import asyncio

import structlog
from sqlalchemy import Engine
from temporalio import activity

from journal.early_life import write_early_life
from journal.store import write_batch
from workflows.contracts import JournalBatch
from workflows.early_life_journal import EarlyLifeBatch

log = structlog.get_logger(__name__)


class JournalActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        return self._engine

    @activity.defn
    async def record_journal(self, batch: JournalBatch) -> int:
        written = await asyncio.to_thread(write_batch, self._engine, batch)
        log.info(
            "journal_written",
            customer_id=batch.journey.customer_id,
            workflow_id=batch.journey.workflow_id,
            entries=len(batch.entries),
            new=written,
        )
        return written

    @activity.defn
    async def record_early_life(self, batch: EarlyLifeBatch) -> int:
        written = await asyncio.to_thread(write_early_life, self._engine, batch)
        log.info(
            "early_life_journaled",
            customer_id=batch.journey.customer_id,
            workflow_id=batch.journey.workflow_id,
            entries=len(batch.entries),
            new=written,
        )
        return written
