"""`recovery simulate`: a synthetic cohort driven through the running system over the HTTP API.

It plays both sides a real deployment has around the journeys:

- the customers, as the app backend would report them: each sends their funnel events to
  `POST /v1/events` a short moment apart, stops where their plan says, and watches their phone
  (the outbox, `<data_dir>/outbox.jsonl`) for messages, reacting to the one their plan says they
  react to (see `starters/simulate_cohort.py` for the cohort model and its seeded draws);
- the support agents: they poll `GET /v1/tasks?state=open`, claim each task of the cohort and
  complete it with the outcome drawn for it.

It ends when every journey has an outcome (`GET /v1/journeys/{id}`), and sums the outcomes up with
`summarize`, a pure function of the list of outcomes. Only the cohort's own customers and tasks are
touched: other journeys on the same system are left alone.
"""

import asyncio
import json
import time
import uuid
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

from starters.simulate_cohort import (
    MESSAGES,
    NATURAL_RETURN_DELAY_S,
    STALL_STAGES,
    CohortParams,
    CustomerPlan,
    ReactionKind,
    StallPlan,
    next_leg,
    plan_cohort,
    stall_at,
)
from workflows.funnel import STAGE_AFTER_AGENT_VERIFICATION, EventType, Stage
from workflows.human_tasks import TaskOutcome
from workflows.journey_state import JourneyOutcome, OutcomeKind

RECOVERED_AFTER: tuple[str, ...] = ("nudge_1", "nudge_2", "nudge_3", "sms_store_offer", "human_task")
RETRY_FOR_S = 20.0  # how long a request is retried on 5xx / connection errors before the run gives up
JOURNEY_POLL_S = 2.0  # how often a customer with nothing to do asks whether their journey has ended
AGENT_POLL_S = 0.5  # how often the agents look at the task inbox
OUTBOX_POLL_S = 0.15  # how often the phones look at the outbox
ADMIT_LATENCY_S = 0.25  # events slower than this to be accepted: new customers wait (back-pressure)
LAG_NOTE_S = 1.0  # a journey that saw an event this late cannot judge drop-offs of 1 s
MAX_LOOK_S = 20.0  # a waiting customer looks at their journey at least this often
OUTBOX_SILENCE_S = 5.0  # a message in a journey but not in the outbox this long: wrong --data-dir


class SimulationError(RuntimeError):
    """Something the operator must fix (API down, wrong token, ...); the message says what."""


class ApiUnavailable(SimulationError):
    """The API did not answer, or answered 5xx/429, for longer than the simulator waits."""


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

    async def preflight(self, probe_customer: str) -> None:
        """Reachable, and the token is right: an unknown journey answers 404 only past the auth check."""
        await self._request("GET", f"/v1/journeys/{quote(probe_customer, safe='')}", expect=(404, 200), retry_for=3.0)

    async def post_events(self, events: list[dict[str, Any]]) -> None:
        sent = time.monotonic()
        await self._request("POST", "/v1/events", body=events if len(events) > 1 else events[0], expect=(202,))
        self.last_event_at = time.monotonic()
        latency = self.last_event_at - sent
        self.event_latencies.append(latency)
        self.latency_ewma = 0.8 * self.latency_ewma + 0.2 * latency

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


@dataclass(frozen=True)
class SimulationConfig:
    params: CohortParams
    api_url: str = "http://127.0.0.1:8000"
    api_token: str = ""
    data_dir: Path = Path("var")
    concurrency: int = 50
    timeout: float = 900.0
    run_id: str | None = None
    journey_poll: float = JOURNEY_POLL_S
    agent_poll: float = AGENT_POLL_S


@dataclass
class SimulationResult:
    run_id: str
    seed: int
    plans: list[CustomerPlan]
    outcomes: dict[str, JourneyOutcome | None]
    summary: Summary
    agent_outcomes: dict[str, int]
    elapsed_s: float
    timed_out: bool = False
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)
    holdout: int = 0  # journeys the system kept as its control group (watched, never messaged)
    holdout_completed: int = 0
    event_accept_s: dict[str, float] = field(default_factory=dict)  # sending an event -> API accepted it
    journey_lag_s: dict[str, float] = field(default_factory=dict)  # an event happening -> its journey seeing it

    @property
    def needing_help(self) -> int:
        return sum(plan.needs_help for plan in self.plans)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "seed": self.seed,
            "customers": len(self.plans),
            "would_not_activate_without_help": self.needing_help,
            "elapsed_s": round(self.elapsed_s, 1),
            "timed_out": self.timed_out,
            "interrupted": self.interrupted,
            "summary": self.summary.model_dump(),
            "agent_outcomes": self.agent_outcomes,
            "holdout": {"journeys": self.holdout, "completed": self.holdout_completed},
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
class _Resume:
    stage: Stage
    delay: float
    check_stall: bool  # True: the customer arrives at `stage` (may stall there); False: they retry it


class _Run:
    def __init__(self, config: SimulationConfig, plans: list[CustomerPlan], api: Api, run_id: str,
                 progress: Callable[[int, int], None] | None, note: Callable[[str], None] | None) -> None:
        self.config = config
        self.api = api
        self.run_id = run_id
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
        self.group: str | None = None  # treatment / holdout, when the journey view says
        self._events = 0
        self._step = 0
        self._stamped = 0.0  # monotonic time of the last event's occurred_at
        self._look_at = 0.0  # monotonic time of the next look at the journey
        self._misses = 0  # looks in a row that could not read the journey

    # the phone
    def phone_received(self, record: dict[str, Any]) -> None:
        self.messages_seen.add(str(record.get("id")))
        self.inbox.put_nowait(_Message(record))

    def _next_delay(self) -> float:
        delay = self.plan.step_delays[self._step % len(self.plan.step_delays)]
        self._step += 1
        return delay

    async def _send(self, event_type: EventType, attributes: dict[str, str]) -> None:
        self._events += 1
        self._stamped = time.monotonic()
        await self.api.post_events([
            {
                "event_id": f"{self.plan.customer_id}-e{self._events:02d}",
                "customer_id": self.plan.customer_id,
                "type": event_type.value,
                "occurred_at": datetime.now(timezone.utc).isoformat(),
                "attributes": attributes,
                "profile": self.plan.profile(),
            }
        ])

    async def _pause(self, delay: float, after_last_event: bool) -> None:
        """Waits `delay` from the moment the last event happened (its `occurred_at`, which the journey's
        drop-off clock starts from), or from now. Counting from the last event, not from when the API
        answered, keeps a 0.1-0.5 s step a 0.1-0.5 s step however slow the API is."""
        start = self._stamped if after_last_event else time.monotonic()
        await asyncio.sleep(max(0.0, start + delay - time.monotonic()))

    async def run(self) -> None:
        await asyncio.sleep(self.plan.start_after)
        while self.api.is_struggling():
            await asyncio.sleep(0.25)
        await self._send(EventType.STARTED, {})
        stage, check_stall, delay, from_last = Stage.STARTED, True, self._next_delay(), True
        while stage is not Stage.COMPLETED and self.outcome is None:
            stall = stall_at(stage, self.plan) if check_stall else None
            if stall is not None and stall.natural_return:
                delay = NATURAL_RETURN_DELAY_S
            elif stall is not None:
                resume = await self._dropped(stage, stall)
                if resume is None:
                    break
                stage, delay, check_stall, from_last = resume.stage, resume.delay, resume.check_stall, False
                if check_stall:
                    continue
            leg, stage = next_leg(stage, self.plan)
            for event_type, attributes in leg:
                await self._pause(delay, after_last_event=from_last)
                await self._send(event_type, attributes)
                delay, from_last = self._next_delay(), True
            check_stall = True
        await self._until_ended(first_look=0.3)

    async def _dropped(self, stage: Stage, stall: StallPlan) -> _Resume | None:
        """Waits for a message to react to or an agent's outcome; None: nothing more to send."""
        reaction = stall.reaction
        while True:
            item = await self._next_item()
            if item is None:  # the journey ended
                return None
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
            await asyncio.sleep(stall.reaction_delay)
            if reaction.kind is ReactionKind.OPT_OUT:
                await self._send(EventType.OPTED_OUT, {"channel": "all"})
                continue  # keeps waiting: an agent may still reach them, or the journey ends
            if message == "sms_store_offer":
                await self._send(EventType.COMPLETED, {"activated": "in_store"})
                return None
            return _Resume(stage, 0.0, check_stall=False)

    async def _next_item(self) -> _Message | _AgentDone | None:
        """The next thing on the phone or from an agent; between them, looks whether the journey ended."""
        while True:
            try:
                return await asyncio.wait_for(self.inbox.get(), timeout=max(0.0, self._look_at - time.monotonic()))
            except TimeoutError:
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
            group = view.get("recovery_group")
            self.group = group if isinstance(group, str) else None
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
        version = str(view.get("playbook_version", ""))
        if version and not version.startswith("demo"):
            self.run_.say_once(
                "playbook",
                f"journeys pin playbook {version}, not the demo playbook: its waits are hours, so the cohort takes "
                "that long to end. Run `recovery up --playbook playbooks/demo.toml` for a run of minutes.",
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
    run_id = config.run_id or uuid.uuid4().hex[:6]
    try:
        plans = plan_cohort(params, run_id)
    except ValueError as err:
        raise SimulationError(str(err)) from None
    api = Api(config.api_url, config.api_token, config.concurrency)
    run = _Run(config, plans, api, run_id, progress, note)
    started = time.monotonic()
    timed_out = interrupted = False
    try:
        await api.preflight(f"sim-{params.seed}-{run_id}-preflight")
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
    return SimulationResult(
        run_id=run_id,
        seed=params.seed,
        plans=plans,
        outcomes=outcomes,
        summary=summarize(list(outcomes.values())),
        agent_outcomes=dict(run.agent_outcomes),
        elapsed_s=time.monotonic() - started,
        timed_out=timed_out,
        interrupted=interrupted,
        notes=run.notes,
        holdout=sum(c.group == "holdout" for c in run.customers.values()),
        holdout_completed=sum(
            c.group == "holdout" and c.outcome is not None and c.outcome.kind is OutcomeKind.COMPLETED for c in run.customers.values()
        ),
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
