"""How a completing onboarding journey hands the customer to their early-life journey.

Every completion (the app's `onboarding.completed`, an agent's `activated_in_store`) ends the
onboarding journey through its one end; there it asks the `start_early_life` activity to start
`EarlyLifeJourney` (id `early-life-<customer_id>`, same task queue) with the pinned playbook's
early-life section, the customer's language, time zone and opt-outs, and the completion time.
Journeys that completed before the `early-life` patch replay without it.

Why an activity and not a child workflow (parent close policy ABANDON), the first design: on the
time-skipping test server, an abandoned child that completes after its parent closed stops the
server from skipping time for good (the period's end could not be tested, and every later test
would hang). An activity start costs the same (one activity for one child start), keeps the two
journeys independent (no parent to report to), and a start that finds the journey already running
is answered, not failed.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows import activity_stubs
from workflows.early_life_input import EarlyLifeStart, early_life_input, early_life_workflow_id
from workflows.journey_acting import JOURNAL_RETRY
from workflows.journey_rules import EARLY_LIFE_PATCH
from workflows.journey_state import JourneyState, OutcomeKind
from workflows.playbook import Playbook


async def start_early_life(state: JourneyState, playbook: Playbook, messaging_task_queue: str | None) -> None:
    """Starts the customer's early-life journey when the onboarding journey completed (patched: early-life)."""
    outcome = state.outcome
    if outcome is None or outcome.kind is not OutcomeKind.COMPLETED or not workflow.patched(EARLY_LIFE_PATCH):
        return
    journey = early_life_input(
        state.customer_id, playbook, outcome.ended_at, state.profile, state.opted_out, messaging_task_queue
    )
    workflow_id = early_life_workflow_id(state.customer_id)
    request = EarlyLifeStart(workflow_id=workflow_id, task_queue=workflow.info().task_queue, journey=journey)
    fields = {"customer_id": state.customer_id, "workflow_id": workflow_id}
    try:
        started = await workflow.execute_activity(
            activity_stubs.start_early_life,
            request,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(hours=1),
            retry_policy=JOURNAL_RETRY,
        )
    except ActivityError:
        workflow.logger.warning("early_life_not_started", extra=fields)
        return
    workflow.logger.info("early_life_started" if started else "early_life_already_running", extra=fields)
