"""How a simulated customer acts: one model, used by the journey model (virtual clock) and by the
customers who drive the running system over HTTP (real clock).

The customer's path through the funnel, and the points where they may stop ("stalls"):

    started -> phone_verified -> document_uploaded -> document_rejected (reason) | document_approved
            -> biometric_failed | biometric_passed -> completed

- At a stall point their plan stops them at (`stall_at`), they send nothing more until one of:
  their natural return (`return_after` seconds after they stopped: they send their next event), the
  message they react to (after their reaction delay: a nudge brings them back, the SMS store offer
  means they activate in the store, an opt-out keeps them stopped), or an agent's outcome
  (`verified_on_call`: the journey moves them past the step and they go on from there;
  `customer_will_retry`: they retry the stage; `activated_in_store`: done; `unreachable`: nothing,
  the journey sends the SMS store offer). A message the stage never sends is never answered.
- From a failure stage (document rejected, biometric failed) the next leg is the retry, which succeeds.
- Holdout customers are never messaged and get no task, so they only come back by themselves; which
  group a customer is in follows from their id and the playbook (`expected_group`).

Time is a float in seconds on whatever clock the caller runs: the caller asks for the next move
(`next_move`), makes it when its time comes, and says when it did (`moved`); what reaches the
customer (`heard`, `agent_done`) is told with the time it did.
"""

from collections import deque
from dataclasses import dataclass
from datetime import datetime

from simulator.cohort import CustomerPlan, ReactionKind, StallPlan
from workflows.events import OnboardingEvent
from workflows.funnel import STAGE_AFTER_AGENT_VERIFICATION, STAGE_OF_EVENT, EventType, Stage
from workflows.holdout import RecoveryGroup, recovery_group
from workflows.human_tasks import TaskOutcome
from workflows.playbook import Playbook

Leg = list[tuple[EventType, dict[str, str]]]


def expected_group(plan: CustomerPlan, playbook: Playbook) -> RecoveryGroup:
    """Known before the run, from the id and the playbook's share (the journey decides the same way)."""
    return recovery_group(plan.customer_id, playbook.holdout_share)


def message_label(kind: str, attempt: int) -> str:
    """A message as the cohort's reactions name it: nudge_1..3 or sms_store_offer."""
    return "sms_store_offer" if kind == "sms_store_offer" else f"nudge_{attempt}"


def next_leg(stage: Stage, plan: CustomerPlan) -> tuple[Leg, Stage]:
    """The events that take the customer from `stage` to their next stall point, and that point."""
    if stage is Stage.STARTED:
        return [(EventType.PHONE_VERIFIED, {})], Stage.PHONE_VERIFIED
    if stage is Stage.PHONE_VERIFIED:
        if plan.stalls[Stage.DOCUMENT_REJECTED].stalls:
            return [
                (EventType.DOCUMENT_UPLOADED, {}),
                (EventType.DOCUMENT_REJECTED, {"reason": plan.rejection_reason.value}),
            ], Stage.DOCUMENT_REJECTED
        return [(EventType.DOCUMENT_UPLOADED, {}), (EventType.DOCUMENT_APPROVED, {})], Stage.DOCUMENT_APPROVED
    if stage is Stage.DOCUMENT_UPLOADED:  # waiting on our review: the review passes
        return [(EventType.DOCUMENT_APPROVED, {})], Stage.DOCUMENT_APPROVED
    if stage is Stage.DOCUMENT_REJECTED:
        return [(EventType.DOCUMENT_UPLOADED, {}), (EventType.DOCUMENT_APPROVED, {})], Stage.DOCUMENT_APPROVED
    if stage is Stage.DOCUMENT_APPROVED:
        if plan.stalls[Stage.BIOMETRIC_FAILED].stalls:
            return [(EventType.BIOMETRIC_FAILED, {})], Stage.BIOMETRIC_FAILED
        return [(EventType.BIOMETRIC_PASSED, {})], Stage.BIOMETRIC_PASSED
    if stage is Stage.BIOMETRIC_FAILED:
        return [(EventType.BIOMETRIC_PASSED, {})], Stage.BIOMETRIC_PASSED
    if stage is Stage.BIOMETRIC_PASSED:
        return [(EventType.COMPLETED, {})], Stage.COMPLETED
    raise ValueError(f"no next leg from {stage.value}")


def stall_at(stage: Stage, plan: CustomerPlan) -> StallPlan | None:
    """Whether the customer stops on reaching `stage` (a failure stage is only reached when it stalls)."""
    stall = plan.stalls.get(stage)
    return stall if stall is not None and stall.stalls else None


@dataclass(frozen=True)
class Move:
    """An event the customer sends at `at`."""

    at: float
    event_type: EventType
    attributes: dict[str, str]


def event_of(plan: CustomerPlan, number: int, move: Move, occurred_at: datetime) -> OnboardingEvent:
    """The customer's `number`th event, as the app backend reports it (the HTTP driver sends the same)."""
    return OnboardingEvent(
        event_id=f"{plan.customer_id}-e{number:02d}",
        customer_id=plan.customer_id,
        type=move.event_type,
        occurred_at=occurred_at,
        attributes=move.attributes,
        profile=plan.profile(),
    )


class Customer:
    """One customer's side of the journey, on the caller's clock."""

    def __init__(self, plan: CustomerPlan, start: float) -> None:
        self.plan = plan
        self.stage = Stage.STARTED  # the customer's own idea of where they are
        self.done = False  # nothing more to send (completed, or activated in the store)
        self._steps = 0
        self._leg: deque[tuple[EventType, dict[str, str]]] = deque([(EventType.STARTED, {})])
        self._leg_end = Stage.STARTED
        self._leg_at = start  # when the next event of the leg goes
        self._stall: StallPlan | None = None
        self._back_at: float | None = None  # natural return
        self._react_at: float | None = None
        self._reacted = False  # one reaction per stall

    @property
    def stalled(self) -> bool:
        return self._stall is not None

    def next_move(self) -> Move | None:
        """The customer's own next event, or None while they wait for something (or are done)."""
        if self.done:
            return None
        stall = self._stall
        if stall is None:
            event_type, attributes = self._leg[0]
            return Move(self._leg_at, event_type, attributes)
        react_at, back_at = self._react_at, self._back_at
        if react_at is not None and (back_at is None or react_at < back_at):  # a tie: back by themselves
            if stall.reaction.kind is ReactionKind.OPT_OUT:
                return Move(react_at, EventType.OPTED_OUT, {"channel": "all"})
            if stall.reaction.message == "sms_store_offer":
                return Move(react_at, EventType.COMPLETED, {})  # activated in the store (the event takes no attributes)
            return self._first_of_next_leg(react_at)
        if back_at is not None:
            return self._first_of_next_leg(back_at)
        return None

    def moved(self, move: Move, at: float) -> None:
        """The move was made at `at` (its own time on a virtual clock; when it went on a real one)."""
        stall = self._stall
        if stall is not None:
            if move.event_type is EventType.OPTED_OUT:
                self._react_at = None  # still stopped: they may come back, or an agent may reach them
                return
            if move.event_type is EventType.COMPLETED:
                self.done = True
                return
            self._leg, self._leg_end = self._leg_from(self.stage)  # back: the leg from where they stopped
            self._stall = None
        self._leg.popleft()
        self.stage = STAGE_OF_EVENT[move.event_type]
        delay = self._next_delay()
        if self._leg:
            self._leg_at = at + delay
        else:
            self._arrive(self._leg_end, at, delay)

    def heard(self, at: float, stage: Stage, label: str) -> None:
        """A message reached the phone at `at`; they act on it if it is the one their plan says."""
        stall = self._stall
        if stall is None or stage is not self.stage or self._reacted:
            return
        if stall.reaction.kind is ReactionKind.NONE or stall.reaction.message != label:
            return
        self._reacted = True
        self._react_at = at + stall.reaction_delay

    def agent_done(self, at: float, stage: Stage, outcome: TaskOutcome) -> None:
        """An agent completed their task at `at`, with `outcome`."""
        stall = self._stall
        if stall is None or stage is not self.stage:
            return
        if outcome is TaskOutcome.VERIFIED_ON_CALL:
            self._stall = None
            self._arrive(STAGE_AFTER_AGENT_VERIFICATION[stage], at, self._next_delay())
        elif outcome is TaskOutcome.CUSTOMER_WILL_RETRY:
            self._stall = None
            self._leg, self._leg_end = self._leg_from(stage)
            self._leg_at = at + stall.reaction_delay
        elif outcome is TaskOutcome.ACTIVATED_IN_STORE:
            self._stall = None
            self.stage, self.done = Stage.COMPLETED, True
        # unreachable: the journey sends the SMS store offer, which they answer as drawn

    def _arrive(self, stage: Stage, at: float, delay: float) -> None:
        """At `stage` since `at`: they stop there if their plan says so, else go on after `delay`."""
        self.stage = stage
        if stage is Stage.COMPLETED:
            self.done = True
            return
        stall = stall_at(stage, self.plan)
        if stall is not None:
            self._stall, self._reacted, self._react_at = stall, False, None
            self._back_at = at + stall.return_after if stall.natural_return else None
            return
        self._leg, self._leg_end = self._leg_from(stage)
        self._leg_at = at + delay

    def _first_of_next_leg(self, at: float) -> Move:
        event_type, attributes = next_leg(self.stage, self.plan)[0][0]
        return Move(at, event_type, attributes)

    def _leg_from(self, stage: Stage) -> tuple[deque[tuple[EventType, dict[str, str]]], Stage]:
        leg, end = next_leg(stage, self.plan)
        return deque(leg), end

    def _next_delay(self) -> float:
        delay = self.plan.step_delays[self._steps % len(self.plan.step_delays)]
        self._steps += 1
        return delay
