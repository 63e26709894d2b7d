"""The virtual clock and the agents' desk both journey models share (onboarding, early life).

A modelled journey counts the customer's and the agents' moments in seconds from its start; the
agents take a task `AGENT_DESK_S` after it opens plus the drawn pick-up time, and complete it after
the drawn call time, by the workflow's own checks (`check_claim`, `check_complete`): a refused
action ends the agent's work on that task. What a claim and a completion record, and what follows a
completion, is the journey model's own.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from simulator.cohort import AGENT_DESK_S, CustomerPlan
from workflows.human_tasks import (
    ClaimTask,
    CompleteTask,
    HumanTask,
    TaskOutcome,
    TaskRefused,
    check_claim,
    check_complete,
)

AGENT = "sim-agent"


@dataclass(frozen=True)
class AgentAction:
    """An agent claims (`outcome` None) or completes a task, `at` seconds from the journey's start."""

    at: float
    task_id: str
    outcome: TaskOutcome | None


class AgentDesk:
    """Mixin of a journey model: `plan`, `start`, `pending` and `agent_actions` are set by the model."""

    plan: CustomerPlan
    start: datetime
    pending: list[AgentAction]  # the agents' next actions, in time order
    agent_actions: list[AgentAction]

    # -- what the journey model provides --------------------------------------------------------

    def _tasks(self) -> list[HumanTask]:
        raise NotImplementedError

    def _record_claim(self, task: HumanTask, now: datetime) -> None:
        raise NotImplementedError

    def _task_completed(self, task: HumanTask, request: CompleteTask, now: datetime) -> None:
        raise NotImplementedError

    # -- the clock and the desk -----------------------------------------------------------------

    def _at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)

    def _seconds(self, at: datetime) -> float:
        return (at - self.start).total_seconds()

    def _schedule_agent(self, task_id: str, task_number: int, now: datetime) -> None:
        """The agents claim the task and complete it with the draws of the customer's `task_number`th task."""
        work = self.plan.task(task_number)
        claim = self._seconds(now) + AGENT_DESK_S + work.pickup_delay
        self.pending += [
            AgentAction(claim, task_id, None),
            AgentAction(claim + work.call_duration, task_id, work.outcome),
        ]
        self.pending.sort(key=lambda action: action.at)

    def _agent_acts(self, action: AgentAction, now: datetime) -> None:
        """As the workflow's `claim_task` and `complete_task` updates; a refused one ends the agent's work."""
        tasks = self._tasks()
        self.agent_actions.append(action)
        try:
            if action.outcome is None:
                self._record_claim(check_claim(tasks, ClaimTask(task_id=action.task_id, agent_id=AGENT)), now)
                return
            request = CompleteTask(task_id=action.task_id, agent_id=AGENT, outcome=action.outcome)
            task = check_complete(tasks, request)
        except TaskRefused:
            self.pending = [a for a in self.pending if a.task_id != action.task_id]
            return
        self._task_completed(task, request, now)
