"""`recovery simulate`: a synthetic cohort driven through the running system over the HTTP API.

It plays both sides a real deployment has around the journeys:

- the customers, as the app backend would report them: each sends their funnel events to
  `POST /v1/events` a short moment apart, stops where their plan says, and watches their phone
  (the outbox, `<data_dir>/outbox.jsonl`) for messages, reacting to the one their plan says they
  react to, or comes back by themselves when their plan says so (see `starters/simulate_cohort.py`
  for the cohort model and its seeded draws);
- the support agents: they poll `GET /v1/tasks?state=open`, claim each task of the cohort and
  complete it with the outcome drawn for it.

Each customer's group (treatment or holdout) is known before the run, from their id and the holdout
share of the playbook (`recovery_group`), and confirmed by their journey view. Holdout customers are
never messaged, so they only come back by themselves.

It ends when every journey has an outcome (`GET /v1/journeys/{id}`), and sums the outcomes up with
`summarize`, a pure function of the list of outcomes. Next to it: the true uplift over the holdout,
computed from the cohort's own draws before the run (`true_uplift`), and the uplift the journeys'
outcomes give (`observed_uplift`, treated minus holdout completion with a 95% interval, as the recovery
report computes it). Only the cohort's own customers and tasks are touched: other journeys on the same
system are left alone. Customer ids come from the seed, so a seed runs once per system.
"""

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError
from rich.table import Table

from starters.recovery_report import Uplift, uplift_of
from starters.simulate_cohort import (
    DEMO_PLAYBOOK,
    MESSAGES,
    STALL_STAGES,
    CohortParams,
    CustomerPlan,
    ReactionKind,
    StageTruth,
    StallPlan,
    next_leg,
    plan_cohort,
    stall_at,
    true_uplift,
)
from workflows.funnel import STAGE_AFTER_AGENT_VERIFICATION, EventType, Stage
from workflows.holdout import RecoveryGroup, recovery_group
from workflows.human_tasks import TaskOutcome
from workflows.journey_state import JourneyOutcome, OutcomeKind
from workflows.playbook import Playbook, load_playbook

RECOVERED_AFTER: tuple[str, ...] = ("nudge_1", "nudge_2", "nudge_3", "sms_store_offer", "human_task")
RETRY_FOR_S = 20.0  # how long a request is retried on 5xx / connection errors before the run gives up
JOURNEY_POLL_S = 2.0  # how often a customer with nothing to do asks whether their journey has ended
AGENT_POLL_S = 0.5  # how often the agents look at the task inbox
OUTBOX_POLL_S = 0.15  # how often the phones look at the outbox
ADMIT_LATENCY_S = 0.25  # events slower than this to be accepted: new customers wait (back-pressure)
LAG_NOTE_S = 1.0  # a journey that saw an event this late cannot judge drop-offs of 1 s
MAX_LOOK_S = 20.0  # a waiting customer looks at their journey at least this often
OUTBOX_SILENCE_S = 30.0  # a message in a journey but not in the outbox this long: wrong --data-dir


class SimulationError(RuntimeError):
    """Something the operator must fix (API down, wrong token, ...); the message says what."""


class ApiUnavailable(SimulationError):
    """The API did not answer, or answered 5xx/429, for longer than the simulator waits."""


def already_ran(seed: int) -> SimulationError:
    return SimulationError(
        f"a cohort with seed {seed} already ran against this system: use another --seed or a fresh data folder"
    )


# -- the summary: a pure function of the outcomes --------------------------------------------------


class Summary(BaseModel):
    started: int
    completed: int
    completed_unassisted: int
    recovered: dict[str, int]
    recovered_total: int
    completed_other: int
    abandoned: dict[str, int]
    abandoned_total: int
    opted_out: int
    not_ended: int
    completion_rate: float


def summarize(outcomes: Sequence[JourneyOutcome | None]) -> Summary:
    """Counts of how the cohort's journeys ended. `None` is a journey that has not ended.

    - completed unassisted: completed, and no message or task came before (`preceded_by` none);
    - recovered after X: completed after a drop-off (non-empty `drop_off_stages`), X being the
      last thing we did before it (`preceded_by`: nudge_1..3, sms_store_offer, human_task);
    - completed other: completed after an intervention with no drop-off recorded (e.g. help asked);
    - abandoned per stage (the stage the journey ended at), opted out, not ended.

    Every journey is in exactly one of these, so they add up to `started`.
    """
    recovered = dict.fromkeys(RECOVERED_AFTER, 0)
    abandoned = {stage.value: 0 for stage in Stage if stage is not Stage.COMPLETED}
    unassisted = other = opted_out = not_ended = completed = 0
    for outcome in outcomes:
        if outcome is None:
            not_ended += 1
        elif outcome.kind is OutcomeKind.COMPLETED:
            completed += 1
            if outcome.preceded_by == "none":
                unassisted += 1
            elif outcome.drop_off_stages and outcome.preceded_by in recovered:
                recovered[outcome.preceded_by] += 1
            else:
                other += 1
        elif outcome.kind is OutcomeKind.ABANDONED:
            abandoned[outcome.stage.value] = abandoned.get(outcome.stage.value, 0) + 1
        else:
            opted_out += 1
    started = len(outcomes)
    return Summary(
        started=started,
        completed=completed,
        completed_unassisted=unassisted,
        recovered=recovered,
        recovered_total=sum(recovered.values()),
        completed_other=other,
        abandoned=abandoned,
        abandoned_total=sum(abandoned.values()),
        opted_out=opted_out,
        not_ended=not_ended,
        completion_rate=round(completed / started, 4) if started else 0.0,
    )


_LABELS = {
    "nudge_1": "recovered after nudge 1",
    "nudge_2": "recovered after nudge 2",
    "nudge_3": "recovered after nudge 3",
    "sms_store_offer": "recovered after SMS store offer",
    "human_task": "recovered after human task",
}


def summary_table(summary: Summary, title: str | None = None) -> Table:
    table = Table("outcome", "customers", "share", title=title, header_style="bold")
    total = summary.started or 1

    def row(label: str, count: int, style: str | None = None) -> None:
        table.add_row(label, str(count), f"{100 * count / total:.1f}%", style=style)

    table.add_row("started", str(summary.started), "", style="bold")
    row("completed unassisted", summary.completed_unassisted)
    for key in RECOVERED_AFTER:
        row(_LABELS[key], summary.recovered[key], "green")
    if summary.completed_other:
        row("completed after help, no drop-off", summary.completed_other)
    table.add_section()
    where_customers_stop = [stage.value for stage in STALL_STAGES]
    for stage, count in summary.abandoned.items():  # funnel order; other stages only when someone ended there
        if stage in where_customers_stop or count:
            row(f"abandoned at {stage}", count, "red")
    row("opted out", summary.opted_out, "yellow")
    if summary.not_ended:
        row("not ended", summary.not_ended, "magenta")
    table.add_section()
    table.add_row("completion rate", f"{summary.completed}/{summary.started}", f"{100 * summary.completion_rate:.1f}%", style="bold")
    return table


# -- the uplift: the truth from the draws, and what the journeys give --------------------------------


def observed_uplift(outcomes: dict[str, JourneyOutcome | None], groups: dict[str, str | None]) -> list[Uplift]:
    """Completion of treated minus holdout customers, by first recorded drop-off stage (funnel order) after
    "any stage", with the recovery report's 95% interval. Journeys not ended, or of no known group, are left out."""
    rows: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
        "any stage": ([], []), **{stage.value: ([], []) for stage in STALL_STAGES},
    }
    for customer_id, outcome in outcomes.items():
        group = groups.get(customer_id)
        if outcome is None or not outcome.drop_off_stages or group not in (RecoveryGroup.TREATMENT, RecoveryGroup.HOLDOUT):
            continue
        row = {"outcome": outcome.kind.value}
        side = 0 if group == RecoveryGroup.TREATMENT else 1
        for key in ("any stage", outcome.drop_off_stages[0].value):
            rows.setdefault(key, ([], []))[side].append(row)
    return [uplift_of(stage, treated, holdout) for stage, (treated, holdout) in rows.items()]


def _points(value: float | None) -> str:
    return "" if value is None else f"{100 * value:+.1f}"


def uplift_table(truth: Sequence[StageTruth], observed: Sequence[Uplift], title: str | None = None) -> Table:
    """One row per first drop-off stage that has customers: the true uplift next to the journeys' estimate."""
    table = Table(
        "first drop-off", "customers", "true uplift (from the cohort's own draws)", "treated: completed",
        "holdout: completed", "journeys: uplift [95% CI]", "truth in CI", title=title, header_style="bold",
    )
    seen = {row.stage: row for row in observed}
    for true in truth:
        if not true.customers:
            continue
        row = seen.get(true.stage)
        estimate = inside = ""
        treated = holdout = ""
        if row is not None:
            treated = f"{row.treated_recovered}/{row.treated}"
            holdout = f"{row.holdout_returned}/{row.holdout}"
            if row.uplift is not None and row.ci_low is not None and row.ci_high is not None:
                estimate = f"{_points(row.uplift)} [{_points(row.ci_low)}, {_points(row.ci_high)}] pts"
                if true.uplift is not None:
                    inside = "yes" if row.ci_low <= true.uplift <= row.ci_high else "no"
        table.add_row(
            true.stage, str(true.customers), f"{_points(true.uplift)} pts", treated, holdout, estimate, inside,
            style="bold" if true.stage == "any stage" else None,
        )
    return table


# -- option parsing (shared with the CLI) ----------------------------------------------------------


def parse_probabilities(text: str, count: int, what: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{what} takes {count} comma-separated probabilities, got {text!r}") from None
    if len(values) != count:
        raise ValueError(f"{what} takes {count} comma-separated probabilities, got {len(values)}")
    return values


def parse_agent_outcomes(text: str) -> dict[TaskOutcome, float]:
    allowed = ", ".join(o.value for o in TaskOutcome)
    weights: dict[TaskOutcome, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            weights[TaskOutcome(name.strip())] = float(value)
        except ValueError:
            raise ValueError(f"--agent-outcomes takes outcome=weight pairs ({allowed}); got {part!r}") from None
        if not sep:
            raise ValueError(f"--agent-outcomes takes outcome=weight pairs ({allowed}); got {part!r}")
    if not weights:
        raise ValueError(f"--agent-outcomes is empty; e.g. verified_on_call=0.5,unreachable=0.5 ({allowed})")
    return weights


def resolve_playbook(playbook: Path | None, data_dir: Path) -> Path:
    """The playbook given, else the one the `recovery up` of the data folder runs, else the demo playbook."""
    if playbook is not None:
        return playbook
    try:
        lines = (data_dir / "recovery.env").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "RECOVERY_PLAYBOOK" and value.strip() and Path(value.strip()).is_file():
            return Path(value.strip())
    return DEMO_PLAYBOOK


def resolve_token(api_token: str | None, data_dir: Path) -> str:
    """The token given, else the one `recovery up` keeps in the data folder."""
    if api_token:
        return api_token
    token_file = data_dir / "api-token"
    try:
        token = token_file.read_text().strip()
    except OSError:
        token = ""
    if not token:
        raise SimulationError(
            f"no API token: pass --api-token, set RECOVERY_API_TOKEN, or point --data-dir at the folder of "
            f"`recovery up` (it keeps the token in {token_file})"
        )
    return token


# -- the HTTP API ---------------------------------------------------------------------------------


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    text = detail if isinstance(detail, str) else json.dumps(detail) if detail else response.text[:300]
    return text or response.reason_phrase


class Api:
    """The simulator's view of the HTTP API: a bounded number of requests in flight, patient retries."""

    def __init__(self, base_url: str, token: str, concurrency: int, retry_for: float = RETRY_FOR_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry_for = retry_for
        self._gate = asyncio.Semaphore(concurrency)
        self.last_ok = time.monotonic()
        self.event_latencies: list[float] = []  # seconds from sending an event to the API accepting it
        self.latency_ewma = 0.0
        self.last_event_at = 0.0
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(30.0, connect=5.0),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(
        self, method: str, path: str, *, body: Any = None, params: Any = None, expect: tuple[int, ...] = (200,),
        retry_for: float | None = None,
    ) -> httpx.Response:
        deadline = time.monotonic() + (self.retry_for if retry_for is None else retry_for)
        pause = 0.2
        while True:
            try:
                async with self._gate:
                    response = await self._http.request(method, path, json=body, params=params)
            except httpx.TransportError as err:
                problem = (
                    f"cannot reach the API at {self.base_url} ({type(err).__name__}: {err or 'no answer'}). "
                    "Is `recovery up --playbook playbooks/demo.toml` running, and is --api-url right?"
                )
            else:
                code = response.status_code
                if code in expect:
                    self.last_ok = time.monotonic()
                    return response
                if code == 401:
                    raise SimulationError(
                        f"the API at {self.base_url} refused the token (401: {_detail(response)}). Pass the token of "
                        "that API with --api-token or RECOVERY_API_TOKEN, or --data-dir of its `recovery up`."
                    )
                detail = _detail(response)
                if code == 503 and "RECOVERY_API_TOKEN" in detail:
                    raise SimulationError(f"the API at {self.base_url} has no token configured: {detail}")
                if code not in (429, 500, 502, 503, 504):
                    raise SimulationError(f"{method} {path}: the API answered {code}: {detail}")
                problem = f"{method} {path}: the API answered {code}: {detail}"
            if time.monotonic() + pause > deadline:
                raise ApiUnavailable(problem)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    async def preflight(self, first_customer: str) -> bool:
        """Reachable, and the token is right: an unknown journey answers 404 only past the auth check.
        True when the cohort's first customer already has a journey (200, or 409: one with no view yet)."""
        response = await self._request(
            "GET", f"/v1/journeys/{quote(first_customer, safe='')}", expect=(404, 200, 409), retry_for=3.0
        )
        return response.status_code != 404

    async def post_events(self, events: list[dict[str, Any]]) -> list[str]:
        """Sends events; the API's note for each customer in the batch ("recorded", "journey already ended; ...")."""
        sent = time.monotonic()
        response = await self._request("POST", "/v1/events", body=events if len(events) > 1 else events[0], expect=(202,))
        self.last_event_at = time.monotonic()
        latency = self.last_event_at - sent
        self.event_latencies.append(latency)
        self.latency_ewma = 0.8 * self.latency_ewma + 0.2 * latency
        try:
            journeys = response.json().get("journeys") or []
        except (ValueError, AttributeError):
            return []
        return [str(j.get("note", "")) for j in journeys if isinstance(j, dict)]

    def is_struggling(self) -> bool:
        """Events took long to be accepted lately: the system is behind, start no one new for now."""
        return self.latency_ewma > ADMIT_LATENCY_S and time.monotonic() - self.last_event_at < 1.0

    async def journey(self, customer_id: str) -> dict[str, Any] | None:
        """The journey view, or None while there is none (unknown, or no view yet).

        Raises `ApiUnavailable` when the API could not read it right now (busy, or the journey's workflow
        task is failing in the worker); the caller looks again later, and only a long outage ends the run.
        """
        try:
            response = await self._request("GET", f"/v1/journeys/{quote(customer_id, safe='')}", expect=(200, 404, 409), retry_for=0)
        except ApiUnavailable:
            self.raise_if_down_for_long()
            raise
        return response.json() if response.status_code == 200 else None

    def raise_if_down_for_long(self) -> None:
        """A busy moment is waited out; no successful answer for a long time ends the run."""
        if time.monotonic() - self.last_ok > self.retry_for * 3:
            raise ApiUnavailable(f"the API at {self.base_url} has not answered a request successfully for {self.retry_for * 3:.0f}s")

    async def open_tasks(self) -> list[dict[str, Any]]:
        try:
            response = await self._request("GET", "/v1/tasks", params={"state": "open"}, retry_for=0)
        except ApiUnavailable:
            self.raise_if_down_for_long()
            return []
        data = response.json()
        return data if isinstance(data, list) else []

    async def claim(self, task_id: str, agent_id: str) -> bool:
        response = await self._request(
            "POST", f"/v1/tasks/{quote(task_id, safe='')}/claim", body={"agent_id": agent_id}, expect=(200, 404, 409)
        )
        return response.status_code == 200

    async def complete(self, task_id: str, agent_id: str, outcome: TaskOutcome, note: str) -> bool:
        response = await self._request(
            "POST", f"/v1/tasks/{quote(task_id, safe='')}/complete",
            body={"agent_id": agent_id, "outcome": outcome.value, "note": note}, expect=(200, 404, 409),
        )
        return response.status_code == 200


# -- the run --------------------------------------------------------------------------------------


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
            self.groups.get(cid) == RecoveryGroup.HOLDOUT and outcome is not None and outcome.kind is OutcomeKind.COMPLETED
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
            "holdout": {"journeys": self.holdout, "completed": self.holdout_completed, "messaged": self.holdout_messaged},
            "true_uplift": [truth.model_dump() for truth in self.true_uplift],
            "observed_uplift": [row.model_dump() for row in self.observed_uplift],
            "event_accept_s": self.event_accept_s,
            "journey_lag_s": self.journey_lag_s,
            "notes": self.notes,
            "customer_ids": [plan.customer_id for plan in self.plans],
        }


@dataclass(frozen=True)
class _Message:
    record: dict[str, Any]


@dataclass(frozen=True)
class _AgentDone:
    stage: Stage
    outcome: TaskOutcome


@dataclass(frozen=True)
class _NaturalReturn:
    """The moment the customer comes back by themselves has come."""


@dataclass(frozen=True)
class _Resume:
    stage: Stage
    delay: float
    check_stall: bool  # True: the customer arrives at `stage` (may stall there); False: they go on from it


class _Run:
    def __init__(self, config: SimulationConfig, plans: list[CustomerPlan], api: Api,
                 progress: Callable[[int, int], None] | None, note: Callable[[str], None] | None) -> None:
        self.config = config
        self.api = api
        self.customers = {plan.customer_id: _Customer(plan, self) for plan in plans}
        self.ended = 0
        self.notes: list[str] = []
        self.agent_outcomes: Counter[str] = Counter()
        self.journey_lags: list[float] = []
        self._progress = progress
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

    def deliver(self, record: dict[str, Any]) -> None:
        customer = self.customers.get(str(record.get("customer_id")))
        if customer is not None:
            customer.phone_received(record)


class _Customer:
    def __init__(self, plan: CustomerPlan, run: _Run) -> None:
        self.plan = plan
        self.run_ = run
        self.api = run.api
        self.inbox: asyncio.Queue[_Message | _AgentDone] = asyncio.Queue()
        self.outcome: JourneyOutcome | None = None
        self.messages_seen: set[str] = set()
        # Known before the run from the id and the playbook's share; the journey view has the last word.
        self.group: str | None = recovery_group(plan.customer_id, run.config.playbook.holdout_share).value
        self._events = 0
        self._step = 0
        self._stamped = 0.0  # monotonic time of the last event's occurred_at
        self._look_at = 0.0  # monotonic time of the next look at the journey
        self._misses = 0  # looks in a row that could not read the journey

    # the phone
    def phone_received(self, record: dict[str, Any]) -> None:
        self.messages_seen.add(str(record.get("id")))
        if self.group == RecoveryGroup.HOLDOUT:
            self.run_.say_once(
                "holdout-messaged",
                f"{self.plan.customer_id} is in the holdout yet received a message ({record.get('kind')}): the "
                "holdout must never be messaged, or the uplift means nothing.",
            )
        self.inbox.put_nowait(_Message(record))

    def _next_delay(self) -> float:
        delay = self.plan.step_delays[self._step % len(self.plan.step_delays)]
        self._step += 1
        return delay

    async def _send(self, event_type: EventType, attributes: dict[str, str]) -> None:
        self._events += 1
        self._stamped = time.monotonic()
        notes = await self.api.post_events([
            {
                "event_id": f"{self.plan.customer_id}-e{self._events:02d}",
                "customer_id": self.plan.customer_id,
                "type": event_type.value,
                "occurred_at": datetime.now(timezone.utc).isoformat(),
                "attributes": attributes,
                "profile": self.plan.profile(),
            }
        ])
        if self._events == 1 and any("already ended" in note or "conflict" in note for note in notes):
            # The first event of a customer refused: a journey of this id ran before this run (its event
            # ids are the seed's, so the intake ledger calls them a conflict).
            raise already_ran(self.run_.config.params.seed)

    async def _pause(self, delay: float, after_last_event: bool) -> None:
        """Waits `delay` from the moment the last event happened (its `occurred_at`, which the journey's
        drop-off clock starts from), or from now. Counting from the last event, not from when the API
        answered, keeps a 0.1-0.5 s step a 0.1-0.5 s step however slow the API is."""
        start = self._stamped if after_last_event else time.monotonic()
        await asyncio.sleep(max(0.0, start + delay - time.monotonic()))

    async def run(self) -> None:
        """The plan's path; `journey_outcome` in `starters/simulate_cohort.py` walks the same steps."""
        await asyncio.sleep(self.plan.start_after)
        while self.api.is_struggling():
            await asyncio.sleep(0.25)
        await self._send(EventType.STARTED, {})
        stage, check_stall, delay, from_last = Stage.STARTED, True, self._next_delay(), True
        arrived = self._stamped  # when the customer got to `stage`: their natural return counts from there
        while stage is not Stage.COMPLETED and self.outcome is None:
            stall = stall_at(stage, self.plan) if check_stall else None
            if stall is not None:
                resume = await self._dropped(stage, stall, arrived)
                if resume is None:
                    break
                stage, delay, check_stall, from_last = resume.stage, resume.delay, resume.check_stall, False
                arrived = time.monotonic()
                if check_stall:
                    continue
            leg, stage = next_leg(stage, self.plan)
            for event_type, attributes in leg:
                await self._pause(delay, after_last_event=from_last)
                await self._send(event_type, attributes)
                delay, from_last = self._next_delay(), True
            arrived = self._stamped
            check_stall = True
        await self._until_ended(first_look=0.3)

    async def _dropped(self, stage: Stage, stall: StallPlan, arrived: float) -> _Resume | None:
        """Waits for their natural return, a message to react to, or an agent's outcome; None: nothing more to send."""
        reaction = stall.reaction
        comes_back_at = arrived + stall.return_after if stall.natural_return else None
        while True:
            item = await self._next_item(comes_back_at)
            if item is None:  # the journey ended
                return None
            if isinstance(item, _NaturalReturn):
                return _Resume(stage, 0.0, check_stall=False)
            if isinstance(item, _AgentDone):
                if item.stage is not stage:
                    continue
                if item.outcome is TaskOutcome.VERIFIED_ON_CALL:
                    return _Resume(STAGE_AFTER_AGENT_VERIFICATION[stage], self._next_delay(), check_stall=True)
                if item.outcome is TaskOutcome.CUSTOMER_WILL_RETRY:
                    return _Resume(stage, stall.reaction_delay, check_stall=False)
                if item.outcome is TaskOutcome.ACTIVATED_IN_STORE:
                    return None
                continue  # unreachable: the journey sends the SMS store offer
            record = item.record
            if record.get("stage") != stage.value:
                continue  # a message for a stage the customer has left
            message = "sms_store_offer" if record.get("kind") == "sms_store_offer" else f"nudge_{record.get('attempt')}"
            if message not in MESSAGES or reaction.message != message:
                continue
            acts_at = time.monotonic() + stall.reaction_delay
            if comes_back_at is not None and comes_back_at < acts_at:  # back by themselves before acting on it
                await asyncio.sleep(max(0.0, comes_back_at - time.monotonic()))
                return _Resume(stage, 0.0, check_stall=False)
            await asyncio.sleep(stall.reaction_delay)
            if reaction.kind is ReactionKind.OPT_OUT:
                await self._send(EventType.OPTED_OUT, {"channel": "all"})
                continue  # keeps waiting: they may come back, an agent may still reach them, or the journey ends
            if message == "sms_store_offer":
                await self._send(EventType.COMPLETED, {"activated": "in_store"})
                return None
            return _Resume(stage, 0.0, check_stall=False)

    async def _next_item(self, comes_back_at: float | None = None) -> _Message | _AgentDone | _NaturalReturn | None:
        """The next thing on the phone or from an agent, or the customer's own return; between them, looks
        whether the journey ended."""
        while True:
            until = self._look_at if comes_back_at is None else min(self._look_at, comes_back_at)
            try:
                return await asyncio.wait_for(self.inbox.get(), timeout=max(0.0, until - time.monotonic()))
            except TimeoutError:
                if comes_back_at is not None and time.monotonic() >= comes_back_at:
                    return _NaturalReturn()
                if await self._look():
                    return None

    async def _until_ended(self, first_look: float) -> None:
        await asyncio.sleep(first_look)
        while not await self._look():
            await asyncio.sleep(max(0.0, self._look_at - time.monotonic()))

    async def _look(self) -> bool:
        """Reads the journey; True once it has ended. Plans the next look: not before the journey's own
        deadline (`recovery_deadline`) unless something happens, so waiting customers cost few queries."""
        if self.outcome is not None:
            return True
        poll = self.run_.config.journey_poll
        try:
            view = await self.api.journey(self.plan.customer_id)
        except ApiUnavailable as err:
            self._misses += 1
            if self._misses >= 3:
                self.run_.say_once(
                    "unreadable",
                    f"journeys cannot be read, still trying: {err}. If it lasts, the worker's log says why "
                    "(a journey whose workflow task keeps failing cannot answer).",
                )
            view = None
        if view is None:  # not there yet, or unreadable now: look again, less often each time
            self._look_at = time.monotonic() + min(poll * 2 ** min(self._misses, 5), max(MAX_LOOK_S, poll))
            return False
        self._misses = 0
        self._check_view(view)
        self._look_at = time.monotonic() + _until_deadline(view, poll)
        if view.get("outcome"):
            self.run_.journey_lags.extend(_lags(view))
            self.outcome = JourneyOutcome.model_validate(view["outcome"])
            self.run_.journey_ended()
            return True
        return False

    def _check_view(self, view: dict[str, Any]) -> None:
        late = max(_lags(view), default=0.0)
        if late > LAG_NOTE_S:
            self.run_.say_once(
                "lag",
                f"the system is behind: a journey saw an event {late:.1f}s after it happened, so journeys count "
                "drop-offs that did not happen. Start customers more slowly (--start-rate) or run fewer.",
            )
        group = view.get("recovery_group")
        if isinstance(group, str) and group != self.group:
            self.run_.say_once(
                "group",
                f"the system put {self.plan.customer_id} in the {group} group, not the "
                f"{self.group} group that the holdout share of --playbook gives: the system runs another playbook.",
            )
            self.group = group
        version = str(view.get("playbook_version", ""))
        expected = self.run_.config.playbook.version
        if version and not version.startswith("demo"):
            self.run_.say_once(
                "playbook",
                f"journeys pin playbook {version}, not the demo playbook: its waits are hours, so the cohort takes "
                "that long to end. Run `recovery up --playbook playbooks/demo.toml` for a run of minutes.",
            )
        elif version and version != expected:
            self.run_.say_once(
                "truth",
                f"journeys pin playbook {version}, but the true uplift is computed for {expected}: pass the "
                "playbook `recovery up` runs with --playbook.",
            )
        now = datetime.now(timezone.utc)
        for message in view.get("messages") or []:
            if message.get("message_id") in self.messages_seen:
                continue
            try:
                sent_at = datetime.fromisoformat(str(message.get("sent_at")))
            except ValueError:
                continue
            if (now - sent_at).total_seconds() > OUTBOX_SILENCE_S:
                outbox = self.run_.config.data_dir / "outbox.jsonl"
                self.run_.say_once(
                    "outbox",
                    f"journeys sent messages that are not in {outbox}: the customers cannot see them. Point --data-dir "
                    "at the folder `recovery up` uses (messages must go to the outbox, not a webhook).",
                )
                return


def _lags(view: dict[str, Any]) -> list[float]:
    """Seconds from each event happening to the journey seeing it (`received_at - occurred_at`)."""
    lags = []
    for event in view.get("events") or []:
        try:
            lag = datetime.fromisoformat(str(event["received_at"])) - datetime.fromisoformat(str(event["occurred_at"]))
        except (KeyError, ValueError, TypeError):
            continue
        lags.append(lag.total_seconds())
    return lags


def _until_deadline(view: dict[str, Any], poll: float) -> float:
    """Seconds until the journey ends by itself if nothing happens, within [poll, MAX_LOOK_S]."""
    try:
        deadline = datetime.fromisoformat(str(view.get("recovery_deadline")))
    except ValueError:
        return poll
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=timezone.utc)
    left = (deadline - datetime.now(timezone.utc)).total_seconds() + 0.5
    return min(max(left, poll), max(MAX_LOOK_S, poll))


class _OutboxWatcher:
    """The customers' phones: new lines of the outbox, handed to the customer they are for."""

    def __init__(self, path: Path, deliver: Callable[[dict[str, Any]], None]) -> None:
        self.path = path
        self.deliver = deliver
        self.offset = path.stat().st_size if path.exists() else 0

    def poll(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size < self.offset:  # replaced: start over
            self.offset = 0
        if size == self.offset:
            return
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        end = data.rfind(b"\n")
        if end < 0:
            return
        self.offset += end + 1
        for line in data[: end + 1].splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                self.deliver(record)

    async def run(self, interval: float = OUTBOX_POLL_S) -> None:
        while True:
            self.poll()
            await asyncio.sleep(interval)


class _AgentDesk:
    """Support agents: claim each open task of the cohort and complete it with its drawn outcome."""

    def __init__(self, run: _Run, spawn: Callable[[Any], asyncio.Task[Any]]) -> None:
        self.run_ = run
        self.spawn = spawn
        self.taken: set[str] = set()

    async def run(self) -> None:
        while True:
            for item in await self.run_.api.open_tasks():
                task = item.get("task") or {}
                task_id = str(task.get("task_id", ""))
                customer = self.run_.customers.get(str(item.get("customer_id")))
                if customer is None or not task_id or task_id in self.taken:
                    continue  # not ours, or already being worked
                self.taken.add(task_id)
                self.spawn(self._work(customer, task_id, str(task.get("stage", ""))))
            await asyncio.sleep(self.run_.config.agent_poll)

    async def _patiently(self, call: Callable[[], Awaitable[bool]]) -> bool:
        """A claim or completion is retried through a busy moment (both are safe to repeat)."""
        while True:
            try:
                return await call()
            except ApiUnavailable:
                self.run_.api.raise_if_down_for_long()
                await asyncio.sleep(1.0)

    async def _work(self, customer: _Customer, task_id: str, stage: str) -> None:
        number = task_id.rpartition(":task-")[2]
        plan = customer.plan.task(int(number) if number.isdigit() else 1)
        agent = f"sim-agent-{customer.plan.index % 5 + 1}"
        await asyncio.sleep(plan.pickup_delay)
        if not await self._patiently(lambda: self.run_.api.claim(task_id, agent)):
            return  # closed meanwhile (the customer moved on, or the journey ended)
        await asyncio.sleep(plan.call_duration)
        if not await self._patiently(lambda: self.run_.api.complete(task_id, agent, plan.outcome, note="recovery simulate")):
            return
        self.run_.agent_outcomes[plan.outcome.value] += 1
        try:
            task_stage = Stage(stage)
        except ValueError:
            return
        customer.inbox.put_nowait(_AgentDone(task_stage, plan.outcome))


async def simulate(
    config: SimulationConfig,
    progress: Callable[[int, int], None] | None = None,
    note: Callable[[str], None] | None = None,
) -> SimulationResult:
    """Runs the cohort through the API until every journey has ended (or `config.timeout`)."""
    params = config.params
    try:
        plans = plan_cohort(params)
    except ValueError as err:
        raise SimulationError(str(err)) from None
    truth = true_uplift(plans, config.playbook)  # from the draws alone, before anything runs
    api = Api(config.api_url, config.api_token, config.concurrency)
    run = _Run(config, plans, api, progress, note)
    started = time.monotonic()
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
        holdout_messaged=sum(c.group == RecoveryGroup.HOLDOUT and bool(c.messages_seen) for c in run.customers.values()),
        true_uplift=truth,
        observed_uplift=observed_uplift(outcomes, groups),
        event_accept_s=_spread(api.event_latencies),
        journey_lag_s=_spread(run.journey_lags),
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


async def _drive(run: _Run, config: SimulationConfig) -> bool:
    """Customers, phones and agents, until every journey ended. Returns True on time-out."""
    try:
        async with asyncio.TaskGroup() as group:
            helpers: list[asyncio.Task[Any]] = []

            def spawn(coro: Any) -> asyncio.Task[Any]:
                task = group.create_task(coro)
                helpers.append(task)
                return task

            spawn(_OutboxWatcher(config.data_dir / "outbox.jsonl", run.deliver).run())
            spawn(_AgentDesk(run, spawn).run())
            customers = [group.create_task(c.run()) for c in run.customers.values()]
            _, pending = await asyncio.wait(customers, timeout=config.timeout)
            for task in (*pending, *helpers):
                task.cancel()
            return bool(pending)
    except* SimulationError as group_error:
        raise group_error.exceptions[0] from None
    except* (ValidationError, httpx.HTTPError) as group_error:
        raise SimulationError(f"unexpected answer from the API: {group_error.exceptions[0]}") from None
