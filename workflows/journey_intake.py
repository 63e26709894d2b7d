"""Folding the app's events into the journey, a share per workflow task.

Signals arrive encoded (RawValue) and are decoded as they are folded in, so a workflow task that
receives a flood decodes and applies only its share (EVENTS_PER_TASK); the run loop takes the rest.
"""

from temporalio import workflow

from workflows.events import OnboardingEvent
from workflows.journey_base import JourneyBase
from workflows.journey_changes import apply_event
from workflows.journey_metrics import count_journey_started
from workflows.journey_rules import BOUNDED_STATE_PATCH, JOURNAL_AND_HOLDOUT_PATCH
from workflows.journey_state import new_journey
from workflows.state_bounds import StateBounds

# What one workflow task folds in at most: a flood of signals must not hold a task past the SDK's
# 2-second deadlock detector (the task would fail, be retried with more, and the journey freeze).
# Part of what the workflow records: change it only behind a patch of its own.
EVENTS_PER_TASK = 2_000


class JourneyIntake(JourneyBase):
    def _take_in(self) -> None:
        converter = workflow.payload_converter()
        while self._intake and self._may_fold_more():
            raw, is_batch = self._intake.popleft()
            events = (
                converter.from_payload(raw.payload, list[OnboardingEvent])
                if is_batch
                else [converter.from_payload(raw.payload, OnboardingEvent)]
            )
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
