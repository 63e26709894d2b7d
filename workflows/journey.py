"""OnboardingJourney: one durable workflow per customer, from the first onboarding event to the end.

It reads like the playbook it runs: wait for the next event or the next due moment, decide
(`next_step`), act. Every decision is a pure function in this folder; this class only sequences them.
The intake of events (journey_intake.py), the acting on decisions (journey_acting.py) and what they
share (journey_base.py) are parts of this one class, one concern per file.
"""

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import DeliveryStatus
    from workflows.early_life_start import start_early_life
    from workflows.human_tasks import CompleteTask, HumanTask
    from workflows.journey_acting import JourneyActing
    from workflows.journey_changes import finish
    from workflows.journey_controls import CANCELLED_IN_TEMPORAL, TEMPORAL_OPERATOR, CloseJourney, check_close
    from workflows.journey_input import JourneyInput
    from workflows.journey_intake import EVENTS_PER_TASK, JourneyIntake
    from workflows.journey_records import (
        record_claim,
        record_close,
        record_completion,
        record_deferred,
        record_delivery_status,
        record_escalation,
        record_release,
        record_service_recovered,
        record_suppressed,
    )
    from workflows.journey_rules import (
        BOUNDED_STATE_PATCH,
        CURRENT_RULES,
        OPERATOR_CLOSE_PATCH,
        UNREACHABLE_APART_PATCH,
    )
    from workflows.journey_state import JourneyOutcome, adopt_bounds
    from workflows.journey_view import JourneyView, view_of
    from workflows.news_wait import NewsWait
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
    from workflows.state_bounds import StateBounds
    from workflows.task_updates import TaskUpdates

__all__ = ["EVENTS_PER_TASK", "JourneyInput", "OnboardingJourney", "workflow_id_for"]

WORKFLOW_ID_PREFIX = "onboarding-"


def workflow_id_for(customer_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{customer_id}"


# Temporal warns at 10 MB of history and fails the workflow at 50 MB; bounded journeys roll over far below.
HISTORY_BYTES_LIMIT = 4 * 1024 * 1024


@workflow.defn
class OnboardingJourney(TaskUpdates, NewsWait, JourneyIntake, JourneyActing):
    @workflow.init
    def __init__(self, journey: JourneyInput) -> None:
        self._set_up(journey)

    # -- the playbook ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, journey: JourneyInput) -> JourneyOutcome | None:
        """Runs the playbook to the journey's end, and returns how it ended.

        A cancel request (the Temporal Web UI's Cancel, `temporal workflow cancel`) closes the journey
        (operator-close): the CancelledError is caught, the close recorded ("cancelled in Temporal"),
        search attributes and journal brought up to date (activities still run once the cancellation
        is caught), and the outcome returned like any other end. So the workflow completes rather than
        ending as Canceled: the journey did end, on purpose, and its result, view, search attributes
        and journal all say how, the same way as a close through the API. Before that patch, and for a
        journey that never received an event (nothing to record), the cancellation ends it as Canceled.
        """
        try:
            return await self._run_playbook()
        except asyncio.CancelledError:
            if self._state is None or not workflow.patched(OPERATOR_CLOSE_PATCH):
                raise
            state = self._state
            if state.outcome is None:
                record_close(state, CloseJourney(reason=CANCELLED_IN_TEMPORAL, by=TEMPORAL_OPERATOR), self._now())
                self._log("journey_closed", by=TEMPORAL_OPERATOR, reason=CANCELLED_IN_TEMPORAL)
            return await self._end()

    async def _run_playbook(self) -> JourneyOutcome | None:
        if self._state is None:
            # Started without its first event (e.g. from the UI): nothing to run until one arrives.
            try:
                await workflow.wait_condition(
                    lambda: self._state is not None, timeout=self._playbook.guardrails.max_lifetime
                )
            except TimeoutError:
                return None
        state = self._journey()
        while state.outcome is None:
            if state.bounds is None and workflow.patched(BOUNDED_STATE_PATCH):
                adopt_bounds(state, StateBounds())
            if not state.unreachable_apart and workflow.patched(UNREACHABLE_APART_PATCH):
                state.unreachable_apart = True
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
                            JourneyInput(
                                customer_id=self._customer_id,
                                playbook=self._playbook,
                                state=state,
                                messaging_task_queue=self._messaging_queue,
                            )
                        )
                case EndJourney(kind=kind, reason=reason):
                    finish(state, kind, now, reason)
                case NotifyAgents(task_id=task_id):
                    await self._notify_agents(task_id)
                case EscalateOverdueTask(task_id=task_id):
                    await self._escalate_overdue(task_id)
                case AlertOps(reason=reason):
                    await self._alert_ops(reason)
                case Defer():
                    record_deferred(state, step, now)
                    self._log("message_deferred", reason=step.reason, until=step.until.isoformat())
                case Suppress():
                    record_suppressed(state, step, now)
                    self._log("message_suppressed", reason=step.reason)
                case SendMessage():
                    await self._send(step)
                case EscalateToAgent():
                    record_escalation(state, self._playbook, step, now)
        return await self._end()

    async def _end(self) -> JourneyOutcome:
        state = self._journey()
        assert state.outcome is not None
        self._publish_search_attributes()
        self._count_decisions()
        await self._flush_journal()
        await start_early_life(state, self._playbook, self._messaging_queue)
        self._log("journey_ended", outcome=state.outcome.kind.value, reason=state.outcome.reason)
        return state.outcome

    def _history_limit(self) -> int:
        return self._playbook.guardrails.continue_as_new_after_events

    def _keeps_timer(self) -> bool:
        return self._journey().bounds is not None

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

    def _history_is_heavy(self) -> bool:
        """Bounded journeys also roll over on bytes: a few big batches are few events but many megabytes."""
        return self._history_is_long() or workflow.info().get_current_history_size() >= HISTORY_BYTES_LIMIT

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

    @workflow.signal(name="record_delivery_status")
    def receive_delivery_status(self, report: DeliveryStatus) -> None:
        """A vendor's receipt (delivered, undelivered...) for one of the journey's messages."""
        if self._state is not None and record_delivery_status(self._state, report, self._now()):
            self._changed = True
            self._log("message_undelivered", message_id=report.message_id, status=report.status)

    @workflow.signal(name="service_recovered")
    def service_recovered(self, service: str) -> None:
        """The service a held nudge waits for was reported healthy (`PUT /v1/services/{service}`): look
        again now, not at the next `service_recheck`. A journey that waits for no such thing takes no notice."""
        self._service_reports[service] += 1
        if self._state is not None and record_service_recovered(self._state, service):
            self._changed = True
            self._log("service_recovered", service=service)

    # -- agents: the Updates are TaskUpdates'; the journey gives them its tasks, clock and records -----

    def _task_list(self) -> list[HumanTask]:
        return self._journey().tasks

    def _clock(self) -> datetime:
        return self._now()

    def _record_claim(self, task: HumanTask, agent_id: str, now: datetime) -> bool:
        return record_claim(self._journey(), task, agent_id, now)

    def _record_release(self, task: HumanTask, agent_id: str, now: datetime) -> None:
        record_release(self._journey(), task, agent_id, now)

    def _record_completion(self, task: HumanTask, request: CompleteTask, now: datetime) -> None:
        record_completion(self._journey(), task, request, now, self._rules_of_this_journey())

    # -- ops ------------------------------------------------------------------------------------

    @workflow.update
    def close_journey(self, request: CloseJourney) -> JourneyOutcome:
        """An operator ends the journey at once with a reason: outcome and status `closed`. The run
        loop wakes, writes the journal and returns; the view stays readable after."""
        state = self._journey()
        check_close(state)
        record_close(state, request, self._now())
        self._changed = True
        self._log("journey_closed", by=request.by)
        assert state.outcome is not None
        return state.outcome

    @close_journey.validator
    def _validate_close(self, request: CloseJourney) -> None:
        check_close(self._journey())

    @workflow.query
    def view(self) -> JourneyView:
        state = self._journey()
        # A query may not ask patches; a journey that never decided a step ended with its first event,
        # and the cutoff of an ended journey is its end, whatever the rules.
        rules = self._rules or CURRENT_RULES
        return view_of(state, workflow.info().workflow_id, cutoff_of(state, self._playbook, rules))
