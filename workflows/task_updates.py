"""The agents' Updates on a journey's human tasks: claim, release, complete, each with its validator.

Both journey types (onboarding, early life) take them by the same contracts (workflows/human_tasks.py)
and in the same order: check the request against the task list, read the clock, record. What differs
is asked of the journey type: its task list, its clock and its pure `record_*` functions. The SDK
collects Update handlers from base classes, so a workflow class gets them by inheriting this mixin.
"""

from datetime import datetime

from temporalio import workflow

from workflows.human_tasks import (
    ClaimTask,
    CompleteTask,
    HumanTask,
    ReleaseTask,
    check_claim,
    check_complete,
    check_release,
)


class TaskUpdates:
    _changed: bool

    # -- what the journey type provides ---------------------------------------------------------

    def _task_list(self) -> list[HumanTask]:
        raise NotImplementedError

    def _clock(self) -> datetime:
        raise NotImplementedError

    def _record_claim(self, task: HumanTask, agent_id: str, now: datetime) -> bool:
        raise NotImplementedError

    def _record_release(self, task: HumanTask, agent_id: str, now: datetime) -> None:
        raise NotImplementedError

    def _record_completion(self, task: HumanTask, request: CompleteTask, now: datetime) -> None:
        raise NotImplementedError

    # -- the Updates ----------------------------------------------------------------------------

    @workflow.update
    def claim_task(self, request: ClaimTask) -> HumanTask:
        task = check_claim(self._task_list(), request)
        if self._record_claim(task, request.agent_id, self._clock()):
            self._changed = True
        return task

    @claim_task.validator
    def _validate_claim(self, request: ClaimTask) -> None:
        check_claim(self._task_list(), request)

    @workflow.update
    def release_task(self, request: ReleaseTask) -> HumanTask:
        task = check_release(self._task_list(), request)
        self._record_release(task, request.agent_id, self._clock())
        self._changed = True
        return task

    @release_task.validator
    def _validate_release(self, request: ReleaseTask) -> None:
        check_release(self._task_list(), request)

    @workflow.update
    def complete_task(self, request: CompleteTask) -> HumanTask:
        task = check_complete(self._task_list(), request)
        self._record_completion(task, request, self._clock())
        self._changed = True
        return task

    @complete_task.validator
    def _validate_complete(self, request: CompleteTask) -> None:
        check_complete(self._task_list(), request)
