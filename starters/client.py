"""The Python client the app backend uses: record events, read journeys, work human tasks.

Recording is signal-with-start: it returns as soon as Temporal has the event, whether or not a worker
is running, and starts the customer's journey if this is their first event.
"""

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import structlog
from sqlalchemy import Engine

from pydantic import BaseModel
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.journal_store import migrate, open_journal, record_activity
from workers.settings import Settings
from workers.temporal_client import connect
from workflows.events import OnboardingEvent
from workflows.funnel import EventType
from workflows.human_tasks import ClaimTask, CompleteTask, HumanTask, ReleaseTask, TaskOutcome, TaskRefused, customer_of_task
from workflows.journey import JourneyInput, OnboardingJourney, workflow_id_for
from workflows.journey_view import JourneyView
from workflows.playbook import Playbook, load_playbook
from workflows.search_attributes import HUMAN_TASK_STATE, initial_search_attributes


log = structlog.get_logger(__name__)
QUERY_DEADLINE = timedelta(seconds=3)
MAX_LISTED_TASKS = 500  # an inbox longer than this needs more agents, not a longer page
QUERIES_IN_FLIGHT = 20


class JourneyNotFound(LookupError):
    pass


class EventReceipt(BaseModel):
    event_id: str
    customer_id: str
    workflow_id: str
    accepted: bool
    note: str


class TaskSummary(BaseModel):
    """A task with the journey facts an agent's inbox shows next to it."""

    task: HumanTask
    customer_id: str
    workflow_id: str
    stage: str
    timezone: str | None


class RecoveryClient:
    def __init__(
        self, client: Client, playbook: Playbook, task_queue: str, journal: Engine | None = None, messaging_task_queue: str | None = None
    ) -> None:
        self.temporal = client
        self.playbook = playbook
        self.task_queue = task_queue
        self.journal = journal
        self.messaging_task_queue = messaging_task_queue

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> "RecoveryClient":
        settings = settings or Settings()
        journal = open_journal(settings.journal_database_url)
        await asyncio.to_thread(migrate, journal)
        return cls(
            await connect(settings), load_playbook(settings.playbook), settings.task_queue, journal, settings.messaging_task_queue
        )

    async def record_event(self, event: OnboardingEvent) -> EventReceipt:
        workflow_id = workflow_id_for(event.customer_id)
        if event.type is EventType.ACTIVE:
            # Activity after activation outlives the journey: it goes straight to the journal.
            if self.journal is None:
                return EventReceipt(event_id=event.event_id, customer_id=event.customer_id, workflow_id=workflow_id,
                                    accepted=False, note="no journal configured; activity ignored")
            await asyncio.to_thread(record_activity, self.journal, event.event_id, event.customer_id, event.occurred_at)
            return EventReceipt(event_id=event.event_id, customer_id=event.customer_id, workflow_id=workflow_id,
                                accepted=True, note="activity recorded")
        try:
            await self.temporal.start_workflow(
                OnboardingJourney.run,
                JourneyInput(customer_id=event.customer_id, playbook=self.playbook, messaging_task_queue=self.messaging_task_queue),
                id=workflow_id,
                task_queue=self.task_queue,
                start_signal="record_event",
                start_signal_args=[event],
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=initial_search_attributes(self.playbook.version),
            )
        except WorkflowAlreadyStartedError:
            # The journey has ended and its record is kept: a late event changes nothing.
            return EventReceipt(
                event_id=event.event_id, customer_id=event.customer_id, workflow_id=workflow_id,
                accepted=False, note="journey already ended; event ignored",
            )
        return EventReceipt(event_id=event.event_id, customer_id=event.customer_id, workflow_id=workflow_id, accepted=True, note="recorded")

    async def record_events(self, events: Sequence[OnboardingEvent]) -> list[EventReceipt]:
        """A batch: each customer's events in order of occurrence, different customers side by side."""
        by_customer: dict[str, list[OnboardingEvent]] = {}
        for event in sorted(events, key=lambda e: (e.occurred_at, e.event_id)):
            by_customer.setdefault(event.customer_id, []).append(event)

        async def one_customer(customer_events: list[OnboardingEvent]) -> list[EventReceipt]:
            return [await self.record_event(event) for event in customer_events]

        receipts: list[EventReceipt] = []
        for batch in await asyncio.gather(*(one_customer(evs) for evs in by_customer.values())):
            receipts.extend(batch)
        return receipts

    async def journey(self, customer_id: str) -> JourneyView:
        handle = self.temporal.get_workflow_handle(workflow_id_for(customer_id))
        try:
            return await handle.query(OnboardingJourney.view)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise JourneyNotFound(f"no journey for customer {customer_id}") from None
            raise

    async def claim_task(self, task_id: str, agent_id: str) -> HumanTask:
        return await self._update(task_id, OnboardingJourney.claim_task, ClaimTask(task_id=task_id, agent_id=agent_id))

    async def release_task(self, task_id: str, agent_id: str) -> HumanTask:
        return await self._update(task_id, OnboardingJourney.release_task, ReleaseTask(task_id=task_id, agent_id=agent_id))

    async def complete_task(self, task_id: str, agent_id: str, outcome: TaskOutcome, note: str = "") -> HumanTask:
        request = CompleteTask(task_id=task_id, agent_id=agent_id, outcome=outcome, note=note)
        return await self._update(task_id, OnboardingJourney.complete_task, request)

    async def _update(self, task_id: str, update, request) -> HumanTask:  # type: ignore[no-untyped-def]
        handle = self.temporal.get_workflow_handle(workflow_id_for(customer_of_task(task_id)))
        try:
            return await handle.execute_update(update, request)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            raise TaskRefused(getattr(cause, "message", None) or str(cause)) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise TaskRefused(f"unknown task {task_id}: no running journey") from None
            raise

    async def list_tasks(self, states: Sequence[str] = ("open", "claimed")) -> list[TaskSummary]:
        """Live human tasks, found through visibility and read from each journey.

        Visibility lags: a journey it still lists may have just ended. Each journey gets a short
        query deadline, and one that does not answer is left out rather than holding up the inbox.
        """
        wanted = ", ".join(f"'{s}'" for s in states)
        query = (
            f"WorkflowType = '{OnboardingJourney.__name__}' AND ExecutionStatus = 'Running' "
            f"AND {HUMAN_TASK_STATE.name} IN ({wanted})"
        )
        workflow_ids = [execution.id async for execution in self.temporal.list_workflows(query, limit=MAX_LISTED_TASKS)]
        readers = asyncio.Semaphore(QUERIES_IN_FLIGHT)

        async def read(workflow_id: str) -> JourneyView | None:
            async with readers:
                return await self._view_or_none(workflow_id)

        views = await asyncio.gather(*(read(wid) for wid in workflow_ids))
        summaries = [
            TaskSummary(task=view.open_task, customer_id=view.customer_id, workflow_id=view.workflow_id, stage=view.stage.value, timezone=view.timezone)
            for view in views
            if view is not None and view.open_task is not None and view.open_task.state.value in states
        ]
        return sorted(summaries, key=lambda s: s.task.due_at)

    async def _view_or_none(self, workflow_id: str) -> JourneyView | None:
        try:
            return await self.temporal.get_workflow_handle(workflow_id).query(OnboardingJourney.view, rpc_timeout=QUERY_DEADLINE)
        except (RPCError, WorkflowQueryFailedError) as err:
            log.warning("journey_unreadable", workflow_id=workflow_id, error=type(err).__name__)
            return None
