"""EarlyLifeJourney: after activation, one durable workflow per customer watches their early life.

Seed 004's "fast offboarding": a customer who activated, transacted twice and went quiet. When the
onboarding journey completes, it asks the `start_early_life` activity (activities/early_life_start.py,
patch `early-life`; see workflows/early_life_start.py for why not a child workflow) to start this one:
id `early-life-<customer_id>`, on the same task queue, with the pinned playbook's early-life section,
the customer's language, time zone and opt-outs, and the completion time; it does not depend on the
journey that started it. Its own workflow type rather than a phase of the onboarding journey: its clock
(days of dormancy, not hours of drop-off), its events (activity, not funnel steps), its holdout and
its outcome (retained or dormant) are all its own, and onboarding's histories stay as they are.

It reads like its playbook: wait for activity or the next due moment, decide
(`next_early_life_step`, pure), act (early_life_acting.py). Activity (`customer.active`, with an
optional `kind`) and opt-out/opt-in events arrive by the `record_event` signal; agents claim and
complete its retention calls by the same Updates as onboarding's tasks (task_updates.py); ops read the `view` query
and its search attributes.
"""

from datetime import datetime

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
    from workflows.human_tasks import CompleteTask, HumanTask
    from workflows.news_wait import NewsWait
    from workflows.task_updates import TaskUpdates

__all__ = ["EarlyLifeInput", "EarlyLifeJourney", "early_life_workflow_id"]


@workflow.defn
class EarlyLifeJourney(TaskUpdates, NewsWait, EarlyLifeActing):
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

    def _history_limit(self) -> int:
        return self._plan.continue_as_new_after_events

    # -- events from the app: activity, opt-out, opt-in --------------------------------------------

    @workflow.signal(name="record_event")
    def record_event(self, event: OnboardingEvent) -> None:
        effect = apply_early_life_event(self._journey(), event, workflow.now())
        if effect is not None and effect not in ("stale", "after_end", "ignored"):
            self._changed = True

    # -- agents: the same Updates as the onboarding journey's tasks (TaskUpdates) -------------------

    def _task_list(self) -> list[HumanTask]:
        return self._journey().tasks

    def _clock(self) -> datetime:
        return workflow.now()

    def _record_claim(self, task: HumanTask, agent_id: str, now: datetime) -> bool:
        return record_claim(self._journey(), task, agent_id, now)

    def _record_release(self, task: HumanTask, agent_id: str, now: datetime) -> None:
        record_release(self._journey(), task, agent_id, now)

    def _record_completion(self, task: HumanTask, request: CompleteTask, now: datetime) -> None:
        record_completion(self._journey(), task, request, now)

    # -- ops -------------------------------------------------------------------------------------

    @workflow.query
    def view(self) -> EarlyLifeView:
        return view_of(self._journey(), workflow.info().workflow_id)
