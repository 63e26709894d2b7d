"""The live human tasks as the journal keeps them: the inbox's listing in one read, no Temporal query."""

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, and_, or_, select

from journal.schema import early_life_journeys, human_tasks, journeys
from journal.store import utc
from workflows.human_tasks import HumanTask


class TaskSummary(BaseModel):
    """A task with the journey facts an agent's inbox shows next to it."""

    task: HumanTask
    customer_id: str
    workflow_id: str
    stage: str
    timezone: str | None


def read_tasks(engine: Engine, states: Sequence[str], limit: int) -> list[dict[str, Any]]:
    """Tasks in `states` of journeys not ended, soonest due first: the inbox's listing, one indexed read."""
    with engine.connect() as connection:
        early = early_life_journeys.c  # retention calls of early-life journeys share the inbox
        statement = (
            select(human_tasks)
            .outerjoin(journeys, journeys.c.journey_id == human_tasks.c.journey_id)
            .outerjoin(early_life_journeys, early.journey_id == human_tasks.c.journey_id)
            .where(
                human_tasks.c.state.in_(list(states)),
                or_(
                    and_(journeys.c.journey_id.is_not(None), journeys.c.outcome.is_(None)),
                    and_(early.journey_id.is_not(None), early.outcome.is_(None)),
                ),
            )
            .order_by(human_tasks.c.due_at, human_tasks.c.task_id)
            .limit(limit)
        )
        return [dict(r._mapping) for r in connection.execute(statement)]


def task_summary(row: dict[str, Any]) -> TaskSummary:
    """A journal row of `human_tasks` as the inbox takes it."""
    task = HumanTask(
        task_id=row["task_id"],
        kind=row["kind"],
        reason=row["reason"],
        stage=row["stage"],
        detail=row["detail"],
        opened_at=utc(row["opened_at"]),
        due_at=utc(row["due_at"]),
        state=row["state"],
        claimed_by=row["claimed_by"],
    )
    return TaskSummary(
        task=task,
        customer_id=row["customer_id"],
        workflow_id=row["workflow_id"],
        stage=row["journey_stage"],
        timezone=row["timezone"],
    )


def live_tasks(engine: Engine, states: Sequence[str], limit: int) -> list[TaskSummary]:
    """Tasks in `states` of journeys not ended, soonest due first, as the inbox shows them."""
    return [task_summary(row) for row in read_tasks(engine, states, limit)]
