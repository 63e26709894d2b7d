"""Human tasks a journey opens for support agents, and the rules for claiming and completing them.

The journey holds each task's state itself, so a task can never disagree with the journey it belongs
to. The checks here back the Update validators: a refused request never reaches the journey.
"""

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from workflows.funnel import Stage
from workflows.playbook import TaskKind

AGENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$"


class TaskState(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    CLOSED = "closed"  # closed without an agent: the customer moved on, or the journey ended


class TaskReason(StrEnum):
    HELP_REQUESTED = "help_requested"
    REPEATED_REJECTION = "repeated_rejection"
    PLAYBOOK_ESCALATION = "playbook_escalation"
    FINAL_REJECTION = "final_rejection"  # the eKYC vendor will not take another try
    DORMANCY = "dormancy"  # early life: an activated customer gone quiet (workflows/early_life.py)
    REPEATED_BIOMETRIC_FAILURE = "repeated_biometric_failure"  # the second failed selfie (high-intent)


class TaskOutcome(StrEnum):
    VERIFIED_ON_CALL = "verified_on_call"
    CUSTOMER_WILL_RETRY = "customer_will_retry"
    ACTIVATED_IN_STORE = "activated_in_store"
    UNREACHABLE = "unreachable"


class HumanTask(BaseModel):
    task_id: str
    kind: TaskKind
    reason: TaskReason
    stage: Stage
    detail: str = ""
    opened_at: datetime
    due_at: datetime
    state: TaskState = TaskState.OPEN
    notified: bool = False
    overdue_escalated: bool = False
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    completed_by: str | None = None
    completed_at: datetime | None = None
    outcome: TaskOutcome | None = None
    note: str = ""

    @property
    def is_live(self) -> bool:
        return self.state in (TaskState.OPEN, TaskState.CLAIMED)


class _AgentRequest(BaseModel):
    task_id: Annotated[str, Field(min_length=1)]
    agent_id: str

    @field_validator("agent_id")
    @classmethod
    def _agent_id(cls, value: str) -> str:
        if not re.fullmatch(AGENT_ID_PATTERN, value):
            raise ValueError("agent_id must be 1-64 characters: letters, digits, '_', '.', '@', '-'")
        return value


class ClaimTask(_AgentRequest):
    pass


class ReleaseTask(_AgentRequest):
    pass


class CompleteTask(_AgentRequest):
    outcome: TaskOutcome
    note: Annotated[str, Field(max_length=2000)] = ""


class TaskRefused(ValueError):
    """An agent's request the journey will not accept; the message says why."""


def task_id_for(customer_id: str, number: int) -> str:
    return f"{customer_id}:task-{number}"


def customer_of_task(task_id: str) -> str:
    """`<customer_id>:task-<n>` (the onboarding journey's) or `<customer_id>:early-task-<n>` (early life's)."""
    for mark in (":early-task-", ":task-"):
        customer_id, sep, number = task_id.rpartition(mark)
        if sep and customer_id and number.isdigit():
            return customer_id
    raise TaskRefused(f"{task_id!r} is not a task id (expected '<customer_id>:task-<n>')")


def _find(tasks: list[HumanTask], task_id: str) -> HumanTask:
    for task in tasks:
        if task.task_id == task_id:
            return task
    raise TaskRefused(f"unknown task {task_id}")


def _closed_refusal(task: HumanTask) -> TaskRefused:
    if task.state is TaskState.COMPLETED:
        return TaskRefused(f"task {task.task_id} is already completed ({task.outcome.value if task.outcome else ''})")
    return TaskRefused(f"task {task.task_id} is closed: {task.note or 'the journey moved on'}")


def check_claim(tasks: list[HumanTask], request: ClaimTask) -> HumanTask:
    task = _find(tasks, request.task_id)
    if not task.is_live:
        raise _closed_refusal(task)
    if task.state is TaskState.CLAIMED and task.claimed_by != request.agent_id:
        raise TaskRefused(f"task {task.task_id} is claimed by another agent ({task.claimed_by})")
    return task


def _check_claimer(tasks: list[HumanTask], task_id: str, agent_id: str, unclaimed: str) -> HumanTask:
    task = _find(tasks, task_id)
    if not task.is_live:
        raise _closed_refusal(task)
    if task.state is not TaskState.CLAIMED:
        raise TaskRefused(f"task {task.task_id} {unclaimed}")
    if task.claimed_by != agent_id:
        raise TaskRefused(f"task {task.task_id} is claimed by another agent ({task.claimed_by})")
    return task


def check_release(tasks: list[HumanTask], request: ReleaseTask) -> HumanTask:
    return _check_claimer(tasks, request.task_id, request.agent_id, "is not claimed")


def check_complete(tasks: list[HumanTask], request: CompleteTask) -> HumanTask:
    return _check_claimer(tasks, request.task_id, request.agent_id, "must be claimed before it is completed")
