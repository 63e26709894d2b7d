"""What a journey is started (and continued as new) with.

Its own module so the worker's sandbox passes it through: a model defined in the workflow's module
is rebuilt for every new workflow instance (pydantic builds its schema again, milliseconds each).
"""

from pydantic import BaseModel, Field

from workflows.journey_state import JourneyState
from workflows.playbook import Playbook


class JourneyInput(BaseModel):
    """The playbook is pinned here at start; `state` carries the journey across continue-as-new."""

    customer_id: str
    playbook: Playbook
    state: JourneyState | None = None
    messaging_task_queue: str | None = Field(
        default=None, description="run deliveries on their own task queue (rate-limited workers); None: the journey's"
    )
