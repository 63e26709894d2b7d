"""The audit of agents' actions: who did what to which task, and when.

Every action lands in `agent_actions` and in the structured log, refused ones too: a supervisor
reading a task's history should see the attempt that failed as well as the one that worked.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine, insert, select

from journal.schema import agent_actions
from journal.store import utc, utc_naive

log = structlog.get_logger("console")


@dataclass(frozen=True)
class AgentAction:
    at: datetime
    agent: str
    action: str
    task_id: str | None
    customer_id: str | None
    detail: str


def record_action(
    engine: Engine,
    agent: str,
    action: str,
    *,
    task_id: str | None = None,
    customer_id: str | None = None,
    workflow_id: str | None = None,
    detail: str = "",
) -> AgentAction:
    at = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(agent_actions).values(
                at=utc_naive(at),
                agent=agent,
                action=action,
                task_id=task_id,
                customer_id=customer_id,
                detail=detail,
            )
        )
    log.info(
        "console_agent_action",
        agent=agent,
        action=action,
        task_id=task_id,
        customer_id=customer_id,
        workflow_id=workflow_id,
        detail=detail,
    )
    return AgentAction(at, agent, action, task_id, customer_id, detail)


def actions_for_task(engine: Engine, task_id: str) -> list[AgentAction]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(agent_actions)
            .where(agent_actions.c.task_id == task_id)
            .order_by(agent_actions.c.at, agent_actions.c.id)
        )
        return [AgentAction(utc(r.at), r.agent, r.action, r.task_id, r.customer_id, r.detail) for r in rows]
