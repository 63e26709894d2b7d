"""`/v1/tasks`: live human tasks from the journal, and the agents' claim, release and complete, which
go to the journey as Temporal Updates (the journey's validators have the last word: 409)."""

import asyncio
from collections.abc import Awaitable
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from console.sessions import COOKIE_NAME, agent_of_session, session_id_of
from core.deps import within
from journal.tasks import TaskSummary
from starters.api.auth import ERRORS, Recovery
from starters.api.errors import Problem, RequestRejected
from starters.client import RecoveryClient
from workflows.human_tasks import AGENT_ID_PATTERN, HumanTask, TaskOutcome, TaskRefused

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1")  # prefixed here: the route keeps its full path (metrics label routes by it)


AgentId = Annotated[
    str, Field(pattern=AGENT_ID_PATTERN, description="1-64 characters: letters, digits, '_', '.', '@', '-'")
]


class AgentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: AgentId | None = Field(
        None,
        description="the agent acting: required with the bearer token alone; "
        "with a console session, that agent (or omit it)",
    )


class CompleteRequest(AgentRequest):
    outcome: TaskOutcome
    note: Annotated[str, Field(max_length=2000)] = ""


@router.get(
    "/tasks",
    response_model=list[TaskSummary],
    responses={**ERRORS, 422: {"description": "unknown state", "model": RequestRejected}},
    summary="Live human tasks, soonest due first",
)
async def get_tasks(
    request: Request,
    recovery: Recovery,
    state: Annotated[
        list[Literal["open", "claimed"]] | None, Query(description="open, claimed, or both (default)")
    ] = None,
) -> list[TaskSummary]:
    states = tuple(dict.fromkeys(state)) if state else ("open", "claimed")
    return await within(request, recovery.list_tasks(states), "task list")


_TASK_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"description": "the journey refused: the reason is in `detail`"},
    422: {"description": "a bad body (unknown outcome, malformed agent_id, unknown field)", "model": RequestRejected},
}


async def _task_action(request: Request, work: Awaitable[HumanTask], what: str) -> HumanTask:
    try:
        return await within(request, work, what)
    except TaskRefused as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None


async def acting_agent(request: Request, recovery: RecoveryClient, body: AgentRequest) -> str:
    """Who acts on a task: the agent of a live console session sent with the request (its cookie), whom
    the body cannot override; else, with the bearer token alone, the body's `agent_id`, taken as given
    (the token acts for the app backend and integrations, which speak for their agents)."""
    cookie = request.cookies.get(COOKIE_NAME)
    session_id = session_id_of(request.app.state.console.secret, cookie) if cookie else None
    if session_id is not None and recovery.journal is not None:
        agent = await asyncio.to_thread(agent_of_session, recovery.journal, session_id)
        if agent is not None:
            if body.agent_id is not None and body.agent_id != agent.username:
                log.warning("task_agent_mismatch", signed_in=agent.username)
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN, "agent_id names another agent than the signed-in one: omit it"
                )
            return agent.username
    if body.agent_id is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body", "agent_id"), "msg": "Field required: the agent acting"}]
        )
    return body.agent_id


_AGENT_ERRORS: dict[int | str, dict[str, Any]] = {
    **_TASK_ERRORS,
    403: {"description": "agent_id names another agent than the signed-in console session's", "model": Problem},
}


@router.post(
    "/tasks/{task_id}/claim", response_model=HumanTask, responses=_AGENT_ERRORS, summary="Claim a task for an agent"
)
async def claim_task(task_id: str, body: AgentRequest, request: Request, recovery: Recovery) -> HumanTask:
    agent_id = await acting_agent(request, recovery, body)
    return await _task_action(request, recovery.claim_task(task_id, agent_id), "claim")


@router.post(
    "/tasks/{task_id}/release", response_model=HumanTask, responses=_AGENT_ERRORS, summary="Give a claimed task back"
)
async def release_task(task_id: str, body: AgentRequest, request: Request, recovery: Recovery) -> HumanTask:
    agent_id = await acting_agent(request, recovery, body)
    return await _task_action(request, recovery.release_task(task_id, agent_id), "release")


@router.post(
    "/tasks/{task_id}/complete",
    response_model=HumanTask,
    responses=_AGENT_ERRORS,
    summary="Complete a claimed task with an outcome",
)
async def complete_task(task_id: str, body: CompleteRequest, request: Request, recovery: Recovery) -> HumanTask:
    agent_id = await acting_agent(request, recovery, body)
    return await _task_action(request, recovery.complete_task(task_id, agent_id, body.outcome, body.note), "complete")
