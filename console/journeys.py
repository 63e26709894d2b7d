"""The journey operations the console uses, as a Protocol: the app that mounts the console hands it a
client (the API's `RecoveryClient`, on `app.state.recovery`), so the console never imports starters/."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from core.settings import Settings
from journal.listing import DEFAULT_LIMIT, JourneyPage
from journal.tasks import TaskSummary
from workflows.early_life_view import EarlyLifeView
from workflows.human_tasks import HumanTask, TaskOutcome
from workflows.journey_state import JourneyOutcome
from workflows.journey_view import JourneyView
from workflows.playbook import Playbook


class ErasedCounts(Protocol):
    """What one erasure removed (starters/erasure.py's `ErasureCounts`)."""

    @property
    def journeys_ended(self) -> int: ...

    @property
    def workflow_runs_deleted(self) -> int: ...

    @property
    def journal_rows_deleted(self) -> dict[str, int]: ...

    @property
    def outbox_lines_deleted(self) -> int: ...


class ErasureDone(Protocol):
    """A customer's erasure, as the API answers it (starters/erasure.py's `Erasure`)."""

    @property
    def customer_hash(self) -> str: ...

    @property
    def erased_at(self) -> datetime: ...

    @property
    def actor(self) -> str: ...

    @property
    def erased(self) -> ErasedCounts: ...

    @property
    def temporal_done(self) -> bool: ...


class Journeys(Protocol):
    journal: Engine | None
    playbook: Playbook

    async def journey(self, customer_id: str) -> JourneyView: ...

    async def early_life(self, customer_id: str) -> EarlyLifeView: ...

    async def list_tasks(self, states: Sequence[str] = ("open", "claimed")) -> list[TaskSummary]: ...

    async def claim_task(self, task_id: str, agent_id: str) -> HumanTask: ...

    async def release_task(self, task_id: str, agent_id: str) -> HumanTask: ...

    async def complete_task(self, task_id: str, agent_id: str, outcome: TaskOutcome, note: str = "") -> HumanTask: ...

    async def close_journey(self, customer_id: str, reason: str, by: str) -> JourneyOutcome: ...

    async def erase_customer(self, customer_id: str, actor: str, settings: Settings) -> ErasureDone | None: ...

    async def list_journeys(
        self,
        *,
        status: str | None = None,
        stage: str | None = None,
        since: datetime | None = None,
        customer_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> JourneyPage: ...
