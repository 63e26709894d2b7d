"""The synthetic cohort of `recovery simulate`: who the customers are and every draw about them.

Pure and seeded: every random decision about customer `index` is drawn up front, in a fixed order,
from `random.Random(f"{seed}-{index}")`, so the same seed gives the same cohort whatever the timing
of the run, and a change to one probability does not reshuffle the other draws. Customer ids come
from the seed alone (`sim-<seed>-<index>`), so the holdout (a hash of the id, `workflows/holdout.py`)
is the same on every run of a seed too.

What a customer draws, per stall point of the funnel (`STALL_STAGES`):

- whether they stop there (at `document_rejected` and `biometric_failed`: whether the check fails;
  a customer whose check failed stops there). Every stop is a real drop-off: the customer sends
  nothing for far longer than the playbook's drop-off threshold;
- whether they come back by themselves (natural return), `return_after` seconds after they stopped
  (uniform in `NATURAL_RETURN_S`, 10-22 s), in both groups;
- the one message of the stage they act on, drawn up front: for each message the stage can send
  (nudge 1, 2, 3, then the SMS store offer) in order, they respond with its probability, or opt out
  of all messages with the opt-out probability; the first hit decides;
- how long they take to act on it.

And per customer who activates, their early life (`simulator/early_life_cohort.py`, drawn from a
generator of its own). And per customer: an outcome per human task (`<customer>:task-<n>`) with the agents' pick-up and
call times, and the delays between their funnel events. How a customer acts on these draws is in
`simulator/customer.py`; what the journey makes of it, in `simulator/journey_model.py`.

"Would never reach activation without help" = at least one stall with no natural return. With the
default probabilities that is about 43% of a cohort (the seeds: 30-50%).
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from activities.stores import StoreDirectory
from core.settings import DEFAULT_STORE_DIRECTORY
from simulator.early_life_cohort import EarlyLifeDraw, EarlyLifeParams, draw_early_life
from workflows.funnel import RejectionReason, Stage
from workflows.human_tasks import TaskOutcome
from workflows.playbook import PLAYBOOKS_DIR

DEMO_PLAYBOOK = PLAYBOOKS_DIR / "demo.toml"
T = TypeVar("T")

# The points of the funnel where a customer may stop, in funnel order.
STALL_STAGES: tuple[Stage, ...] = (
    Stage.STARTED,
    Stage.PHONE_VERIFIED,
    Stage.DOCUMENT_REJECTED,
    Stage.DOCUMENT_APPROVED,
    Stage.BIOMETRIC_FAILED,
    Stage.BIOMETRIC_PASSED,
)

# Messages a stage may send, in the order they go out.
MESSAGES: tuple[str, ...] = ("nudge_1", "nudge_2", "nudge_3", "sms_store_offer")

TIMEZONES: tuple[str, ...] = (
    "Asia/Tashkent",
    "Asia/Samarkand",
    "Asia/Almaty",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Jakarta",
    "Asia/Tokyo",
    "Europe/Istanbul",
    "Europe/Berlin",
    "Europe/London",
    "Africa/Lagos",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Sydney",
)

# What happened at a document check that failed (the event's `reason`), with their weights.
REJECTION_REASONS: tuple[tuple[RejectionReason, float], ...] = (
    (RejectionReason.BLUR, 0.35),
    (RejectionReason.GLARE, 0.25),
    (RejectionReason.EXPIRED, 0.15),
    (RejectionReason.UNSUPPORTED_DOCUMENT, 0.1),
    (RejectionReason.DATA_MISMATCH, 0.1),
    (RejectionReason.OTHER, 0.05),
)

DEFAULT_STALL: dict[Stage, float] = {
    Stage.STARTED: 0.08,
    Stage.PHONE_VERIFIED: 0.12,
    Stage.DOCUMENT_REJECTED: 0.20,
    Stage.DOCUMENT_APPROVED: 0.10,
    Stage.BIOMETRIC_FAILED: 0.08,
    Stage.BIOMETRIC_PASSED: 0.05,
}

DEFAULT_AGENT_OUTCOMES: dict[TaskOutcome, float] = {
    TaskOutcome.VERIFIED_ON_CALL: 0.5,
    TaskOutcome.CUSTOMER_WILL_RETRY: 0.2,
    TaskOutcome.ACTIVATED_IN_STORE: 0.2,
    TaskOutcome.UNREACHABLE: 0.1,
}

STEP_DELAY_S = (0.1, 0.5)  # between two funnel events, well under the demo's 1 s drop-off threshold
NATURAL_RETURN_S = (10.0, 22.0)  # a natural return, after the customer stopped (see the module docstring)
REACTION_DELAY_S = (0.1, 0.5)  # from a message on the phone to the customer acting on it
AGENT_PICKUP_S = (0.2, 1.0)  # from a task in the inbox to the agent claiming it
AGENT_CALL_S = (0.2, 1.0)  # from claim to completion
TASK_SLOTS = 4  # outcomes drawn per customer for tasks 1..4 (later tasks reuse the last)
STEP_SLOTS = 16  # event delays drawn per customer (a long path reuses them cyclically)
JITTER_DEG = 0.05  # about 5 km around the store
AGENT_DESK_S = 0.5  # nominal: from a task opening to the agents having it (they look every 0.5 s)


class ReactionKind(StrEnum):
    RESPOND = "respond"
    OPT_OUT = "opt_out"
    NONE = "none"


@dataclass(frozen=True)
class Reaction:
    kind: ReactionKind
    message: str | None = None  # one of MESSAGES, or None with ReactionKind.NONE

    def label(self) -> str:
        return self.kind.value if self.message is None else f"{self.kind.value}:{self.message}"


@dataclass(frozen=True)
class StallPlan:
    stage: Stage
    stalls: bool  # the customer stops here: a real drop-off, which the journey records
    natural_return: bool  # ... and comes back by themselves, `return_after` seconds after stopping
    reaction: Reaction
    reaction_delay: float
    return_after: float = 15.0

    @property
    def needs_help(self) -> bool:
        """Stops here and would never come back alone."""
        return self.stalls and not self.natural_return


@dataclass(frozen=True)
class TaskPlan:
    outcome: TaskOutcome
    pickup_delay: float
    call_duration: float


@dataclass(frozen=True)
class CustomerPlan:
    index: int
    customer_id: str
    timezone: str
    locale: str
    lat: float
    lon: float
    start_after: float
    rejection_reason: RejectionReason
    stalls: dict[Stage, StallPlan]
    tasks: tuple[TaskPlan, ...]
    step_delays: tuple[float, ...]
    early_life: EarlyLifeDraw  # after activation (simulator/early_life_cohort.py: its own generator)

    @property
    def needs_help(self) -> bool:
        """Would never reach activation without a message or an agent."""
        return any(plan.needs_help for plan in self.stalls.values())

    @property
    def drop_stages(self) -> list[Stage]:
        """Where the customer stops, in funnel order, if they get that far (an ended journey stops earlier)."""
        return [stage for stage in STALL_STAGES if self.stalls[stage].stalls]

    @property
    def first_drop_stage(self) -> Stage | None:
        """The first drop-off: before any message, so the same whether the customer is treated or held out."""
        stages = self.drop_stages
        return stages[0] if stages else None

    def task(self, number: int) -> TaskPlan:
        return self.tasks[min(max(number, 1), len(self.tasks)) - 1]

    def profile(self) -> dict[str, object]:
        return {"timezone": self.timezone, "locale": self.locale, "location": {"lat": self.lat, "lon": self.lon}}

    def essence(self) -> tuple[object, ...]:
        """Everything drawn, without the customer id."""
        return (
            self.index,
            self.timezone,
            self.locale,
            self.lat,
            self.lon,
            self.start_after,
            self.rejection_reason,
            tuple(self.stalls[s] for s in STALL_STAGES),
            self.tasks,
            self.step_delays,
            self.early_life,
        )


@dataclass(frozen=True)
class CohortParams:
    customers: int = 200
    seed: int = 7
    stall: dict[Stage, float] = field(default_factory=lambda: dict(DEFAULT_STALL))
    natural_return: float = 0.15
    respond_nudge: tuple[float, float, float] = (0.25, 0.15, 0.10)
    respond_sms: float = 0.20
    opt_out: float = 0.02
    agent_outcomes: dict[TaskOutcome, float] = field(default_factory=lambda: dict(DEFAULT_AGENT_OUTCOMES))
    start_rate: float = 3.0  # customers starting per second (customer n starts at (n + U[0,1)) / rate)
    early_life: EarlyLifeParams = field(default_factory=EarlyLifeParams)  # after activation

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("customers must be at least 1")
        if self.start_rate <= 0:
            raise ValueError("start_rate must be positive (customers per second)")
        missing = [s.value for s in STALL_STAGES if s not in self.stall]
        if missing:
            raise ValueError(f"stall probabilities missing for: {', '.join(missing)}")
        probabilities = {
            **{f"stall {stage.value}": p for stage, p in self.stall.items()},
            "natural_return": self.natural_return,
            "respond_sms": self.respond_sms,
            "opt_out": self.opt_out,
            **{f"respond_nudge {i}": p for i, p in enumerate(self.respond_nudge, 1)},
        }
        for name, p in probabilities.items():
            if not 0 <= p <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
        if len(self.respond_nudge) != 3:
            raise ValueError("respond_nudge takes three probabilities (nudge 1, 2, 3)")
        for name, p in (*((f"nudge {i}", q) for i, q in enumerate(self.respond_nudge, 1)), ("sms", self.respond_sms)):
            if p + self.opt_out > 1:
                raise ValueError(f"respond to {name} ({p}) plus opt_out ({self.opt_out}) exceeds 1")
        if (
            not self.agent_outcomes
            or any(w < 0 for w in self.agent_outcomes.values())
            or sum(self.agent_outcomes.values()) <= 0
        ):
            raise ValueError("agent outcome weights must be non-negative and not all zero")

    @property
    def respond(self) -> dict[str, float]:
        return dict(zip(MESSAGES, (*self.respond_nudge, self.respond_sms), strict=True))


def store_locations(path: Path = DEFAULT_STORE_DIRECTORY) -> list[tuple[float, float]]:
    return [(store.lat, store.lon) for store in StoreDirectory.load(path).stores]


def _weighted(rng: random.Random, choices: Sequence[tuple[T, float]]) -> T:
    """One draw from weighted choices, always consuming exactly one random number."""
    total = sum(w for _, w in choices)
    u = rng.random() * total
    for value, weight in choices:
        if u < weight:
            return value
        u -= weight
    return choices[-1][0]


def _reaction(rng: random.Random, params: CohortParams) -> Reaction:
    """The first message of the stage the customer acts on; always draws one number per message."""
    draws = [rng.random() for _ in MESSAGES]
    respond = params.respond
    for message, u in zip(MESSAGES, draws, strict=True):
        if u < respond[message]:
            return Reaction(ReactionKind.RESPOND, message)
        if u < respond[message] + params.opt_out:
            return Reaction(ReactionKind.OPT_OUT, message)
    return Reaction(ReactionKind.NONE)


def plan_customer(
    params: CohortParams, index: int, customer_id: str, stores: list[tuple[float, float]]
) -> CustomerPlan:
    """Every decision about one customer, drawn in a fixed order from their own seeded generator."""
    rng = random.Random(f"{params.seed}-{index}")
    timezone = rng.choice(TIMEZONES)
    lat, lon = rng.choice(stores)
    lat = round(max(-90.0, min(90.0, lat + rng.uniform(-JITTER_DEG, JITTER_DEG))), 5)
    lon = round(max(-180.0, min(180.0, lon + rng.uniform(-JITTER_DEG, JITTER_DEG))), 5)
    start_after = round((index + rng.random()) / params.start_rate, 3)
    reason = RejectionReason(_weighted(rng, REJECTION_REASONS))
    drawn: list[tuple[Stage, bool, bool, Reaction, float]] = []
    for stage in STALL_STAGES:
        stalls_here = rng.random() < params.stall[stage]
        returns = rng.random() < params.natural_return
        reaction = _reaction(rng, params)
        delay = round(rng.uniform(*REACTION_DELAY_S), 3)
        drawn.append((stage, stalls_here, returns, reaction, delay))
    outcomes = tuple(params.agent_outcomes.items())
    tasks = tuple(
        TaskPlan(
            TaskOutcome(_weighted(rng, outcomes)),
            round(rng.uniform(*AGENT_PICKUP_S), 3),
            round(rng.uniform(*AGENT_CALL_S), 3),
        )
        for _ in range(TASK_SLOTS)
    )
    step_delays = tuple(round(rng.uniform(*STEP_DELAY_S), 3) for _ in range(STEP_SLOTS))
    # Drawn last, so the draws above are the ones cohorts had before natural returns took time.
    stalls = {
        stage: StallPlan(
            stage, stalls_here, returns, reaction, delay, return_after=round(rng.uniform(*NATURAL_RETURN_S), 3)
        )
        for stage, stalls_here, returns, reaction, delay in drawn
    }
    return CustomerPlan(
        index=index,
        customer_id=customer_id,
        timezone=timezone,
        locale="en",
        lat=lat,
        lon=lon,
        start_after=start_after,
        rejection_reason=reason,
        stalls=stalls,
        tasks=tasks,
        step_delays=step_delays,
        early_life=draw_early_life(params.early_life, params.seed, index),
    )


def customer_id_for(seed: int, index: int) -> str:
    """From the seed alone: the same seed is the same customers, and so the same holdout, on every run."""
    return f"sim-{seed}-{index:04d}"


def plan_cohort(params: CohortParams, stores: list[tuple[float, float]] | None = None) -> list[CustomerPlan]:
    stores = stores or store_locations()
    return [
        plan_customer(params, index, customer_id_for(params.seed, index), stores) for index in range(params.customers)
    ]
