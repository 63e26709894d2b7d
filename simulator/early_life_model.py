"""What the early-life journey does with a simulated customer, treated or held out: the workflow's own
pure rules on a virtual clock, as `simulator/journey_model.py` does for onboarding.

The journey is a real `EarlyLifeState` (`new_early_life`, `apply_early_life_event`); at every moment
something happens, `dormancy_starts` and `next_early_life_step` decide with the pinned plan and the
virtual `now`, and the step is carried out as `workflows/early_life.py` carries it out, with deliveries
and the store lookup succeeding at once and the customer's phone receiving the message when it goes out.
The customer is `simulator/early_life_customer.py`; the agents take a retention call `AGENT_DESK_S`
after it opens plus the pick-up time drawn for the customer's first task, and complete it with that
task's outcome after its call time (as the simulator's agent desk does in a live run).
"""

from dataclasses import dataclass, field
from datetime import datetime

from simulator.agent_desk import AGENT, AgentAction, AgentDesk
from simulator.cohort import CustomerPlan
from simulator.early_life_customer import EarlyLifeCustomer, activity_event, call_reached, early_message_label
from simulator.journey_model import EPOCH
from workflows.early_life_input import EarlyLifeInput, early_life_workflow_id, plan_of
from workflows.early_life_journal import EarlyLifeBatch, early_life_batch
from workflows.early_life_records import (
    apply_early_life_event,
    finish_early_life,
    new_early_life,
    record_agents_notified,
    record_claim,
    record_completion,
    record_deferred,
    record_dormant,
    record_escalation,
    record_message,
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
from workflows.early_life_state import EarlyLifeOutcomeKind, EarlyLifeState
from workflows.events import OnboardingEvent
from workflows.holdout import RecoveryGroup
from workflows.human_tasks import CompleteTask, HumanTask
from workflows.playbook import Playbook


@dataclass(frozen=True)
class EarlyLifePrediction:
    """How a customer's early life ends in one group, on the virtual clock (seconds from activation)."""

    treated: bool
    kind: EarlyLifeOutcomeKind
    went_dormant: bool
    re_engaged: bool  # active again after a dormancy message (held back ones too, in the holdout)
    messages: tuple[str, ...]  # nudge_<n> / escalation, in the order sent (none in the holdout)
    activity: tuple[float, ...]  # when they used the app
    ended_at: float
    events: tuple[OnboardingEvent, ...] = field(default=(), compare=False)
    agent_actions: tuple[AgentAction, ...] = field(default=(), compare=False)
    batch: EarlyLifeBatch | None = field(default=None, compare=False)  # what the journey writes to the journal


class _VirtualEarlyLife(AgentDesk):
    def __init__(self, plan: CustomerPlan, playbook: Playbook, treated: bool, activated_at: datetime) -> None:
        self.plan = plan
        self.rules = plan_of(playbook)
        self.start = activated_at
        self.customer = EarlyLifeCustomer(plan.early_life, playbook, 0.0)
        journey = EarlyLifeInput(
            customer_id=plan.customer_id,
            plan=self.rules,
            activated_at=activated_at,
            locale=plan.locale,
            timezone=plan.timezone,
        )
        self.state: EarlyLifeState = new_early_life(journey, activated_at)
        self.state.group = RecoveryGroup.TREATMENT if treated else RecoveryGroup.HOLDOUT  # the group asked for
        self.treated = treated
        self.pending: list[AgentAction] = []
        self.events: list[OnboardingEvent] = []
        self.agent_actions: list[AgentAction] = []
        self.messages: list[str] = []

    def run(self) -> EarlyLifePrediction:
        wake = self._journey_acts(self.start)
        while self.state.outcome is None:
            move = self.customer.next_move()
            agent = self.pending[0] if self.pending else None
            moments = [self._at(move[0]) if move else None, self._at(agent.at) if agent else None, wake]
            now = min(at for at in moments if at is not None)
            if move is not None and self._at(move[0]) == now and now < self.state.period_ends_at:
                event = activity_event(self.plan, len(self.events) + 1, move[1], now)
                self.events.append(event)
                apply_early_life_event(self.state, event, now)
                self.customer.moved(self._seconds(now))
            elif agent is not None and self._at(agent.at) == now:
                self.pending.pop(0)
                self._agent_acts(agent, now)
            wake = self._journey_acts(now)
        return self._prediction()

    def _journey_acts(self, now: datetime) -> datetime | None:
        """The workflow's loop at `now`, until it waits: returns when it wakes (None: it ended)."""
        state, rules = self.state, self.rules
        while state.outcome is None:
            dormant_since = dormancy_starts(state, rules, now)
            if dormant_since is not None:
                record_dormant(state, dormant_since, now)
            match next_early_life_step(state, rules, now):
                case Wait(until=until):
                    return until
                case EndEarlyLife(kind=kind, reason=reason):
                    finish_early_life(state, kind, now, reason)
                case NotifyAgents(task_id=task_id):
                    record_agents_notified(state, task_id)
                    self._agents_take(task_id, now)
                case Defer() as step:
                    record_deferred(state, step, now)
                case Suppress() as step:
                    record_suppressed(state, step, now)
                case SendMessage() as step:
                    message_id = f"{early_life_workflow_id(state.customer_id)}:d{state.dormancies}:m{step.attempt}"
                    record_message(state, step, message_id, now)
                    if not step.hold_back:
                        label = early_message_label(step.kind.value, step.attempt)
                        self.messages.append(label)
                        self.customer.heard(self._seconds(now), label)
                case EscalateToAgent() as step:
                    record_escalation(state, step, rules.task_sla, now)
        return None

    def _agents_take(self, task_id: str, now: datetime) -> None:
        # the agent desk reads an early-life task's number as none: the first task's draws
        self._schedule_agent(task_id, 1, now)

    def _tasks(self) -> list[HumanTask]:
        return self.state.tasks

    def _record_claim(self, task: HumanTask, now: datetime) -> None:
        record_claim(self.state, task, AGENT, now)

    def _task_completed(self, task: HumanTask, request: CompleteTask, now: datetime) -> None:
        record_completion(self.state, task, request, now)
        if call_reached(request.outcome):
            self.messages.append("escalation")
            self.customer.heard(self._seconds(now), "escalation")

    def _prediction(self) -> EarlyLifePrediction:
        state = self.state
        outcome = state.outcome
        assert outcome is not None
        return EarlyLifePrediction(
            treated=self.treated,
            kind=outcome.kind,
            went_dormant=state.first_dormant_at is not None,
            re_engaged=state.re_engaged_at is not None,
            messages=tuple(self.messages),
            activity=tuple(round(self._seconds(e.occurred_at), 3) for e in self.events),
            ended_at=round(self._seconds(outcome.ended_at), 3),
            events=tuple(self.events),
            agent_actions=tuple(self.agent_actions),
            batch=early_life_batch(state, early_life_workflow_id(state.customer_id), "model"),
        )


def early_life_outcome(
    plan: CustomerPlan, playbook: Playbook, treated: bool, activated_at: datetime = EPOCH
) -> EarlyLifePrediction:
    """How the customer's early life ends if they are treated (messaged, called) or held out (left alone).

    `activated_at` is when onboarding completed: it matters to quiet hours, in their time zone, and to
    the times written to the journal."""
    return _VirtualEarlyLife(plan, playbook, treated, activated_at).run()
