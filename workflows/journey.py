"""OnboardingJourney: one durable workflow per customer, from the first onboarding event to the end.

It reads like the playbook it runs: wait for the next event or the next due moment, decide
(`next_step`), act. Every decision is a pure function in this folder; this class only sequences them
and talks to activities.
"""

import asyncio
from collections import deque
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.workflow import ActivityCancellationType
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import (
        JournalBatch,
        OutboundMessage,
        ServiceHealth,
        ServiceHealthQuery,
        StaffNotification,
        Store,
        StoreQuery,
    )
    from workflows import activity_stubs
    from workflows.copy import nudge_text, store_offer_text
    from workflows.events import OnboardingEvent
    from workflows.funnel import Channel, Stage
    from workflows.human_tasks import (
        ClaimTask,
        CompleteTask,
        HumanTask,
        ReleaseTask,
        TaskReason,
        TaskRefused,
        TaskState,
        check_claim,
        check_complete,
        check_release,
    )
    from workflows.journey_state import (
        DecisionAction,
        JourneyOutcome,
        JourneyState,
        MessageKind,
        SentMessage,
        adopt_bounds,
        apply_event,
        apply_task_outcome,
        finish,
        new_journey,
        open_task,
        recount_messages,
    )
    from workflows.journey_input import JourneyInput
    from workflows.journey_rules import (
        BOUNDED_STATE_PATCH,
        JOURNAL_AND_HOLDOUT_PATCH,
        JOURNAL_BATCHING_PATCH,
        PROGRESS_GUARDS_PATCH,
        TASK_OVERDUE_PATCH,
        UNREACHABLE_WINDOW_PATCH,
        CURRENT_RULES,
        JourneyRules,
    )
    from workflows.journey_metrics import count_decision, count_journey_started
    from workflows.journal_entries import journal_due, journal_position, mark_journaled, unjournaled_batch
    from workflows.journey_view import JourneyView, view_of
    from workflows.next_step import (
        AlertOps,
        Defer,
        EndJourney,
        EscalateOverdueTask,
        EscalateToAgent,
        NotifyAgents,
        SendMessage,
        Suppress,
        Wait,
        cutoff_of,
        detect_drop_off,
        next_step,
    )
    from workflows.playbook import Playbook
    from workflows.search_attributes import search_attribute_values, updates_for
    from workflows.state_bounds import StateBounds

WORKFLOW_ID_PREFIX = "onboarding-"


class StaleWorkflowClock(RuntimeError):
    """Fails an activation the SDK ran on a stale clock (the workflow task, not the journey): see `OnboardingJourney._now`."""


def workflow_id_for(customer_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{customer_id}"


# Deliveries: quick attempts, patient retries; a message undeliverable for a day is not worth sending late.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=12,
    non_retryable_error_types=["DeliveryRejected"],
)
# The journal must not lose a decision, nor hold a journey up: retry a while, then try again next wake-up.
JOURNAL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=2))
# What one workflow task folds in at most: a flood of signals must not hold a task past the SDK's
# 2-second deadlock detector (the task would fail, be retried with more, and the journey freeze).
EVENTS_PER_TASK = 2_000
# Temporal warns at 10 MB of history and fails the workflow at 50 MB; bounded journeys roll over far below.
HISTORY_BYTES_LIMIT = 4 * 1024 * 1024
LOOKUP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), maximum_attempts=5)


@workflow.defn
class OnboardingJourney:
    @workflow.init
    def __init__(self, journey: JourneyInput) -> None:
        self._playbook = journey.playbook
        self._customer_id = journey.customer_id
        self._state: JourneyState | None = journey.state
        self._changed = False
        self._published: dict[str, object] = {}
        self._messaging_queue = journey.messaging_task_queue
        # Metrics count decisions once; a continued run's decisions were counted by the run before.
        self._metrics_cursor = journey.state.decisions_recorded if journey.state else 0
        # Signals not yet folded in (still encoded), and what the current workflow task has folded.
        self._intake: deque[tuple[RawValue, bool]] = deque()
        self._folded_in_task: tuple[datetime | None, int] = (None, 0)
        # The timer of the current wait, kept across wake-ups while its deadline stands.
        self._timer: asyncio.Task[None] | None = None
        self._timer_until: datetime | None = None
        # Workflow time and history length at the last read of the clock (see `_now`).
        self._clock_mark: tuple[datetime, int] | None = None
        # The rules this journey runs (see `_rules_of_this_journey`), kept for the view query.
        self._rules: JourneyRules | None = None

    # -- the playbook ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, journey: JourneyInput) -> JourneyOutcome | None:
        if self._state is None:
            # Started without its first event (e.g. from the UI): nothing to run until one arrives.
            try:
                await workflow.wait_condition(lambda: self._state is not None, timeout=self._playbook.guardrails.max_lifetime)
            except asyncio.TimeoutError:
                return None
        state = self._journey()
        while state.outcome is None:
            if state.bounds is None and workflow.patched(BOUNDED_STATE_PATCH):
                adopt_bounds(state, StateBounds())
            if self._intake:  # a backlog from a flood: a short timer gives the next workflow task
                await workflow.sleep(timedelta(milliseconds=1))
                self._take_in()
                continue
            now = self._now()
            self._changed = False  # from here on, any event makes the next wait return at once
            if detect_drop_off(state, self._playbook, now):
                self._log("drop_off_detected")
            step = next_step(state, self._playbook, now, self._rules_of_this_journey())
            match step:
                case Wait(until=until, next_action=label):
                    state.next_action, state.next_action_at = label, until
                    self._publish_search_attributes()
                    self._count_decisions()
                    await self._flush_journal()
                    # A bounded journey rolls over even under a flood of events; the next run reads them.
                    long_now = state.bounds is not None and not self._intake and self._history_is_heavy()
                    if long_now or await self._wait_for_news(until) == "continue_as_new":
                        await workflow.wait_condition(workflow.all_handlers_finished)
                        workflow.continue_as_new(
                            JourneyInput(customer_id=self._customer_id, playbook=self._playbook, state=state,
                                         messaging_task_queue=self._messaging_queue)
                        )
                case EndJourney(kind=kind, reason=reason):
                    finish(state, kind, now, reason)
                case NotifyAgents(task_id=task_id):
                    await self._notify_agents(task_id)
                case EscalateOverdueTask(task_id=task_id):
                    await self._escalate_overdue(task_id)
                case AlertOps(reason=reason):
                    await self._alert_ops(reason)
                case Defer(until=until, reason=reason, what=what):
                    state.deferred_until = until
                    state.record(now, DecisionAction.DEFERRED, reason, f"{what} until {until.isoformat()}")
                    self._log("message_deferred", reason=reason, until=until.isoformat())
                case Suppress(what=what, reason=reason, key=key):
                    state.suppressed_attempt = key
                    state.record(now, DecisionAction.SUPPRESSED, reason, what)
                    self._log("message_suppressed", reason=reason)
                case SendMessage():
                    await self._send(step)
                case EscalateToAgent(task_kind=task_kind):
                    state.escalated = True
                    if state.in_holdout:
                        state.record(now, DecisionAction.SUPPRESSED, "holdout", f"would have opened a {task_kind.value} task")
                    else:
                        state.record(now, DecisionAction.ESCALATED, "human_task", f"{state.attempts} unanswered nudges")
                        open_task(state, self._playbook, task_kind, TaskReason.PLAYBOOK_ESCALATION, now, detail="no answer to the nudges")
        self._publish_search_attributes()
        self._count_decisions()
        await self._flush_journal()
        self._log("journey_ended", outcome=state.outcome.kind.value, reason=state.outcome.reason)
        return state.outcome

    async def _wait_for_news(self, until: datetime) -> str:
        """Sleeps on one timer until `until`, an event that changes something, or a history to roll over."""
        timeout = until - self._now()
        if timeout <= timedelta(0) or self._changed:
            return "changed" if self._changed else "due"
        if self._journey().bounds is not None:
            return await self._wait_on_kept_timer(until, timeout)
        try:
            await workflow.wait_condition(lambda: self._changed or self._history_is_long(), timeout=timeout)
        except asyncio.TimeoutError:
            return "due"
        return "continue_as_new" if not self._changed and self._history_is_long() else "changed"

    async def _wait_on_kept_timer(self, until: datetime, timeout: timedelta) -> str:
        """Bounded journeys keep their timer while the deadline stands: an event that changes nothing
        about when to act next costs no new timer (before, every event cancelled one and started one)."""
        if self._timer is None or self._timer_until != until:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_until = asyncio.create_task(workflow.sleep(timeout)), until
        timer = self._timer
        await workflow.wait_condition(lambda: self._changed or timer.done() or self._history_is_long())
        if timer.done() and not self._changed:
            self._timer = None
            return "due"
        return "continue_as_new" if not self._changed and self._history_is_long() else "changed"

    def _history_is_long(self) -> bool:
        self._now()  # checked in every activation that may wake the wait: see `_now`
        info = workflow.info()
        limit = self._playbook.guardrails.continue_as_new_after_events
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= limit

    def _history_is_heavy(self) -> bool:
        """Bounded journeys also roll over on bytes: a few big batches are few events but many megabytes."""
        return self._history_is_long() or workflow.info().get_current_history_size() >= HISTORY_BYTES_LIMIT

    # -- acting ---------------------------------------------------------------------------------

    async def _send(self, step: SendMessage) -> None:
        state = self._journey()
        stage, stage_since = state.stage, state.stage_since
        if step.check_service:
            healthy = await self._service_is_healthy(step.check_service)
            if self._moved_on(stage, stage_since):
                return
            if not healthy:
                retry_at = self._now() + self._playbook.guardrails.service_recheck
                state.service_retry_at = state.deferred_until = retry_at
                state.record(self._now(), DecisionAction.DEFERRED, "service_unhealthy", f"{step.check_service} reported down")
                return
        if step.kind is MessageKind.SMS_STORE_OFFER:
            try:
                store = await workflow.execute_activity(
                    activity_stubs.find_nearest_store,
                    StoreQuery(customer_id=state.customer_id, location=state.profile.location),
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=LOOKUP_RETRY,
                )
            except ActivityError:
                state.record(self._now(), DecisionAction.FAILED, "store_lookup_failed", "no store to offer")
                self._count_attempt(step, stage, stage_since, self._now())
                return
            if self._moved_on(stage, stage_since):
                return
            text, deep_link = store_offer_text(state, self._playbook, store.name, store.address), None
        else:
            text, deep_link = nudge_text(state, self._playbook), self._playbook.for_stage(stage).deep_link
        if state.in_holdout:
            state.record(
                self._now(), DecisionAction.SUPPRESSED, "holdout",
                f"would have sent {step.kind.value} {step.attempt} by {step.channel.value}: {text}",
            )
            self._count_attempt(step, stage, stage_since, self._now())
            return
        state.message_seq += 1
        message = OutboundMessage(
            message_id=f"{workflow.info().workflow_id}:{workflow.info().first_execution_run_id[:8]}:m{state.message_seq}",
            customer_id=state.customer_id,
            workflow_id=workflow.info().workflow_id,
            channel=step.channel,
            kind=step.kind.value,
            stage=stage,
            attempt=step.attempt,
            text=text,
            deep_link=deep_link,
            created_at=self._now(),
        )
        # Recorded before delivery: a completion that arrives while the message is on its way must
        # see it as the intervention that came last.
        sent = SentMessage(
            message_id=message.message_id, channel=step.channel, kind=step.kind, stage=stage, attempt=step.attempt,
            sent_at=message.created_at, text=text, deep_link=deep_link, fallback=step.fallback,
        )
        state.messages.append(sent)
        reason = f"fallback_to_{step.channel.value}" if step.fallback else step.channel.value
        state.record(message.created_at, DecisionAction.SENT, reason, f"{step.kind.value} {step.attempt}")
        try:
            delivered = await self._deliver(message, stage, stage_since)
        except ActivityError as err:
            state.messages.remove(sent)
            cause = err.cause.message if err.cause is not None and hasattr(err.cause, "message") else str(err)
            state.record(self._now(), DecisionAction.FAILED, "delivery_failed", f"{step.channel.value}: {cause}")
            self._log("message_failed", channel=step.channel.value)
        else:
            if not delivered:
                state.messages.remove(sent)
                why = "journey_ended" if state.outcome is not None else "customer_progressed"
                if state.outcome is not None:  # an ending that credited this message: it never went out
                    recount_messages(state)
                state.record(self._now(), DecisionAction.CANCELLED, why, f"{step.kind.value} {step.attempt} ({message.message_id})")
                self._log("message_cancelled", channel=step.channel.value, reason=why)
                return
            self._log("message_sent", channel=step.channel.value, kind=step.kind.value, attempt=step.attempt)
        self._count_attempt(step, stage, stage_since, message.created_at)

    async def _deliver(self, message: OutboundMessage, stage: Stage, stage_since: datetime) -> bool:
        """Delivers, unless the customer moves on (or the journey ends) first: then the delivery is
        cancelled, even while it waits between retries, and False says so. Journeys started before
        bounded-state wait for the delivery whatever happens, as they did."""
        delivery = workflow.start_activity(
            activity_stubs.send_push if message.channel is Channel.PUSH else activity_stubs.send_sms,
            message,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(hours=1),
            retry_policy=DELIVERY_RETRY,
            task_queue=self._messaging_queue,
            cancellation_type=ActivityCancellationType.TRY_CANCEL,
        )
        if self._journey().bounds is None:
            await delivery
            return True
        state = self._journey()
        await workflow.wait_condition(
            lambda: delivery.done() or state.outcome is not None or (state.stage, state.stage_since) != (stage, stage_since)
        )
        if delivery.done():
            await delivery  # raises the delivery's failure, if it failed
            return True
        delivery.cancel()
        try:
            await delivery
        except (ActivityError, asyncio.CancelledError):
            pass
        return False

    def _count_attempt(self, step: SendMessage, stage: Stage, stage_since: datetime, sent_at: datetime) -> None:
        state = self._journey()
        if (state.stage, state.stage_since) != (stage, stage_since):
            return  # the customer moved on while we were sending: the new stage starts its own count
        state.deferred_until = state.service_retry_at = None
        if step.kind is MessageKind.NUDGE:
            state.attempts, state.last_nudge_at = step.attempt, sent_at
        else:
            state.store_offer_requested, state.escalated = False, True
            if not state.in_holdout:
                state.record(self._now(), DecisionAction.ESCALATED, "sms_store_offer", f"{state.attempts} unanswered nudges")

    async def _flush_journal(self) -> None:
        """One activity per wake-up, not per decision: the journal costs a few actions per journey."""
        if not workflow.patched(JOURNAL_AND_HOLDOUT_PATCH):
            return
        state = self._journey()
        if workflow.patched(JOURNAL_BATCHING_PATCH) and not journal_due(state):
            return
        info = workflow.info()
        position = journal_position(state)
        batch = unjournaled_batch(state, info.workflow_id, info.first_execution_run_id[:8])
        if batch is None:
            return
        try:
            await workflow.execute_activity(
                activity_stubs.record_journal, batch, start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=timedelta(minutes=10), retry_policy=JOURNAL_RETRY,
            )
        except ActivityError:
            self._log("journal_unavailable")  # kept in state: the next wake-up writes it
            return
        mark_journaled(state, position)

    def _moved_on(self, stage: Stage, stage_since: datetime) -> bool:
        """After an await: did the customer progress, or the journey end, meanwhile? Then the send is moot."""
        if not self._rules_of_this_journey().progress_guards:
            return False
        state = self._journey()
        return state.outcome is not None or (state.stage, state.stage_since) != (stage, stage_since)

    async def _service_is_healthy(self, service: str) -> bool:
        """A status endpoint that cannot be read counts as 'not healthy yet': the nudge waits, the journey lives."""
        try:
            health = await workflow.execute_activity(
                activity_stubs.check_service_health,
                ServiceHealthQuery(service=service),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=LOOKUP_RETRY,
            )
        except ActivityError:
            self._log("service_health_unknown", service=service)
            return False
        return health.healthy

    async def _notify_agents(self, task_id: str) -> None:
        state = self._journey()
        task = next(t for t in state.tasks if t.task_id == task_id)
        await self._notify_staff("task_opened", f"{task.kind.value}: {task.reason.value}", task)
        task.notified = True

    async def _escalate_overdue(self, task_id: str) -> None:
        state = self._journey()
        task = next(t for t in state.tasks if t.task_id == task_id)
        await self._notify_staff("task_overdue", f"{task.kind.value} unclaimed past its due time", task)
        task.overdue_escalated = True
        state.record(self._now(), DecisionAction.TASK_OVERDUE, "unclaimed_past_due", task.task_id)

    async def _alert_ops(self, reason: str) -> None:
        state = self._journey()
        await self._notify_staff("review_stalled", reason, None)
        state.ops_alerted = True
        state.record(self._now(), DecisionAction.OPS_ALERTED, "review_stalled", reason)

    async def _notify_staff(self, kind: str, summary: str, task: HumanTask | None) -> None:
        """Best effort: a notification that cannot be delivered is recorded; the journey goes on."""
        state = self._journey()
        info = workflow.info()
        try:
            await self._deliver_staff_notification(kind, summary, task, state, info)
        except ActivityError:
            state.record(self._now(), DecisionAction.FAILED, "notification_failed", f"{kind} {task.task_id if task else ''}".strip())
            self._log("staff_notification_failed", kind=kind)

    async def _deliver_staff_notification(self, kind: str, summary: str, task: HumanTask | None, state: JourneyState, info: workflow.Info) -> None:
        await workflow.execute_activity(
            activity_stubs.notify_staff,
            StaffNotification(
                notification_id=f"{info.workflow_id}:{info.first_execution_run_id[:8]}:{kind}:{task.task_id if task else state.decisions_recorded}",
                kind=kind,
                customer_id=state.customer_id,
                workflow_id=info.workflow_id,
                stage=state.stage,
                summary=summary,
                task_id=task.task_id if task else None,
                due_at=task.due_at if task else None,
                created_at=self._now(),
            ),
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(hours=1),
            retry_policy=DELIVERY_RETRY,
            task_queue=self._messaging_queue,
        )

    # -- events from the app --------------------------------------------------------------------

    # Signals arrive encoded (RawValue) and are decoded as they are folded in, so a workflow task that
    # receives a flood decodes and applies only its share (EVENTS_PER_TASK); the loop takes the rest.

    @workflow.signal(name="record_event")
    def record_event(self, event: RawValue) -> None:
        self._intake.append((event, False))
        self._take_in()

    @workflow.signal(name="record_events")
    def record_events(self, events: RawValue) -> None:
        """One customer's batch in one signal: one billed action and one history event, not one per event."""
        self._intake.append((events, True))
        self._take_in()

    def _take_in(self) -> None:
        converter = workflow.payload_converter()
        while self._intake and self._may_fold_more():
            raw, is_batch = self._intake.popleft()
            events = converter.from_payload(raw.payload, list[OnboardingEvent]) if is_batch else [
                converter.from_payload(raw.payload, OnboardingEvent)
            ]
            for event in events:
                self._fold_in(event, log=not is_batch)
            task, folded = self._folded_in_task
            self._folded_in_task = (task, folded + len(events))
            if is_batch and events:
                self._log("events_recorded", count=len(events))
        if self._intake:
            self._changed = True

    def _may_fold_more(self) -> bool:
        """Journeys started before bounded-state fold everything at once, as they always did."""
        if self._state is None or self._state.bounds is None:
            return True
        task, folded = self._folded_in_task
        if task != self._now():  # a new workflow task: a new share
            self._folded_in_task = (self._now(), 0)
            return True
        return folded < EVENTS_PER_TASK

    def _fold_in(self, event: OnboardingEvent, log: bool) -> None:
        now = self._now()
        if self._state is None:
            share = self._playbook.holdout_share if workflow.patched(JOURNAL_AND_HOLDOUT_PATCH) else 0.0
            bounds = StateBounds() if workflow.patched(BOUNDED_STATE_PATCH) else None
            self._state = new_journey(event, self._playbook, now, holdout_share=share, bounds=bounds)
            count_journey_started(workflow.metric_meter(), self._state.group.value)
        effect = apply_event(self._state, event, self._playbook, now)
        if effect is not None:
            self._changed = True
            if log:
                self._log("event_recorded", event_type=event.type.value, effect=effect.value)

    # -- agents ---------------------------------------------------------------------------------

    @workflow.update
    def claim_task(self, request: ClaimTask) -> HumanTask:
        state = self._journey()
        task = check_claim(state.tasks, request)
        if task.state is TaskState.OPEN:
            task.state, task.claimed_by, task.claimed_at = TaskState.CLAIMED, request.agent_id, self._now()
            state.record(self._now(), DecisionAction.TASK_CLAIMED, "agent", f"{task.task_id} by {request.agent_id}")
            self._changed = True
        return task

    @claim_task.validator
    def _validate_claim(self, request: ClaimTask) -> None:
        check_claim(self._journey().tasks, request)

    @workflow.update
    def release_task(self, request: ReleaseTask) -> HumanTask:
        state = self._journey()
        task = check_release(state.tasks, request)
        task.state, task.claimed_by, task.claimed_at = TaskState.OPEN, None, None
        state.record(self._now(), DecisionAction.TASK_RELEASED, "agent", f"{task.task_id} by {request.agent_id}")
        self._changed = True
        return task

    @release_task.validator
    def _validate_release(self, request: ReleaseTask) -> None:
        check_release(self._journey().tasks, request)

    @workflow.update
    def complete_task(self, request: CompleteTask) -> HumanTask:
        state = self._journey()
        task = check_complete(state.tasks, request)
        now = self._now()
        task.state, task.outcome, task.note = TaskState.COMPLETED, request.outcome, request.note
        task.completed_by, task.completed_at = request.agent_id, now
        state.record(now, DecisionAction.TASK_COMPLETED, request.outcome.value, f"{task.task_id} by {request.agent_id}")
        apply_task_outcome(state, task, request.outcome, now, self._rules_of_this_journey())
        self._changed = True
        return task

    @complete_task.validator
    def _validate_complete(self, request: CompleteTask) -> None:
        check_complete(self._journey().tasks, request)

    # -- ops ------------------------------------------------------------------------------------

    @workflow.query
    def view(self) -> JourneyView:
        state = self._journey()
        # A query may not ask patches; a journey that never decided a step ended with its first event,
        # and the cutoff of an ended journey is its end, whatever the rules.
        rules = self._rules or CURRENT_RULES
        return view_of(state, workflow.info().workflow_id, cutoff_of(state, self._playbook, rules))

    # -- plumbing -------------------------------------------------------------------------------

    def _now(self) -> datetime:
        """`workflow.now()`, refusing to decide on a clock the SDK did not move.

        Workaround for temporalio 1.35.0 (sdk-core): a query that the server sends straight to the
        task queue (no workflow task pending) while no worker polls waits there; the fresh worker
        that takes it gets a history that may end with newer events (a fired timer, a signal, an
        activity result) and no WorkflowTaskStarted. The SDK applies them and runs this code with
        the clock of the last workflow task, keeps the result in its cache, and sends its commands
        with the next real task, while any replay runs the same events at that task's time: the
        journey forks (issue 9, item 2). A real workflow task always moves the clock, so history
        that grew under a clock that did not move can only be that activation: fail it. The SDK
        then fails just that query and evicts the run, and the next task replays at its own time.
        Drop this once the SDK no longer runs workflow code on a query's events.
        """
        now = workflow.now()
        length = workflow.info().get_current_history_length()
        if self._clock_mark is not None:
            seen_at, seen_length = self._clock_mark
            if length > seen_length and now <= seen_at:
                raise StaleWorkflowClock(
                    f"history grew from {seen_length} to {length} events on the clock of {seen_at.isoformat()}"
                )
        self._clock_mark = (now, length)
        return now

    def _rules_of_this_journey(self) -> JourneyRules:
        """Asked first where the journey decides its first step, as these patches always were (their
        markers must stay where histories recorded them); later calls, the view query included, read
        the same value."""
        if self._rules is None:
            self._rules = JourneyRules(
                escalate_overdue_tasks=workflow.patched(TASK_OVERDUE_PATCH),
                progress_guards=workflow.patched(PROGRESS_GUARDS_PATCH),
                offer_ends_nudging=workflow.patched(UNREACHABLE_WINDOW_PATCH),
            )
        return self._rules

    def _journey(self) -> JourneyState:
        if self._state is None:
            raise TaskRefused(f"journey of {self._customer_id} has received no event yet")
        return self._state

    def _count_decisions(self) -> None:
        """Product metrics (replay-safe: the SDK records nothing while replaying)."""
        state = self._journey()
        for index, decision in enumerate(state.decisions, start=state.decisions_dropped):
            if index >= self._metrics_cursor:
                count_decision(workflow.metric_meter(), decision, state.group.value)
        self._metrics_cursor = state.decisions_recorded

    def _publish_search_attributes(self) -> None:
        values = search_attribute_values(self._journey())
        updates = updates_for(values, self._published)
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published = values

    def _log(self, event: str, **fields: object) -> None:
        state = self._state
        stage = state.stage.value if state else None
        workflow.logger.info(event, extra={"customer_id": self._customer_id, "stage": stage, **fields})
