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
from workflows.early_life_input import early_life_workflow_id, is_early_life_task
from workflows.early_life_view import EarlyLifeView
from workflows.events import OnboardingEvent
from workflows.human_tasks import customer_of_task
from workflows.journey import workflow_id_for

log = structlog.get_logger(__name__)


def workflow_of_task(task_id: str) -> str:
    """The journey holding a task: `<customer>:early-task-<n>` early life's, `<customer>:task-<n>` onboarding's."""
    customer_id = customer_of_task(task_id)
    return early_life_workflow_id(customer_id) if is_early_life_task(task_id) else workflow_id_for(customer_id)


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
