"""The Python client the app backend uses: record events, read journeys, work human tasks.

Recording is signal-with-start: it returns as soon as Temporal has the events, whether or not a worker
is running, and starts the customer's journey if this is their first event, or a new journey (a new
run of the same workflow id) if their last one ended before the event occurred. A customer's share of
a batch goes as one `record_events` signal (one billed action, one history event), and a batch's
customers are signalled at most CUSTOMERS_IN_FLIGHT at a time, so a full batch never overloads the server.

Intake is exactly-once in effect per `event_id`: the journal's intake ledger records each event id
with its content's fingerprint, pending before its signal and delivered after, so a resent event is
a `duplicate` (no signal) or a `conflict` (other content, refused), and one whose signal was never
confirmed is signalled again.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from core.deps import JourneyNotFound
from core.settings import Settings
from core.temporal_client import connect
from journal.intake import DELIVERED, IGNORED, Claim, claim_events, raise_floor, settle_events
from journal.store import open_journal, record_activity
from journal.tasks import TaskSummary, live_tasks
from starters.early_life_client import EarlyLifeClient, workflow_of_task
from starters.operator_controls import OperatorControls
from workflows.early_life_input import early_life_workflow_id
from workflows.events import IncomingEvent, OnboardingEvent, fingerprint
from workflows.funnel import EventType
from workflows.human_tasks import (
    ClaimTask,
    CompleteTask,
    HumanTask,
    ReleaseTask,
    TaskOutcome,
    TaskRefused,
)
from workflows.journey import JourneyInput, OnboardingJourney, workflow_id_for
from workflows.journey_view import JourneyView
from workflows.playbook import Playbook, load_playbook
from workflows.search_attributes import HUMAN_TASK_STATE, JOURNEY_STATUS, initial_search_attributes

log = structlog.get_logger(__name__)
QUERY_DEADLINE = timedelta(seconds=3)
MAX_LISTED_TASKS = 500  # an inbox longer than this needs more agents, not a longer page
QUERIES_IN_FLIGHT = 20
CUSTOMERS_IN_FLIGHT = 32  # a batch's customers signalled side by side: 500 at once overloads a small server

# Consent events the early-life journey takes too, once onboarding has completed.
CONSENT_EVENTS = frozenset({EventType.OPTED_OUT, EventType.OPTED_IN})
ReceiptStatus = Literal["recorded", "duplicate", "conflict", "ignored"]
ENDED_NOTE = "journey already ended; event ignored"
NOTES: dict[str, str] = {
    "recorded": "recorded",
    "duplicate": "duplicate of an event already recorded",
    "conflict": "conflict: this event_id was recorded with other content; event ignored",
}


class EventsRejected(ValueError):
    """Events the door refused, by their position in the batch: nothing of the batch was recorded."""

    def __init__(self, failures: list[tuple[int, ValidationError]]) -> None:
        super().__init__(f"{len(failures)} of the events are invalid; nothing was recorded")
        self.failures = failures


class EventReceipt(BaseModel):
    event_id: str
    customer_id: str
    workflow_id: str
    status: ReceiptStatus
    accepted: bool  # status == "recorded": a new event, handed to its journey
    note: str


def _receipt(
    event: OnboardingEvent, status: ReceiptStatus, note: str | None = None, *, early_life: bool = False
) -> EventReceipt:
    """`early_life`: the event went to the customer's early-life journey, whose id the receipt names."""
    return EventReceipt(
        event_id=event.event_id,
        customer_id=event.customer_id,
        workflow_id=(early_life_workflow_id if early_life else workflow_id_for)(event.customer_id),
        status=status,
        accepted=status == "recorded",
        note=note or NOTES.get(status, ENDED_NOTE),
    )


def admit_events(items: Sequence[Any], now: datetime) -> list[IncomingEvent]:
    """The door, for the API, the CLI and this client alike: every event checked (time range, attributes
    by type, sizes) before any is recorded. Raises `EventsRejected` naming each bad event's position."""
    context = {"now": now}
    admitted: list[IncomingEvent] = []
    failures: list[tuple[int, ValidationError]] = []
    for index, item in enumerate(items):
        raw = item.model_dump() if isinstance(item, BaseModel) else item
        try:
            admitted.append(IncomingEvent.model_validate(raw, context=context))
        except ValidationError as err:
            failures.append((index, err))
    if failures:
        raise EventsRejected(failures)
    return admitted


async def _wall_clock() -> datetime:
    return datetime.now(UTC)


class RecoveryClient(OperatorControls, EarlyLifeClient):
    def __init__(
        self,
        client: Client,
        playbook: Playbook,
        task_queue: str,
        journal: Engine | None = None,
        messaging_task_queue: str | None = None,
        clock: Callable[[], Awaitable[datetime]] = _wall_clock,
    ) -> None:
        self.temporal = client
        self.playbook = playbook
        self.task_queue = task_queue
        self.journal = journal
        self.messaging_task_queue = messaging_task_queue
        self.clock = clock  # the door's "now" (a time-skipping test server passes its own)

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> "RecoveryClient":
        """Connects to Temporal and opens the journal. It does not migrate it: `recovery migrate`, `recovery
        up` and the worker at start do, so a CLI call spends no time on the schema."""
        settings = settings or Settings()
        journal = open_journal(settings.journal_database_url)
        return cls(
            await connect(settings),
            load_playbook(settings.playbook),
            settings.task_queue,
            journal,
            settings.messaging_task_queue,
        )

    async def admit(self, items: Sequence[Any]) -> list[IncomingEvent]:
        """The door at this client's clock (`admit_events`)."""
        return admit_events(items, await self.clock())

    async def record_event(self, event: OnboardingEvent) -> EventReceipt:
        return (await self.record_events([event]))[0]

    async def record_events(self, events: Sequence[OnboardingEvent]) -> list[EventReceipt]:
        """A batch, whole or not at all at the door; then each customer's events in order of occurrence,
        different customers side by side. Receipts come back in the order of `events`."""
        admitted = await self.admit(events)
        claims, floors = await self._claim(admitted)
        receipts: list[EventReceipt | None] = [None] * len(admitted)
        first_of: dict[str, int] = {}
        to_send: dict[str, list[int]] = {}
        for index, event in enumerate(admitted):
            claim, digest = claims.get(event.event_id), fingerprint(event)
            if event.event_id in first_of:  # twice in this batch: the first one stands for both
                earlier = admitted[first_of[event.event_id]]
                receipts[index] = _receipt(event, "duplicate" if fingerprint(earlier) == digest else "conflict")
            elif claim is not None and claim.fingerprint != digest:
                receipts[index] = _receipt(event, "conflict")
            elif claim is not None and not claim.new and claim.state == DELIVERED:
                receipts[index] = _receipt(event, "duplicate")
            elif claim is not None and claim.state == IGNORED:
                receipts[index] = _receipt(event, "ignored")
            else:  # new, or pending since an intake that never confirmed its signal: (re)send it
                to_send.setdefault(event.customer_id, []).append(index)
            first_of.setdefault(event.event_id, index)

        senders = asyncio.Semaphore(CUSTOMERS_IN_FLIGHT)

        async def one_customer(indexes: list[int]) -> None:
            async with senders:
                ordered = sorted(indexes, key=lambda i: (admitted[i].occurred_at, admitted[i].event_id))
                floor = floors.get(admitted[indexes[0]].customer_id)
                for index in ordered:  # activity after activation goes to the journal, not the journey
                    if admitted[index].type is EventType.ACTIVE:
                        receipts[index] = await self._record_activity(admitted[index])
                journey = [i for i in ordered if admitted[i].type is not EventType.ACTIVE]
                if journey:
                    for index, receipt in zip(
                        journey, await self._deliver([admitted[i] for i in journey], floor), strict=False
                    ):
                        receipts[index] = receipt
                for index in journey:  # consent after activation matters to the early-life journey too
                    if admitted[index].type in CONSENT_EVENTS and await self.tell_early_life(admitted[index]):
                        receipts[index] = _receipt(
                            admitted[index], "recorded", "told the early-life journey", early_life=True
                        )

        results = await asyncio.gather(*(one_customer(ix) for ix in to_send.values()), return_exceptions=True)
        settled = {
            r.event_id: DELIVERED if r.status == "recorded" else IGNORED
            for r in receipts
            if r is not None and r.status in ("recorded", "ignored")
        }
        if self.journal is not None and settled:
            await asyncio.to_thread(settle_events, self.journal, settled)
        for result in results:
            if isinstance(result, BaseException):
                raise result  # what was delivered is settled; the rest stays pending and is sent again on a retry
        return [r for r in receipts if r is not None]

    async def _claim(self, events: list[IncomingEvent]) -> tuple[dict[str, Claim], dict[str, datetime]]:
        if self.journal is None:  # no ledger: duplicates are left to the journey
            return {}, {}
        rows = [(e.event_id, e.customer_id, fingerprint(e)) for e in events]
        return await asyncio.to_thread(
            claim_events, self.journal, rows, {e.customer_id for e in events}, await self.clock()
        )

    async def _record_activity(self, event: IncomingEvent) -> EventReceipt:
        """Activity after activation outlives the journey: it goes straight to the journal."""
        if self.journal is None:
            if await self.tell_early_life(event):
                return _receipt(
                    event, "recorded", "told the early-life journey; no journal configured", early_life=True
                )
            return _receipt(event, "ignored", "no journal configured; activity ignored")
        await asyncio.to_thread(record_activity, self.journal, event.event_id, event.customer_id, event.occurred_at)
        if await self.tell_early_life(event):
            return _receipt(event, "recorded", "activity recorded; told the early-life journey", early_life=True)
        return _receipt(event, "recorded", "activity recorded")

    async def _deliver(self, events: list[IncomingEvent], floor: datetime | None) -> list[EventReceipt]:
        """Records one customer's journey events (in order of occurrence) with one signal-with-start, so a
        batch costs the journey one billed signal and one history event; receipts in the order given.

        `floor` is the end of the customer's latest ended journey: events up to it are ignored. A closed
        journey takes nothing more: the events after its end start a new run with them, the others are
        ignored, and a completed onboarding ignores them all."""
        receipts: dict[int, EventReceipt] = {}
        live = [i for i, event in enumerate(events) if floor is None or event.occurred_at > floor]
        for i in range(len(events)):
            if i not in live:
                receipts[i] = _receipt(events[i], "ignored")
        for _ in range(3):  # a new journey started meanwhile by another intake: try again
            if not live:
                break
            try:
                await self._signal_with_start([events[i] for i in live], WorkflowIDReusePolicy.REJECT_DUPLICATE)
                receipts.update({i: _receipt(events[i], "recorded") for i in live})
                live = []
                break
            except WorkflowAlreadyStartedError:
                pass
            ended = await self._ended_journey(events[0].customer_id)
            if ended is None:
                continue
            ended_at, completed = ended
            later = [] if completed else [i for i in live if events[i].occurred_at > ended_at]
            receipts.update({i: _receipt(events[i], "ignored") for i in live if i not in later})
            live = []
            if later:
                customer_id = events[0].customer_id
                if self.journal is not None:
                    await asyncio.to_thread(raise_floor, self.journal, customer_id, ended_at)
                await self._signal_with_start([events[i] for i in later], WorkflowIDReusePolicy.ALLOW_DUPLICATE)
                log.info("journey_restarted", customer_id=customer_id, workflow_id=workflow_id_for(customer_id))
                receipts[later[0]] = _receipt(
                    events[later[0]], "recorded", "recorded: a new journey, the last one had ended"
                )
                receipts.update({i: _receipt(events[i], "recorded") for i in later[1:]})
        receipts.update({i: _receipt(events[i], "ignored") for i in live})  # three races lost: as before
        return [receipts[i] for i in range(len(events))]

    async def _signal_with_start(self, events: list[IncomingEvent], reuse: WorkflowIDReusePolicy) -> None:
        """One signal for the customer's whole share of a batch (`record_events`), starting the journey if needed."""
        await self.temporal.start_workflow(
            OnboardingJourney.run,
            JourneyInput(
                customer_id=events[0].customer_id,
                playbook=self.playbook,
                messaging_task_queue=self.messaging_task_queue,
            ),
            id=workflow_id_for(events[0].customer_id),
            task_queue=self.task_queue,
            start_signal="record_events",
            start_signal_args=[list(events)],
            id_reuse_policy=reuse,
            search_attributes=initial_search_attributes(self.playbook.version),
        )

    async def _ended_journey(self, customer_id: str) -> tuple[datetime, bool] | None:
        """The latest run's close time and whether it completed onboarding; None while a run is open.

        The close time is when the journey ended (an old first event ends it at once, at intake).
        A completed onboarding is never reopened: the customer is active, later events change nothing.
        """
        description = await self.temporal.get_workflow_handle(workflow_id_for(customer_id)).describe()
        if description.status in (None, WorkflowExecutionStatus.RUNNING) or description.close_time is None:
            return None
        completed = description.typed_search_attributes.get(JOURNEY_STATUS) == "completed"
        return description.close_time, completed

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
        return await self._update(
            task_id, OnboardingJourney.release_task, ReleaseTask(task_id=task_id, agent_id=agent_id)
        )

    async def complete_task(self, task_id: str, agent_id: str, outcome: TaskOutcome, note: str = "") -> HumanTask:
        request = CompleteTask(task_id=task_id, agent_id=agent_id, outcome=outcome, note=note)
        return await self._update(task_id, OnboardingJourney.complete_task, request)

    async def _update(self, task_id: str, update: Any, request: ClaimTask | ReleaseTask | CompleteTask) -> HumanTask:
        handle = self.temporal.get_workflow_handle(workflow_of_task(task_id))
        try:
            task: HumanTask = await handle.execute_update(update, request)
            return task
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            raise TaskRefused(getattr(cause, "message", None) or str(cause)) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise TaskRefused(f"unknown task {task_id}: no running journey") from None
            raise

    async def list_tasks(self, states: Sequence[str] = ("open", "claimed")) -> list[TaskSummary]:
        """Live human tasks, soonest due first, from the journal: one database read, no Temporal query.

        The journal lags a journey by a moment: a claim, release or completion is written at the
        journey's next wake-up. Whoever acted has the Update's result; the console lays it over
        this listing (`console/task_feed.py`). Without a journal, each journey is queried instead.
        """
        if self.journal is None:
            return await self._list_tasks_by_query(states)
        return await asyncio.to_thread(live_tasks, self.journal, states, MAX_LISTED_TASKS)

    async def _list_tasks_by_query(self, states: Sequence[str]) -> list[TaskSummary]:
        """Found through visibility and read from each journey: one billed query per task.

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
            TaskSummary(
                task=view.open_task,
                customer_id=view.customer_id,
                workflow_id=view.workflow_id,
                stage=view.stage.value,
                timezone=view.timezone,
            )
            for view in views
            if view is not None and view.open_task is not None and view.open_task.state.value in states
        ]
        return sorted(summaries, key=lambda s: s.task.due_at)

    async def _view_or_none(self, workflow_id: str) -> JourneyView | None:
        try:
            return await self.temporal.get_workflow_handle(workflow_id).query(
                OnboardingJourney.view, rpc_timeout=QUERY_DEADLINE
            )
        except (RPCError, WorkflowQueryFailedError) as err:
            log.warning("journey_unreadable", workflow_id=workflow_id, error=type(err).__name__)
            return None
