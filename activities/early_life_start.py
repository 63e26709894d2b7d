"""Starts a customer's early-life journey, asked by their onboarding journey as it completes.

Idempotent: a start that finds the journey already running (a retry after a start that succeeded,
or a customer whose early life runs already) answers False instead of failing.
"""

import structlog
from temporalio import activity
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from workflows.early_life_input import EarlyLifeStart
from workflows.early_life_state import EarlyLifeStatus
from workflows.search_attributes import HUMAN_TASK_STATE, JOURNEY_STATUS, NUDGE_COUNT, PLAYBOOK_VERSION

log = structlog.get_logger(__name__)


@activity.defn
async def start_early_life(request: EarlyLifeStart) -> bool:
    journey = request.journey
    try:
        await activity.client().start_workflow(
            "EarlyLifeJourney",
            journey,
            id=request.workflow_id,
            task_queue=request.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(JOURNEY_STATUS, EarlyLifeStatus.WATCHING.value),
                    SearchAttributePair(NUDGE_COUNT, 0),
                    SearchAttributePair(HUMAN_TASK_STATE, "none"),
                    SearchAttributePair(PLAYBOOK_VERSION, journey.plan.playbook_version),
                ]
            ),
        )
    except WorkflowAlreadyStartedError:
        log.info("early_life_already_running", customer_id=journey.customer_id, workflow_id=request.workflow_id)
        return False
    log.info("early_life_started", customer_id=journey.customer_id, workflow_id=request.workflow_id)
    return True
