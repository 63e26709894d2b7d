"""What every part of the journey workflow shares: its fields, its clock, its rules, its publishing.

The workflow class (workflows/journey.py) is assembled from this base, the intake of events
(journey_intake.py) and the acting on decisions (journey_acting.py), one concern per file.
"""

import asyncio
from collections import Counter, deque
from datetime import datetime

from temporalio import workflow
from temporalio.common import RawValue

from workflows.human_tasks import TaskRefused
from workflows.journey_input import JourneyInput
from workflows.journey_metrics import count_decision
from workflows.journey_rules import (
    HIGH_INTENT_PATCH,
    PROGRESS_GUARDS_PATCH,
    TASK_OVERDUE_PATCH,
    UNREACHABLE_WINDOW_PATCH,
    JourneyRules,
)
from workflows.journey_state import JourneyState
from workflows.search_attributes import publish, search_attribute_values


class StaleWorkflowClock(RuntimeError):
    """Fails an activation the SDK ran on a stale clock (the workflow task, not the journey): see `JourneyBase._now`."""


class JourneyBase:
    def _set_up(self, journey: JourneyInput) -> None:
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
        # `service_recovered` signals taken, by service: one during a health check makes it look again.
        self._service_reports: Counter[str] = Counter()

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
                # Asked last, so its marker follows the three above: histories from before it replay
                # without one (patched() is False there), and it adds no command anywhere else.
                high_intent=workflow.patched(HIGH_INTENT_PATCH),
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
        self._published = publish(search_attribute_values(self._journey()), self._published)

    def _log(self, event: str, **fields: object) -> None:
        state = self._state
        stage = state.stage.value if state else None
        workflow.logger.info(event, extra={"customer_id": self._customer_id, "stage": stage, **fields})
