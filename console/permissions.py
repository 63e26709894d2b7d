"""Who may do what to a task in the console.

The journey's Update validators have the last word on a task's state (claimed or not, completed or
not); these rules add what only the console knows: who is asking, and their role.
"""

from enum import StrEnum

from console.accounts import Agent
from workflows.human_tasks import HumanTask, TaskState


class TaskAction(StrEnum):
    CLAIM = "claim"
    RELEASE = "release"
    REASSIGN = "reassign"
    COMPLETE = "complete"


def forbidden(action: TaskAction, agent: Agent, task: HumanTask) -> str | None:
    """Why this agent may not do this to this task; None when they may (the journey may still refuse)."""
    mine = task.claimed_by == agent.username
    if action is TaskAction.COMPLETE and task.state is TaskState.CLAIMED and not mine:
        return f"Task {task.task_id} is claimed by {task.claimed_by}: only they can complete it."
    if action is TaskAction.RELEASE and task.state is TaskState.CLAIMED and not mine and not agent.is_supervisor:
        return f"Task {task.task_id} is claimed by {task.claimed_by}: only they or a supervisor can release it."
    if action is TaskAction.REASSIGN and not agent.is_supervisor:
        return "Only a supervisor can reassign a task."
    return None


def allowed_actions(agent: Agent, task: HumanTask) -> frozenset[TaskAction]:
    """The actions the task page offers this agent now."""
    if task.state is TaskState.OPEN:
        offered = {TaskAction.CLAIM, TaskAction.REASSIGN}
    elif task.state is TaskState.CLAIMED:
        offered = {TaskAction.RELEASE, TaskAction.COMPLETE, TaskAction.REASSIGN}
    else:
        return frozenset()
    return frozenset(a for a in offered if forbidden(a, agent, task) is None)
