"""Erasing a customer in one call (the right to erasure), for the API and the CLI alike.

In order: the customer's journeys end (terminated: an erased customer is messaged no more), every run of
them is deleted from Temporal (history and visibility), the local outbox files lose every line about
them (blanked in place, message ids included), then the journal loses every row about them and keeps,
in the same transaction, an erasure record: the sha256 of the id, when, who, and the counts below.

A journey is any workflow whose id is `<prefix>-<customer id>` for the known journey types, plus any
workflow id the journal holds for the customer. A write already in flight when the journey is ended (an
activity finishing) can land after the erasure; erasing again removes it.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.outbox import blank_lines
from core.settings import Settings
from journal.erasure import customer_hash, erase_rows, workflow_ids_in_journal
from workflows.early_life_input import WORKFLOW_ID_PREFIX as EARLY_LIFE_PREFIX
from workflows.journey import WORKFLOW_ID_PREFIX as ONBOARDING_PREFIX

log = structlog.get_logger(__name__)

# The journey types' workflow id prefixes: onboarding, and the early-life journey after activation.
JOURNEY_PREFIXES = (ONBOARDING_PREFIX, EARLY_LIFE_PREFIX)
ERASED_REASON = "customer erased"  # the termination reason Temporal shows: no personal data


class ErasureCounts(BaseModel):
    """What one erasure removed."""

    journeys_ended: int = Field(0, description="journeys that were still running, terminated first")
    workflow_runs_deleted: int = Field(0, description="workflow runs deleted from Temporal (histories, visibility)")
    journal_rows_deleted: dict[str, int] = Field(
        default_factory=dict, description="journal rows deleted, by table (contacts, tasks, events, decisions...)"
    )
    outbox_lines_deleted: int = Field(0, description="lines about the customer blanked in the local outbox files")

    @property
    def anything(self) -> bool:
        return bool(
            self.journeys_ended
            or self.workflow_runs_deleted
            or self.outbox_lines_deleted
            or any(self.journal_rows_deleted.values())
        )


class Erasure(BaseModel):
    customer_hash: str = Field(description="sha256 of the customer id: what the erasure record keeps")
    erased_at: datetime
    actor: str
    erased: ErasureCounts
    temporal_done: bool = Field(
        description="Temporal had finished deleting the histories when this answered; else it still is, in the "
        "background (a server applies deletions at its next queue checkpoint: within about 30 s by default)"
    )


@dataclass(frozen=True)
class ErasureTarget:
    """Where a customer's data lives outside Temporal: the journal and the local outbox files."""

    journal: Engine
    outboxes: Sequence[Path] = field(default_factory=tuple)

    @classmethod
    def of(cls, settings: Settings, journal: Engine) -> "ErasureTarget":
        return cls(journal, (settings.outbox_path, settings.staff_notifications_path))


def _is_about(customer_id: str, workflow_ids: set[str]) -> Any:
    """Whether an outbox record is about the customer: their id, or an id of (or derived from) a journey of theirs."""
    prefixes = (*(f"{w}:" for w in workflow_ids), f"{customer_id}:")

    def about(record: dict[str, Any]) -> bool:
        if record.get("customer_id") == customer_id:
            return True
        values = [v for v in record.values() if isinstance(v, str)]
        return any(v in workflow_ids or v.startswith(prefixes) for v in values)

    return about


async def _runs(client: Client, workflow_id: str) -> dict[str, WorkflowExecutionStatus | None]:
    """Every run of the workflow id: from visibility (older runs), and the latest from describe (visibility lags)."""
    runs: dict[str, WorkflowExecutionStatus | None] = {}
    quoted = workflow_id.replace("\\", "\\\\").replace('"', '\\"')
    async for execution in client.list_workflows(f'WorkflowId = "{quoted}"'):
        runs[execution.run_id] = execution.status
    try:
        latest = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    else:
        runs[latest.run_id] = latest.status
    return runs


async def _gone(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return True
        raise
    return False


async def _end_and_delete(client: Client, workflow_id: str, counts: ErasureCounts) -> bool:
    """Ends and deletes every run of the workflow id. Returns whether any run was asked to be deleted."""
    runs = await _runs(client, workflow_id)
    for run_id, run_status in runs.items():
        if run_status == WorkflowExecutionStatus.RUNNING:
            try:
                await client.get_workflow_handle(workflow_id, run_id=run_id).terminate(ERASED_REASON)
                counts.journeys_ended += 1
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
    for run_id in runs:
        request = DeleteWorkflowExecutionRequest(
            namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id)
        )
        try:
            await client.workflow_service.delete_workflow_execution(request)
            counts.workflow_runs_deleted += 1
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
    return bool(runs)


async def erase_customer(
    client: Client, target: ErasureTarget, customer_id: str, actor: str, now: datetime | None = None
) -> Erasure | None:
    """Erases the customer everywhere; None when nothing at all was known of them (no record is written)."""
    at = now or datetime.now(UTC)
    counts = ErasureCounts()
    known = await asyncio.to_thread(workflow_ids_in_journal, target.journal, customer_id)
    workflow_ids = {f"{prefix}{customer_id}" for prefix in JOURNEY_PREFIXES} | known
    deleted = [w for w in sorted(workflow_ids) if await _end_and_delete(client, w, counts)]
    about = _is_about(customer_id, workflow_ids)
    for path in target.outboxes:
        counts.outbox_lines_deleted += await asyncio.to_thread(blank_lines, path, about)
    outside = counts.model_dump(exclude={"journal_rows_deleted"})
    counts.journal_rows_deleted = await asyncio.to_thread(
        erase_rows, target.journal, customer_id, workflow_ids, at, actor, outside
    )
    if not counts.anything:
        log.info("erasure_found_nothing", customer_hash=customer_hash(customer_id), actor=actor)
        return None
    done = all([await _gone(client, w) for w in deleted])
    log.info(
        "customer_erased",
        customer_hash=customer_hash(customer_id),
        actor=actor,
        temporal_done=done,
        **counts.model_dump(),
    )
    return Erasure(
        customer_hash=customer_hash(customer_id), erased_at=at, actor=actor, erased=counts, temporal_done=done
    )
