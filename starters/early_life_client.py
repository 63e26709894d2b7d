"""What the `RecoveryClient` offers for early-life journeys: routing activity and consent to them,
reading one, and finding the journey a task belongs to.

`customer.active` events go to the journal (the report's activity) and, when the customer's
early-life journey runs, to it by signal; opt-outs and opt-ins go to it too. A customer with no
running early-life journey (never activated, or its period over) is not an error: the event is
accepted, journal only.
"""

import structlog
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.deps import JourneyNotFound
from workflows.early_life import EarlyLifeJourney
from workflows.early_life_input import early_life_workflow_id
from workflows.early_life_records import EARLY_TASK_MARK
from workflows.early_life_view import EarlyLifeView
from workflows.events import OnboardingEvent
from workflows.human_tasks import TaskRefused
from workflows.journey import workflow_id_for

log = structlog.get_logger(__name__)


def workflow_of_task(task_id: str) -> str:
    """The journey holding a task: `<customer>:early-task-<n>` early life's, `<customer>:task-<n>` onboarding's."""
    customer_id, sep, number = task_id.rpartition(EARLY_TASK_MARK)
    if sep and customer_id and number.isdigit():
        return early_life_workflow_id(customer_id)
    customer_id, sep, number = task_id.rpartition(":task-")
    if not sep or not customer_id or not number.isdigit():
        raise TaskRefused(f"{task_id!r} is not a task id (expected '<customer_id>:task-<n>' or ':early-task-<n>')")
    return workflow_id_for(customer_id)


class EarlyLifeClient:
    temporal: Client

    async def tell_early_life(self, event: OnboardingEvent) -> bool:
        """Signals the customer's running early-life journey; False when none runs."""
        workflow_id = early_life_workflow_id(event.customer_id)
        try:
            await self.temporal.get_workflow_handle(workflow_id).signal(EarlyLifeJourney.record_event, event)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        log.info("early_life_signalled", customer_id=event.customer_id, workflow_id=workflow_id, type=event.type.value)
        return True

    async def early_life(self, customer_id: str) -> EarlyLifeView:
        handle = self.temporal.get_workflow_handle(early_life_workflow_id(customer_id))
        try:
            return await handle.query(EarlyLifeJourney.view)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise JourneyNotFound(f"no early-life journey for customer {customer_id}") from None
            raise
