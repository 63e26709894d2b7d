"""`recovery simulate`: a synthetic cohort driven through the running system over the HTTP API.

It plays both sides a real deployment has around the journeys:

- the customers, as the app backend would report them (`simulator/live_customer.py`): each sends
  their funnel events to `POST /v1/events` a short moment apart, stops where their plan says, and
  watches their phone (the outbox, `<data_dir>/outbox.jsonl`) for messages, acting as the one model
  of customer behaviour says (`simulator/customer.py`; their draws: `simulator/cohort.py`);
- the support agents (`simulator/agents.py`): they poll `GET /v1/tasks?state=open`, claim each task
  of the cohort and complete it with the outcome drawn for it.

Each customer's group (treatment or holdout) is known before the run, from their id and the holdout
share of the playbook, and confirmed by their journey view. Holdout customers are never messaged, so
they only come back by themselves.

It ends when every journey has an outcome (`GET /v1/journeys/{id}`), and sums the outcomes up
(`simulator/summary.py`). Next to it: the true uplift over the holdout, computed from the cohort's
own draws before the run, and the uplift the journeys' outcomes give (`simulator/uplift.py`). Only
the cohort's own customers and tasks are touched: other journeys on the same system are left alone.
Customer ids come from the seed, so a seed runs once per system.

Then early life, for the customers who activated (`simulator/early_life_run.py`): modelled on a
virtual clock by the early-life journey's own rules (the default), or lived against the running system
until every early-life journey ended (`--early-life live`), with its truth next to the report's figures.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from journal.report import Uplift
from simulator.agents import AgentDesk, AgentDone, OutboxWatcher
from simulator.api import Api, SimulationError, already_ran
from simulator.cohort import DEMO_PLAYBOOK, CohortParams, CustomerPlan, plan_cohort
from simulator.early_life_run import EarlyLifeMode, EarlyLifeResult, early_life_result
from simulator.live_customer import LiveCustomer
from simulator.summary import Summary, summarize
from simulator.uplift import StageTruth, observed_uplift, true_uplift
from workflows.holdout import RecoveryGroup
from workflows.journey_state import JourneyOutcome, OutcomeKind
from workflows.playbook import Playbook, load_playbook

JOURNEY_POLL_S = 2.0  # how often a customer with nothing to do asks whether their journey has ended
AGENT_POLL_S = 0.5  # how often the agents look at the task inbox
EARLY_LIFE_SLACK_S = 60.0  # --early-life live: the time-out grows by the early-life period and this


def _demo_playbook() -> Playbook:
    return load_playbook(DEMO_PLAYBOOK)


@dataclass(frozen=True)
class SimulationConfig:
    params: CohortParams
    api_url: str = "http://127.0.0.1:8000"
    api_token: str = ""
    data_dir: Path = Path("var")
    concurrency: int = 50
    timeout: float = 900.0
    journey_poll: float = JOURNEY_POLL_S
    agent_poll: float = AGENT_POLL_S
    playbook: Playbook = field(default_factory=_demo_playbook)  # the one `recovery up` runs: groups and the truth
    early_life: EarlyLifeMode = EarlyLifeMode.MODEL  # simulator/early_life_run.py


@dataclass
class SimulationResult:
    seed: int
    plans: list[CustomerPlan]
    outcomes: dict[str, JourneyOutcome | None]
    summary: Summary
    agent_outcomes: dict[str, int]
    elapsed_s: float
    timed_out: bool = False
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)
    playbook_version: str = ""
    groups: dict[str, str | None] = field(default_factory=dict)  # treatment / holdout, as the journeys say
    holdout_messaged: int = 0  # holdout customers a message reached (must stay 0)
    true_uplift: list[StageTruth] = field(default_factory=list)
    observed_uplift: list[Uplift] = field(default_factory=list)
    event_accept_s: dict[str, float] = field(default_factory=dict)  # sending an event -> API accepted it
    journey_lag_s: dict[str, float] = field(default_factory=dict)  # an event happening -> its journey seeing it
    early_life: EarlyLifeResult | None = None  # truth and report after activation (None: off, or nobody activated)

    @property
    def needing_help(self) -> int:
        return sum(plan.needs_help for plan in self.plans)

    @property
    def holdout(self) -> int:
        """Journeys the system kept as its control group (watched, never messaged)."""
        return sum(group == RecoveryGroup.HOLDOUT for group in self.groups.values())

    @property
    def holdout_completed(self) -> int:
        return sum(
            self.groups.get(cid) == RecoveryGroup.HOLDOUT
            and outcome is not None
            and outcome.kind is OutcomeKind.COMPLETED
            for cid, outcome in self.outcomes.items()
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "customers": len(self.plans),
            "playbook": self.playbook_version,
            "would_not_activate_without_help": self.needing_help,
            "elapsed_s": round(self.elapsed_s, 1),
            "timed_out": self.timed_out,
            "interrupted": self.interrupted,
            "summary": self.summary.model_dump(),
            "agent_outcomes": self.agent_outcomes,
            "holdout": {
                "journeys": self.holdout,
                "completed": self.holdout_completed,
                "messaged": self.holdout_messaged,
            },
            "true_uplift": [truth.model_dump() for truth in self.true_uplift],
            "observed_uplift": [row.model_dump() for row in self.observed_uplift],
            "event_accept_s": self.event_accept_s,
            "journey_lag_s": self.journey_lag_s,
            "early_life": None if self.early_life is None else self.early_life.model_dump(mode="json"),
            "notes": self.notes,
            "customer_ids": [plan.customer_id for plan in self.plans],
        }


class Run:
    """What the customers of one run share: the API, the notes for the operator, the progress."""

    def __init__(
        self,
        config: SimulationConfig,
        plans: list[CustomerPlan],
        api: Api,
        progress: Callable[[int, int], None] | None,
        note: Callable[[str], None] | None,
        early_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.config = config
        self.api = api
        self.customers = {plan.customer_id: LiveCustomer(plan, self) for plan in plans}
        self.ended = 0
        self.notes: list[str] = []
        self.journey_lags: list[float] = []
        self.agent_outcomes: Counter[str] = Counter()
        self._progress = progress
        self._early_progress = early_progress
        self.early_started = self.early_ended = 0
        self._note = note
        self._noted: set[str] = set()

    def say_once(self, key: str, message: str) -> None:
        if key in self._noted:
            return
        self._noted.add(key)
        self.notes.append(message)
        if self._note:
            self._note(message)

    def journey_ended(self) -> None:
        self.ended += 1
        if self._progress:
            self._progress(self.ended, len(self.customers))

    def early_life_started(self) -> None:
        self.early_started += 1
        if self._early_progress:
            self._early_progress(self.early_ended, self.early_started)

    def early_life_ended(self) -> None:
        self.early_ended += 1
        if self._early_progress:
            self._early_progress(self.early_ended, self.early_started)

    def deliver(self, record: dict[str, Any]) -> None:
        customer = self.customers.get(str(record.get("customer_id")))
        if customer is not None:
            customer.phone_received(record)

    def tell(self, customer_id: str, news: AgentDone) -> None:
        self.customers[customer_id].inbox.put_nowait(news)


async def simulate(
    config: SimulationConfig,
    progress: Callable[[int, int], None] | None = None,
    note: Callable[[str], None] | None = None,
    early_progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Runs the cohort through the API until every journey has ended (or `config.timeout`), then early life
    as `config.early_life` says (`early_progress`: early-life journeys ended of those started, when live)."""
    params = config.params
    try:
        plans = plan_cohort(params)
    except ValueError as err:
        raise SimulationError(str(err)) from None
    truth = true_uplift(plans, config.playbook)  # from the draws alone, before anything runs
    api = Api(config.api_url, config.api_token, config.concurrency)
    run = Run(config, plans, api, progress, note, early_progress)
    started, started_at = time.monotonic(), datetime.now(UTC)
    early_life: EarlyLifeResult | None = None
    timed_out = interrupted = False
    try:
        if await api.preflight(plans[0].customer_id):
            raise already_ran(params.seed)
        if progress:
            progress(0, len(plans))
        try:
            timed_out = await _drive(run, config)
        except asyncio.CancelledError:  # Ctrl-C: report what ended so far
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            interrupted = True
        if not (timed_out or interrupted):
            outcomes = {plan.customer_id: run.customers[plan.customer_id].outcome for plan in plans}
            early_life = await early_life_result(
                config.early_life, plans, outcomes, config.playbook, api, started_at, datetime.now(UTC), note
            )
    finally:
        await api.aclose()
    outcomes = {plan.customer_id: run.customers[plan.customer_id].outcome for plan in plans}
    groups = {plan.customer_id: run.customers[plan.customer_id].group for plan in plans}
    return SimulationResult(
        seed=params.seed,
        plans=plans,
        outcomes=outcomes,
        summary=summarize(list(outcomes.values())),
        agent_outcomes=dict(run.agent_outcomes),
        elapsed_s=time.monotonic() - started,
        timed_out=timed_out,
        interrupted=interrupted,
        notes=run.notes,
        playbook_version=config.playbook.version,
        groups=groups,
        holdout_messaged=sum(
            c.group == RecoveryGroup.HOLDOUT and bool(c.messages_seen) for c in run.customers.values()
        ),
        true_uplift=truth,
        observed_uplift=observed_uplift(outcomes, groups),
        event_accept_s=_spread(api.event_latencies),
        journey_lag_s=_spread(run.journey_lags),
        early_life=early_life,
    )


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "median": round(ordered[len(ordered) // 2], 3),
        "p90": round(ordered[int(len(ordered) * 0.9)], 3),
        "max": round(ordered[-1], 3),
    }


async def _drive(run: Run, config: SimulationConfig) -> bool:
    """Customers, phones and agents, until every journey ended. Returns True on time-out."""
    try:
        async with asyncio.TaskGroup() as group:
            helpers: list[asyncio.Task[Any]] = []

            def spawn(coro: Any) -> asyncio.Task[Any]:
                task = group.create_task(coro)
                helpers.append(task)
                return task

            spawn(OutboxWatcher(config.data_dir / "outbox.jsonl", run.deliver).run())
            plans = {cid: customer.plan for cid, customer in run.customers.items()}
            live = config.early_life is EarlyLifeMode.LIVE
            spawn(AgentDesk(run.api, plans, run.tell, spawn, config.agent_poll, run.agent_outcomes, live).run())
            customers = [group.create_task(c.run()) for c in run.customers.values()]
            timeout = config.timeout
            if config.early_life is EarlyLifeMode.LIVE:  # and the early-life period after the last activation
                timeout += config.playbook.early_life.period.total_seconds() + EARLY_LIFE_SLACK_S
            _, pending = await asyncio.wait(customers, timeout=timeout)
            for task in (*pending, *helpers):
                task.cancel()
            return bool(pending)
    except* SimulationError as group_error:
        raise group_error.exceptions[0] from None
    except* (ValidationError, httpx.HTTPError) as group_error:
        raise SimulationError(f"unexpected answer from the API: {group_error.exceptions[0]}") from None
