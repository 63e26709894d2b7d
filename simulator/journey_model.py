"""What the journey does with a simulated customer, treated or held out: the workflow's own pure rules
on a virtual clock, so the simulator's prediction cannot drift from the journeys it predicts.

The journey is a real `JourneyState` (`new_journey`, `apply_event`); at every moment something
happens, `detect_drop_off` and `next_step` decide with the playbook and the virtual `now`, and the
step is carried out as `workflows/journey.py` carries it out, with activities that succeed at once
(deliveries, the store lookup) and the customer's phone receiving the message when it goes out. The
customer is `simulator/customer.py`; the agents take a task `AGENT_DESK_S` after it opens plus the
drawn pick-up time, and complete it after the drawn call time.

Events, agents' actions and the journey's own wake-ups are taken in time order; what the customer
or an agent does at the very moment the journey wakes is folded in first, as a signal that arrives
with a timer is in the workflow. Messages go out on the virtual clock; a running system sends them
some milliseconds later, so a prediction within a fraction of a second of another event (a reaction
and the end of the window, say) may go either way in a run.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from simulator.agent_desk import AGENT, AgentAction, AgentDesk
from simulator.cohort import CustomerPlan
from simulator.customer import Customer, Move, event_of, message_label
from workflows.events import OnboardingEvent
from workflows.funnel import Stage
from workflows.human_tasks import CompleteTask, HumanTask, TaskOutcome, TaskState
from workflows.journey_changes import apply_event, finish
from workflows.journey_records import (
    record_agents_notified,
    record_attempt,
    record_claim,
    record_completion,
    record_deferred,
    record_escalation,
    record_held_back,
    record_ops_alerted,
    record_sent,
    record_suppressed,
    record_task_overdue,
)
from workflows.journey_rules import CURRENT_RULES
from workflows.journey_state import JourneyState, MessageKind, OutcomeKind, new_journey
from workflows.next_step import (
    AlertOps,
    Defer,
    EndJourney,
    EscalateOverdueTask,
    EscalateToAgent,
    NotifyAgents,
    SendMessage,
    Suppress,
    Wait,
    detect_drop_off,
    next_step,
)
from workflows.playbook import Playbook
from workflows.state_bounds import StateBounds

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # the virtual clock's zero unless the caller gives one
LOOKUP = timedelta(microseconds=1)  # the store lookup before an SMS store offer: the clock's smallest step


@dataclass(frozen=True)
class JourneyPrediction:
    """How a customer's journey ends in one group, on the virtual clock (seconds from their first event)."""

    treated: bool
    kind: OutcomeKind
    stage: Stage  # where the journey ended
    drop_off_stages: tuple[Stage, ...]
    messages: tuple[str, ...]  # "<stage>:nudge_<n>" / "<stage>:sms_store_offer", in the order sent
    task_outcomes: tuple[TaskOutcome, ...]  # tasks the agents completed, in order
    preceded_by: str  # what the journey credits: nudge_1..3, sms_store_offer, human_task or none
    ended_at: float
    events: tuple[OnboardingEvent, ...] = field(default=(), compare=False)  # what the customer sent
    agent_actions: tuple[AgentAction, ...] = field(default=(), compare=False)

    @property
    def completed(self) -> bool:
        return self.kind is OutcomeKind.COMPLETED


class _VirtualJourney(AgentDesk):
    """One customer's journey played through on the virtual clock."""

    def __init__(self, plan: CustomerPlan, playbook: Playbook, treated: bool, start: datetime) -> None:
        self.plan = plan
        self.playbook = playbook
        self.treated = treated
        self.start = start
        self.customer = Customer(plan, 0.0)
        self.state: JourneyState | None = None
        self.wake: datetime | None = None  # when the journey acts next if nothing happens
        self.pending: list[AgentAction] = []  # the agents' next actions, in time order
        self.events: list[OnboardingEvent] = []
        self.agent_actions: list[AgentAction] = []

    def run(self) -> JourneyPrediction:
        while self.state is None or self.state.outcome is None:
            move = self.customer.next_move()
            agent = self.pending[0] if self.pending else None
            moments = [self._at(move.at) if move else None, self._at(agent.at) if agent else None, self.wake]
            now = min(at for at in moments if at is not None)
            if move is not None and self._at(move.at) == now:
                self._customer_moves(move, now)
            elif agent is not None and self._at(agent.at) == now:
                self.pending.pop(0)
                self._agent_acts(agent, now)
            self.wake = self._journey_acts(now)
        return self._prediction(self.state)

    def _customer_moves(self, move: Move, now: datetime) -> None:
        event = event_of(self.plan, len(self.events) + 1, move, now)
        self.events.append(event)
        if self.state is None:
            share = 0.0 if self.treated else 1.0  # everyone, or no one, in the holdout: the group asked for
            self.state = new_journey(event, self.playbook, now, holdout_share=share, bounds=StateBounds())
        apply_event(self.state, event, self.playbook, now)
        self.customer.moved(move, self._seconds(now))

    def _tasks(self) -> list[HumanTask]:
        return self._journey().tasks

    def _record_claim(self, task: HumanTask, now: datetime) -> None:
        record_claim(self._journey(), task, AGENT, now)

    def _task_completed(self, task: HumanTask, request: CompleteTask, now: datetime) -> None:
        record_completion(self._journey(), task, request, now, CURRENT_RULES)
        self.customer.agent_done(self._seconds(now), task.stage, request.outcome)

    def _journey_acts(self, now: datetime) -> datetime | None:
        """The workflow's loop at `now`, until it waits: returns when it wakes (None: it ended)."""
        state, playbook = self._journey(), self.playbook
        while state.outcome is None:
            detect_drop_off(state, playbook, now)
            match next_step(state, playbook, now, CURRENT_RULES):
                case Wait(until=until):
                    return until
                case EndJourney(kind=kind, reason=reason):
                    finish(state, kind, now, reason)
                case NotifyAgents(task_id=task_id):
                    record_agents_notified(state, task_id)
                    self._agents_take(task_id, now)
                case EscalateOverdueTask(task_id=task_id):
                    record_task_overdue(state, task_id, now)
                case AlertOps(reason=reason):
                    record_ops_alerted(state, reason, now)
                case Defer() as step:
                    record_deferred(state, step, now)
                case Suppress() as step:
                    record_suppressed(state, step, now)
                case SendMessage() as step:
                    now = self._send(step, now)
                case EscalateToAgent() as step:
                    record_escalation(state, playbook, step, now)
        return None

    def _send(self, step: SendMessage, now: datetime) -> datetime:
        """As the workflow's `_send` with healthy services, a store found and a delivery at once; returns
        the clock after it. The store lookup comes before the offer is written, so the offer is a moment
        (`LOOKUP`) later than the agent's outcome that asked for it, and the report credits the offer."""
        state = self._journey()
        if step.kind is MessageKind.SMS_STORE_OFFER:
            now += LOOKUP
        stage, stage_since = state.stage, state.stage_since
        if step.hold_back:
            record_held_back(state, step, "", now)
        else:
            state.message_seq += 1
            record_sent(state, step, f"{state.customer_id}:m{state.message_seq}", stage, "", None, now)
            self.customer.heard(self._seconds(now), state.stage, message_label(step.kind.value, step.attempt))
        record_attempt(state, step, stage, stage_since, now, now)
        return now

    def _agents_take(self, task_id: str, now: datetime) -> None:
        number = task_id.rpartition(":task-")[2]
        self._schedule_agent(task_id, int(number) if number.isdigit() else 1, now)

    def _journey(self) -> JourneyState:
        assert self.state is not None, "the customer's first event starts the journey"
        return self.state

    def _prediction(self, state: JourneyState) -> JourneyPrediction:
        outcome = state.outcome
        assert outcome is not None
        return JourneyPrediction(
            treated=self.treated,
            kind=outcome.kind,
            stage=outcome.stage,
            drop_off_stages=tuple(outcome.drop_off_stages),
            messages=tuple(f"{m.stage.value}:{message_label(m.kind.value, m.attempt)}" for m in state.messages),
            task_outcomes=tuple(
                t.outcome for t in state.tasks if t.state is TaskState.COMPLETED and t.outcome is not None
            ),
            preceded_by=outcome.preceded_by,
            ended_at=round(self._seconds(outcome.ended_at), 3),
            events=tuple(self.events),
            agent_actions=tuple(self.agent_actions),
        )


def journey_outcome(
    plan: CustomerPlan, playbook: Playbook, treated: bool, start: datetime = EPOCH
) -> JourneyPrediction:
    """How the customer's journey ends if they are treated (messaged, escalated) or held out (left alone).

    `start` is when their first event happens: it matters only to quiet hours, in their time zone."""
    return _VirtualJourney(plan, playbook, treated, start).run()
