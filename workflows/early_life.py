"""EarlyLifeJourney: after activation, one durable workflow per customer watches their early life.

Seed 004's "fast offboarding": a customer who activated, transacted twice and went quiet. The
onboarding journey starts this one as a child workflow when it completes (parent close policy
ABANDON: it outlives its parent), id `early-life-<customer_id>`, on the same task queue, with the
pinned playbook's early-life section, the customer's language, time zone and opt-outs, and the
completion time. Its own workflow type rather than a phase of the onboarding journey: its clock
(days of dormancy, not hours of drop-off), its events (activity, not funnel steps), its holdout and
its outcome (retained or dormant) are all its own, and onboarding's histories stay as they are.

It reads like its playbook: wait for activity or the next due moment, decide
(`next_early_life_step`, pure), act (early_life_acting.py). Activity (`customer.active`, with an
optional `kind`) and opt-out/opt-in events arrive by the `record_event` signal; agents claim and
complete its retention calls by the same Updates as onboarding's tasks; ops read the `view` query
and its search attributes.
"""

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.early_life_acting import EarlyLifeActing
    from workflows.early_life_input import EarlyLifeInput, early_life_workflow_id
    from workflows.early_life_records import (
        apply_early_life_event,
        finish_early_life,
        new_early_life,
        record_claim,
        record_completion,
        record_deferred,
        record_dormant,
        record_escalation,
        record_release,
        record_suppressed,
    )
    from workflows.early_life_rules import (
        Defer,
        EndEarlyLife,
        EscalateToAgent,
        NotifyAgents,
        SendMessage,
        Suppress,
        Wait,
        dormancy_starts,
        next_early_life_step,
    )
    from workflows.early_life_state import EarlyLifeOutcome
    from workflows.early_life_view import EarlyLifeView, view_of
    from workflows.events import OnboardingEvent
    from workflows.human_tasks import (
        ClaimTask,
        CompleteTask,
        HumanTask,
        ReleaseTask,
        check_claim,
        check_complete,
        check_release,
    )

__all__ = ["EarlyLifeInput", "EarlyLifeJourney", "early_life_workflow_id"]

# Far below Temporal's limits: a month of logins rolls over a few times at most.
CONTINUE_AS_NEW_AFTER_EVENTS = 2_000


@workflow.defn
class EarlyLifeJourney(EarlyLifeActing):
    @workflow.init
    def __init__(self, journey: EarlyLifeInput) -> None:
        self._set_up(journey)
        if self._state is None:
            self._state = new_early_life(journey, workflow.now())

    @workflow.run
    async def run(self, journey: EarlyLifeInput) -> EarlyLifeOutcome:
        state = self._journey()
        while state.outcome is None:
            now = workflow.now()
            self._changed = False
            dormant_since = dormancy_starts(state, self._plan, now)
            if dormant_since is not None:
                record_dormant(state, dormant_since, now)
                self._log("dormant", since=state.quiet_since.isoformat())
            step = next_early_life_step(state, self._plan, now)
            match step:
                case Wait(until=until, next_action=label):
                    state.next_action, state.next_action_at = label, until
                    self._publish_search_attributes()
                    await self._flush_journal()
                    if await self._wait_for_news(until) == "continue_as_new":
                        await workflow.wait_condition(workflow.all_handlers_finished)
                        workflow.continue_as_new(journey.model_copy(update={"state": state}))
                case EndEarlyLife(kind=kind, reason=reason):
                    finish_early_life(state, kind, now, reason)
                case NotifyAgents(task_id=task_id):
                    await self._notify_agents(task_id)
                case Defer():
                    record_deferred(state, step, now)
                    self._log("message_deferred", reason=step.reason, until=step.until.isoformat())
                case Suppress():
                    record_suppressed(state, step, now)
                    self._log("message_suppressed", reason=step.reason)
                case SendMessage():
                    await self._send(step)
                case EscalateToAgent():
                    record_escalation(state, step, self._plan.task_sla, now)
                    self._log("escalated", task_kind=step.task_kind.value, held_back=step.hold_back)
        self._publish_search_attributes()
        await self._flush_journal(force=True)
        self._log("early_life_ended", outcome=state.outcome.kind.value)
        return state.outcome

    async def _wait_for_news(self, until: datetime) -> str:
        """One timer until `until`, an event that changes something, or a history to roll over."""
        timeout = until - workflow.now()
        if timeout <= timedelta(0) or self._changed:
            return "changed" if self._changed else "due"
        try:
            await workflow.wait_condition(lambda: self._changed or self._history_is_long(), timeout=timeout)
        except TimeoutError:
            return "due"
        return "continue_as_new" if not self._changed and self._history_is_long() else "changed"

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= CONTINUE_AS_NEW_AFTER_EVENTS

    # -- events from the app: activity, opt-out, opt-in --------------------------------------------

    @workflow.signal(name="record_event")
    def record_event(self, event: OnboardingEvent) -> None:
        effect = apply_early_life_event(self._journey(), event, workflow.now())
        if effect is not None and effect not in ("stale", "after_end", "ignored"):
            self._changed = True

    # -- agents: the same contracts as the onboarding journey's tasks --------------------------------

    @workflow.update
    def claim_task(self, request: ClaimTask) -> HumanTask:
        state = self._journey()
        task = check_claim(state.tasks, request)
        if record_claim(state, task, request.agent_id, workflow.now()):
            self._changed = True
        return task

    @claim_task.validator
    def _validate_claim(self, request: ClaimTask) -> None:
        check_claim(self._journey().tasks, request)

    @workflow.update
    def release_task(self, request: ReleaseTask) -> HumanTask:
        state = self._journey()
        task = check_release(state.tasks, request)
        record_release(state, task, request.agent_id, workflow.now())
        self._changed = True
        return task

    @release_task.validator
    def _validate_release(self, request: ReleaseTask) -> None:
        check_release(self._journey().tasks, request)

    @workflow.update
    def complete_task(self, request: CompleteTask) -> HumanTask:
        state = self._journey()
        task = check_complete(state.tasks, request)
        record_completion(state, task, request, workflow.now())
        self._changed = True
        return task

    @complete_task.validator
    def _validate_complete(self, request: CompleteTask) -> None:
        check_complete(self._journey().tasks, request)

    # -- ops -------------------------------------------------------------------------------------

    @workflow.query
    def view(self) -> EarlyLifeView:
        return view_of(self._journey(), workflow.info().workflow_id)
