"""The synthetic cohort of `recovery simulate`: who the customers are, what each of them will do, and
what each of them *would* do in either group, which gives the true uplift the recovery report estimates.

Pure and seeded: every random decision about customer `index` is drawn up front, in a fixed order,
from `random.Random(f"{seed}-{index}")`, so the same seed gives the same cohort whatever the timing
of the run, and a change to one probability does not reshuffle the other draws. Customer ids come
from the seed alone (`sim-<seed>-<index>`), so the holdout (a hash of the id, `workflows/holdout.py`)
is the same on every run of a seed too. The I/O (HTTP API, outbox, agents) is in
`starters/simulate.py`; this module only says what happens.

The customer's path through the funnel, and the points where they may stop ("stalls"):

    started -> phone_verified -> document_uploaded -> document_rejected (reason) | document_approved
            -> biometric_failed | biometric_passed -> completed

- `started`, `phone_verified`, `document_approved`, `biometric_passed`: the customer stalls there
  with the stage's probability (does not send the next event).
- `document_rejected`, `biometric_failed`: the check fails with the stage's probability, and a
  customer whose check failed stops there (the failure is the drop-off the seeds talk about).
- Every stall is a real drop-off: the customer sends nothing for far longer than the playbook's
  drop-off threshold, and the journey records it.
- Natural return. With the natural-return probability, a stalled customer comes back by themselves
  `return_after` seconds after they stopped (drawn uniformly in `NATURAL_RETURN_S`, 10-22 s), with
  no message at all, in both groups: they just send their next event. A treated customer who has not
  acted on a message by then returns then too (the journey credits whatever message came last: that
  is why the holdout exists). A natural returner who opted out earlier still returns.
- A stalled customer reacts to at most one message at that stage, drawn up front: for each message
  the stage can send (nudge 1, 2, 3, then the SMS store offer) in order, they respond with its
  probability, or opt out of all messages with the opt-out probability; the first hit decides. A
  response to a nudge resumes the funnel (the rest of the plan still applies, so they may stall again
  later); a response to the SMS store offer means they activate in the store (`onboarding.completed`).
  A message the stage never sends (e.g. a third nudge where the playbook has two) is never answered.
- Support agents complete each human task with an outcome drawn per task number of the customer
  (`<customer>:task-<n>`). `verified_on_call` moves the journey past the step and the customer goes on
  from there; `customer_will_retry` restarts the stage and the customer retries at once;
  `activated_in_store` completes the journey; `unreachable` makes the journey send the SMS store
  offer, which the customer answers as drawn.
- Holdout customers are never messaged and get no escalation task, so they only come back by
  themselves (agents would still work a task they asked for; the simulated customers never ask).

"Would never reach activation without help" = at least one stall with no natural return. With the
default probabilities that is about 43% of a cohort (the seeds: 30-50%).

The true uplift (`true_uplift`). `journey_outcome(plan, playbook, treated)` walks one customer through
the journey as the playbook runs it, on the nominal clock of the plan (step delays, reaction delays,
natural-return delays, agent pick-up and call times), once as treated and once as held out: the
drop-off after `drop_off_after`, the stage's nudges at their spacing, the frequency cap over every
message the journey sent so far (the real `earliest_under_cap`), the escalation (SMS store offer, or a
human task worked by the agents as drawn), opt-outs that silence later messages, the recovery window
and the maximum lifetime. A customer's first drop-off stage happens before any treatment, so it is the
same in both groups; the true uplift of a stage is the mean, over the cohort's customers whose first
drop-off is there, of completed-if-treated minus completed-if-held-out ("any stage": every customer
with a drop-off). The report's "any stage" row estimates exactly that from the two groups; its other
rows count every drop-off at a stage, and whether a customer reaches a later drop-off depends on the
treatment, so only the first drop-off stage is comparable there.

How the model matches the running journeys of the demo playbook (drop-off after 1 s; nudges at 1 s
and 5 s, or 1 s and 7 s where a stage has two; the cap of 2 messages per 24 s holds the third message
of a stage until 25 s, so the escalation comes at 25-29 s; the recovery window is 48 s):

- Natural returns (10-22 s) land between the second nudge (at most 7.5 s, with the reaction time) and
  the earliest decisive message (the SMS store offer or human task, never before 25 s): for a
  customer's first drop-off the order of events is never in doubt, and a natural returner comes back
  in both groups, whatever the treatment.
- At a later drop-off, messages of the earlier stage still count against the cap and can push this
  stage's messages later (even past the recovery window). The model runs the same cap on nominal
  times; the real messages go out some milliseconds later, so an event the model puts within a
  fraction of a second of another (a reaction and the end of the window, say) may go either way in a
  run. That takes several drop-offs and a close call, a handful of customers per thousand at most.
- Agents are taken to finish a task `AGENT_DESK_S` after it opens plus the drawn pick-up and call
  times; only the order against the natural return and the window matters, and neither is close.
- Quiet hours are not modelled (the demo playbook has none).
"""

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from activities.stores import DEFAULT_STORE_DIRECTORY, StoreDirectory
from workflows.frequency_cap import earliest_under_cap
from workflows.funnel import STAGE_AFTER_AGENT_VERIFICATION, STAGE_OF_EVENT, EventType, RejectionReason, Stage
from workflows.human_tasks import TaskOutcome
from workflows.journey_state import OutcomeKind
from workflows.playbook import PLAYBOOKS_DIR, Playbook, StagePlaybook

DEMO_PLAYBOOK = PLAYBOOKS_DIR / "demo.toml"

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
            self.index, self.timezone, self.locale, self.lat, self.lon, self.start_after, self.rejection_reason,
            tuple(self.stalls[s] for s in STALL_STAGES), self.tasks, self.step_delays,
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
        if not self.agent_outcomes or any(w < 0 for w in self.agent_outcomes.values()) or sum(self.agent_outcomes.values()) <= 0:
            raise ValueError("agent outcome weights must be non-negative and not all zero")

    @property
    def respond(self) -> dict[str, float]:
        return dict(zip(MESSAGES, (*self.respond_nudge, self.respond_sms), strict=True))


def store_locations(path: Path = DEFAULT_STORE_DIRECTORY) -> list[tuple[float, float]]:
    return [(store.lat, store.lon) for store in StoreDirectory.load(path).stores]


def _weighted(rng: random.Random, choices: tuple[tuple[object, float], ...] | list[tuple[object, float]]) -> object:
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


def plan_customer(params: CohortParams, index: int, customer_id: str, stores: list[tuple[float, float]]) -> CustomerPlan:
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
        TaskPlan(TaskOutcome(_weighted(rng, outcomes)), round(rng.uniform(*AGENT_PICKUP_S), 3), round(rng.uniform(*AGENT_CALL_S), 3))
        for _ in range(TASK_SLOTS)
    )
    step_delays = tuple(round(rng.uniform(*STEP_DELAY_S), 3) for _ in range(STEP_SLOTS))
    # Drawn last, so the draws above are the ones cohorts had before natural returns took time.
    stalls = {
        stage: StallPlan(stage, stalls_here, returns, reaction, delay, return_after=round(rng.uniform(*NATURAL_RETURN_S), 3))
        for stage, stalls_here, returns, reaction, delay in drawn
    }
    return CustomerPlan(
        index=index, customer_id=customer_id, timezone=timezone, locale="en", lat=lat, lon=lon, start_after=start_after,
        rejection_reason=reason, stalls=stalls, tasks=tasks, step_delays=step_delays,
    )


def customer_id_for(seed: int, index: int) -> str:
    """From the seed alone: the same seed is the same customers, and so the same holdout, on every run."""
    return f"sim-{seed}-{index:04d}"


def plan_cohort(params: CohortParams, stores: list[tuple[float, float]] | None = None) -> list[CustomerPlan]:
    stores = stores or store_locations()
    return [plan_customer(params, index, customer_id_for(params.seed, index), stores) for index in range(params.customers)]


# -- the funnel as the customer walks it ----------------------------------------------------------


def next_leg(stage: Stage, plan: CustomerPlan) -> tuple[list[tuple[EventType, dict[str, str]]], Stage]:
    """The events that take the customer from `stage` to their next stall point, and that point.

    From a failure stage (rejected, biometric failed) the leg is the retry, which succeeds.
    """
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


# -- what each customer would do in either group: the true uplift ---------------------------------

_NEVER = float("inf")
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)  # the nominal clock's zero, for the real cap function


@dataclass(frozen=True)
class JourneyPrediction:
    """How a customer's journey ends in one group, on the plan's nominal clock (seconds from their first event)."""

    treated: bool
    kind: OutcomeKind
    stage: Stage  # where the journey ended
    drop_off_stages: tuple[Stage, ...]
    messages: tuple[str, ...]  # "<stage>:nudge_<n>" / "<stage>:sms_store_offer", in the order sent
    task_outcomes: tuple[TaskOutcome, ...]  # tasks the agents completed, in order
    preceded_by: str  # what the journey credits: nudge_1..3, sms_store_offer, human_task or none
    ended_at: float

    @property
    def completed(self) -> bool:
        return self.kind is OutcomeKind.COMPLETED


@dataclass(frozen=True)
class _Resume:
    stage: Stage
    delay: float  # until the customer's next event
    check_stall: bool  # True: they arrive at `stage` (may stall there); False: they go on from it


class _Walk:
    """One journey, played through in nominal time: the customer's plan against the playbook."""

    def __init__(self, plan: CustomerPlan, playbook: Playbook, treated: bool) -> None:
        self.plan = plan
        self.playbook = playbook
        self.treated = treated
        guardrails = playbook.guardrails
        self.window = guardrails.recovery_window.total_seconds()
        self.lifetime_end = guardrails.max_lifetime.total_seconds()
        self.cap = guardrails.frequency_cap
        self.t = 0.0  # the customer's last action
        self.last_progress = 0.0
        self.step = 0
        self.opted_out = False
        self.drops: list[Stage] = []
        self.sent: list[tuple[float, str]] = []  # (sent at, "<stage>:<message>")
        self.tasks_opened = 0
        self.tasks_done: list[TaskOutcome] = []
        self.last_intervention = "none"  # what the journey credits: the last message or completed task

    def _next_delay(self) -> float:
        delay = self.plan.step_delays[self.step % len(self.plan.step_delays)]
        self.step += 1
        return delay

    def _end(self) -> float:
        return min(self.last_progress + self.window, self.lifetime_end)

    def run(self) -> JourneyPrediction:
        """The same steps as the simulated customer (`starters/simulate.py`, `_Customer.run`)."""
        stage, check_stall, delay = Stage.STARTED, True, self._next_delay()
        while True:
            stall = stall_at(stage, self.plan) if check_stall else None
            if stall is not None:
                resume = self._stalled(stage, stall)
                if isinstance(resume, JourneyPrediction):
                    return resume
                stage, delay, check_stall = resume.stage, resume.delay, resume.check_stall
                if check_stall:
                    continue
            leg, stage_after = next_leg(stage, self.plan)
            for event_type, _ in leg:
                at = self.t + delay
                if at >= self._end():
                    return self._ended(stage, self._end())
                self.t = self.last_progress = at
                stage = STAGE_OF_EVENT[event_type]
                delay = self._next_delay()
            stage = stage_after
            if stage is Stage.COMPLETED:
                return self._finish(OutcomeKind.COMPLETED, stage, self.t)
            check_stall = True

    def _stalled(self, stage: Stage, stall: StallPlan) -> _Resume | JourneyPrediction:
        """From the moment the customer stops at `stage` until they go on, or the journey ends."""
        arrived = self.t
        rules = self.playbook.for_stage(stage)
        cutoff = self._end()
        if arrived + rules.drop_off_after.total_seconds() >= cutoff:
            return self._ended(stage, cutoff)
        self.drops.append(stage)
        natural = arrived + stall.return_after if stall.natural_return else _NEVER
        attempts, last_nudge, escalated, store_offer = 0, None, False, False
        clock = arrived  # the journey's last action at this stage
        reaction_at: float | None = None
        task: tuple[float, TaskOutcome] | None = None
        while True:
            journey_at, journey_does = _NEVER, ""
            if self.treated and task is None:
                due = self._due(rules, arrived, attempts, last_nudge, escalated, store_offer)
                if due is not None and (due[0] == "task" or not self.opted_out):  # opted out: messages suppressed
                    what, at = due
                    journey_at, journey_does = max(clock, at if what == "task" else self._capped(at)), what
            # Ties go to the earlier entry: the window is checked before anything else a wake-up does.
            at, happens = min(
                (cutoff, "cutoff"), (natural, "natural"), (_NEVER if reaction_at is None else reaction_at, "reaction"),
                (_NEVER if task is None else task[0], "agent"), (journey_at, "journey"), key=lambda moment: moment[0],
            )
            if happens == "cutoff":
                return self._ended(stage, cutoff)
            if happens == "natural":
                self.t = at
                return _Resume(stage, 0.0, check_stall=False)
            if happens == "reaction":
                reaction_at, clock = None, at
                if stall.reaction.kind is ReactionKind.OPT_OUT:
                    self.opted_out = True
                    continue
                self.t = at
                if stall.reaction.message == "sms_store_offer":
                    return self._finish(OutcomeKind.COMPLETED, Stage.COMPLETED, at)
                return _Resume(stage, 0.0, check_stall=False)
            if happens == "agent":
                assert task is not None
                (done, outcome), task, clock = task, None, at
                self.tasks_done.append(outcome)
                self.last_intervention = "human_task"
                if outcome is TaskOutcome.ACTIVATED_IN_STORE:
                    return self._finish(OutcomeKind.COMPLETED, Stage.COMPLETED, done)
                if outcome is TaskOutcome.UNREACHABLE:
                    store_offer = True
                    continue
                self.t = self.last_progress = done
                if outcome is TaskOutcome.VERIFIED_ON_CALL:
                    return _Resume(STAGE_AFTER_AGENT_VERIFICATION[stage], self._next_delay(), check_stall=True)
                return _Resume(stage, stall.reaction_delay, check_stall=False)  # customer_will_retry: at once
            # the journey acts
            clock = at
            if journey_does == "task":
                escalated = True
                self.tasks_opened += 1
                work = self.plan.task(self.tasks_opened)
                task = (at + AGENT_DESK_S + work.pickup_delay + work.call_duration, work.outcome)
                continue
            self.sent.append((at, f"{stage.value}:{journey_does}"))
            self.last_intervention = journey_does
            if journey_does == "sms_store_offer":
                store_offer, escalated = False, True
            else:
                attempts, last_nudge = int(journey_does.rpartition("_")[2]), at
            if stall.reaction.kind is not ReactionKind.NONE and stall.reaction.message == journey_does:
                reaction_at = at + stall.reaction_delay

    def _due(
        self, rules: StagePlaybook, since: float, attempts: int, last_nudge: float | None, escalated: bool, store_offer: bool
    ) -> tuple[str, float] | None:
        """What the journey does next at this stage and when it is due (`workflows/next_step.py`, `_due_action`)."""
        if store_offer:  # an agent could not reach the customer: the offer is due at once
            return "sms_store_offer", self.last_progress
        if attempts < rules.nudges:
            base = since if attempts == 0 else last_nudge
            assert base is not None
            return f"nudge_{attempts + 1}", base + rules.nudge_gap(attempts + 1).total_seconds()
        escalation = rules.escalation
        if escalation is None or escalated:
            return None
        at = last_nudge + escalation.after.total_seconds() if last_nudge is not None else since + rules.drop_off_after.total_seconds()
        return ("task" if escalation.kind == "human_task" else "sms_store_offer"), at

    def _capped(self, due: float) -> float:
        """When a message due at `due` may go out under the frequency cap, given every message sent so far."""
        sent = [_EPOCH + timedelta(seconds=at) for at, _ in self.sent]
        return (earliest_under_cap(_EPOCH + timedelta(seconds=due), sent, self.cap) - _EPOCH).total_seconds()

    def _ended(self, stage: Stage, at: float) -> JourneyPrediction:
        return self._finish(OutcomeKind.OPTED_OUT if self.opted_out else OutcomeKind.ABANDONED, stage, at)

    def _finish(self, kind: OutcomeKind, stage: Stage, at: float) -> JourneyPrediction:
        return JourneyPrediction(
            treated=self.treated, kind=kind, stage=stage, drop_off_stages=tuple(self.drops),
            messages=tuple(label for _, label in self.sent), task_outcomes=tuple(self.tasks_done),
            preceded_by=self.last_intervention, ended_at=round(at, 3),
        )


def journey_outcome(plan: CustomerPlan, playbook: Playbook, treated: bool) -> JourneyPrediction:
    """How the customer's journey ends if they are treated (messaged, escalated) or held out (left alone)."""
    return _Walk(plan, playbook, treated).run()


class StageTruth(BaseModel):
    """The true uplift among the customers whose first drop-off is at `stage` ("any stage": every drop-off)."""

    stage: str
    customers: int
    completed_if_treated: int
    completed_if_held_out: int
    uplift: float | None  # mean of completed-if-treated minus completed-if-held-out; None without customers


def true_uplift(plans: list[CustomerPlan], playbook: Playbook) -> list[StageTruth]:
    """Per first drop-off stage (funnel order) after "any stage": both outcomes of every customer, from their draws."""
    groups: dict[str, list[tuple[bool, bool]]] = {"any stage": [], **{stage.value: [] for stage in STALL_STAGES}}
    for plan in plans:
        first = plan.first_drop_stage
        if first is None:
            continue
        both = (journey_outcome(plan, playbook, treated=True).completed, journey_outcome(plan, playbook, treated=False).completed)
        groups["any stage"].append(both)
        groups[first.value].append(both)
    truths = []
    for stage, pairs in groups.items():
        treated, held_out = sum(t for t, _ in pairs), sum(h for _, h in pairs)
        truths.append(StageTruth(
            stage=stage, customers=len(pairs), completed_if_treated=treated, completed_if_held_out=held_out,
            uplift=round((treated - held_out) / len(pairs), 6) if pairs else None,
        ))
    return truths
