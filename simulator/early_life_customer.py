"""How a simulated customer uses the app after activation: one model, used by the early-life model
(virtual clock, `simulator/early_life_model.py`) and by the customers who drive the running system over
HTTP (real clock, `simulator/live_customer.py`).

From activation they send a `customer.active` event every drawn gap (shorter than `dormant_after`).
One who fades stops once the next gap would take them past their fade moment; the early-life journey
sees no activity for `dormant_after` and counts a dormancy. They come back (send activity again, and
keep using the app to the end) at the first of: their natural return (`return_after x dormant_after`
after the dormancy began, in both groups), or the message they act on (`respond_to`), their reaction
delay after it reached them: a nudge or the SMS store offer on the phone, or the retention call an
agent completed (an `unreachable` call reached no one). A message that comes while they use the app
is nothing to them.

Times are floats in seconds on the caller's clock, as in `simulator/customer.py`: the caller asks
for the next move (`next_move`), makes it when its time comes and says when it did (`moved`); what
reaches the customer is told with the time it did (`heard`).
"""

from datetime import datetime, timedelta

from simulator.cohort import CustomerPlan
from simulator.early_life_cohort import EarlyLifeDraw
from workflows.events import OnboardingEvent
from workflows.funnel import EventType
from workflows.human_tasks import TaskOutcome
from workflows.playbook import Playbook


def early_message_label(kind: str, attempt: int) -> str:
    """An early-life message as the draws name it: nudge_1..3, or escalation (the SMS store offer).
    `kind` as the outbox and the journey name it (`early_life_nudge`, `nudge`, `sms_store_offer`...)."""
    return f"nudge_{attempt}" if kind.removeprefix("early_life_") == "nudge" else "escalation"


def call_reached(outcome: TaskOutcome) -> bool:
    """A retention call the agent completed reached the customer unless they could not be reached."""
    return outcome is not TaskOutcome.UNREACHABLE


def activity_event(plan: CustomerPlan, number: int, kind: str, occurred_at: datetime) -> OnboardingEvent:
    """The customer's `number`th activity after activation, as the app backend reports it."""
    return OnboardingEvent(
        event_id=f"{plan.customer_id}-a{number:03d}",
        customer_id=plan.customer_id,
        type=EventType.ACTIVE,
        occurred_at=occurred_at,
        attributes={"kind": kind},
    )


def seconds(delta: timedelta) -> float:
    return delta.total_seconds()


class EarlyLifeCustomer:
    """One customer's side of early life, on the caller's clock, from `activated` (seconds)."""

    def __init__(self, draw: EarlyLifeDraw, playbook: Playbook, activated: float) -> None:
        early = playbook.early_life
        self.draw = draw
        self.dormant_after = seconds(early.dormant_after)
        self.fade_moment = activated + draw.fade_at * seconds(early.period) if draw.fades else None
        self.back = False  # came back after fading
        self.events = 0
        self._last_active = activated  # activation starts the journey's dormancy clock
        self._next_at = activated + self._gap()
        self._react_at: float | None = None

    @property
    def away(self) -> bool:
        """Faded and not back: the next activity would come after their fade moment."""
        return self.fade_moment is not None and not self.back and self._next_at > self.fade_moment

    def next_move(self) -> tuple[float, str] | None:
        """When they next use the app, and how (the event's `kind`); None while nothing would bring them back."""
        if not self.away:
            return self._next_at, self._kind()
        back_at = self._last_active + self.dormant_after * (1 + self.draw.return_after)
        moments = [t for t in (self._react_at, back_at if self.draw.natural_return else None) if t is not None]
        return (min(moments), self._kind()) if moments else None

    def moved(self, at: float) -> None:
        """They used the app at `at` (its own time on a virtual clock; when it went on a real one)."""
        if self.away:
            self.back, self._react_at = True, None
        self.events += 1
        self._last_active = at
        self._next_at = at + self._gap()

    def heard(self, at: float, label: str) -> None:
        """A message (nudge_<n>, escalation) reached them at `at`; they act on it if it is their one."""
        if self.away and self._react_at is None and label == self.draw.respond_to:
            self._react_at = at + self.draw.reaction_delay * self.dormant_after

    def _gap(self) -> float:
        return self.draw.gaps[self.events % len(self.draw.gaps)] * self.dormant_after

    def _kind(self) -> str:
        return self.draw.kinds[self.events % len(self.draw.kinds)]
