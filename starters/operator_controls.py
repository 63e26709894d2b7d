"""Operators' controls the `RecoveryClient` offers: closing a journey, finding journeys, and erasing a
customer (the same `starters.erasure.erase_customer` the API's DELETE and the CLI run; the console's door).

Closing is the journey's `close_journey` Update (its validator refuses an ended journey); finding
reads the journal's `journeys` rows (journal/listing.py), one database read per page, no query to
any journey.
"""

import asyncio
from datetime import datetime

import structlog
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from core.deps import JourneyNotFound
from core.settings import Settings
from journal.listing import DEFAULT_LIMIT, JourneyPage, list_journeys
from starters import erasure
from workflows.journey import OnboardingJourney, workflow_id_for
from workflows.journey_controls import CloseJourney, CloseRefused
from workflows.journey_state import JourneyOutcome

log = structlog.get_logger(__name__)


class JournalMissing(RuntimeError):
    """Finding journeys reads the journal: without one there is nothing to list."""


class OperatorControls:
    temporal: Client
    journal: Engine | None

    async def close_journey(self, customer_id: str, reason: str, by: str) -> JourneyOutcome:
        """Ends the customer's running journey at once, outcome `closed`. Raises JourneyNotFound for a
        customer with no journey, CloseRefused for one whose journey has ended (or received no event yet)."""
        request = CloseJourney(reason=reason, by=by)
        workflow_id = workflow_id_for(customer_id)
        handle = self.temporal.get_workflow_handle(workflow_id)
        try:
            outcome: JourneyOutcome = await handle.execute_update(OnboardingJourney.close_journey, request)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            raise CloseRefused(getattr(cause, "message", None) or str(cause)) from None
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            raise await self._why_not_running(customer_id) from None
        log.info("journey_closed", customer_id=customer_id, workflow_id=workflow_id, by=request.by)
        return outcome

    async def erase_customer(self, customer_id: str, actor: str, settings: Settings) -> erasure.Erasure | None:
        """Erases the customer everywhere (starters/erasure.py), the journal and `settings`' outbox files;
        None when nothing at all was known of them."""
        if self.journal is None:
            raise JournalMissing("no journal database is configured (RECOVERY_JOURNAL_URL): nothing can be erased")
        target = erasure.ErasureTarget.of(settings, self.journal)
        return await erasure.erase_customer(self.temporal, target, customer_id, actor)

    async def _why_not_running(self, customer_id: str) -> Exception:
        """An Update finds no running journey: none at all (404), or one that has ended (409)."""
        try:
            description = await self.temporal.get_workflow_handle(workflow_id_for(customer_id)).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return JourneyNotFound(f"no journey for customer {customer_id}")
            raise
        status = description.status.name.lower() if description.status else "unknown"
        if description.status is WorkflowExecutionStatus.RUNNING:  # it ended and started again meanwhile
            return CloseRefused(f"journey of {customer_id} changed while closing it: try again")
        return CloseRefused(f"journey of {customer_id} already ended (its workflow is {status})")

    async def list_journeys(
        self,
        *,
        status: str | None = None,
        stage: str | None = None,
        since: datetime | None = None,
        customer_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> JourneyPage:
        """A page of journeys from the journal, newest first (see journal/listing.py)."""
        if self.journal is None:
            raise JournalMissing("no journal database is configured (RECOVERY_JOURNAL_URL): journeys cannot be listed")
        return await asyncio.to_thread(
            list_journeys,
            self.journal,
            status=status,
            stage=stage,
            since=since,
            customer_id=customer_id,
            limit=limit,
            cursor=cursor,
        )
