"""A customer of the cohort against the running system: their behaviour (`simulator/customer.py`) on
the real clock, their events posted to the HTTP API, their phone fed by the outbox, and their journey
looked at over the API (rarely: not before its own deadline unless something happens)."""

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from journal.store import utc
from simulator.agents import AgentDone
from simulator.api import ApiUnavailable, already_ran
from simulator.cohort import CustomerPlan
from simulator.customer import Customer, Move, event_of, expected_group, message_label
from simulator.early_life_truth import early_life_groups
from simulator.live_early_life import LiveEarlyLife, is_early_life_record
from workflows.funnel import Stage
from workflows.holdout import RecoveryGroup
from workflows.journey_state import JourneyOutcome, OutcomeKind

if TYPE_CHECKING:
    from simulator.run import Run

LAG_NOTE_S = 1.0  # a journey that saw an event this late cannot judge drop-offs of 1 s
MAX_LOOK_S = 20.0  # a waiting customer looks at their journey at least this often
OUTBOX_SILENCE_S = 30.0  # a message in a journey but not in the outbox this long: wrong --data-dir
_DUE = object()  # the customer's own next move is due


class LiveCustomer:
    def __init__(self, plan: CustomerPlan, run: "Run") -> None:
        self.plan = plan
        self.run_ = run
        self.api = run.api
        self.inbox: asyncio.Queue[dict[str, Any] | AgentDone] = asyncio.Queue()  # outbox records, agents' news
        self.outcome: JourneyOutcome | None = None
        self.messages_seen: set[str] = set()
        self.early_messages_seen: set[str] = set()
        self.early_group = early_life_groups([plan], run.config.playbook)[plan.customer_id]
        self.early_life: LiveEarlyLife | None = None
        # Known before the run from the id and the playbook's share; the journey view has the last word.
        self.group: str | None = expected_group(plan, run.config.playbook).value
        self._events = 0
        self._look_at = 0.0  # monotonic time of the next look at the journey
        self._misses = 0  # looks in a row that could not read the journey

    def phone_received(self, record: dict[str, Any]) -> None:
        if is_early_life_record(record):  # after activation: the early-life journey's own holdout
            self.early_messages_seen.add(str(record.get("id")))
            if self.early_group is RecoveryGroup.HOLDOUT:
                self.run_.say_once(
                    "early-holdout-messaged",
                    f"{self.plan.customer_id} is in the early-life holdout yet received an early-life message: "
                    "the holdout must never be messaged, or the re-engagement uplift means nothing.",
                )
            self.inbox.put_nowait(record)
            return
        self.messages_seen.add(str(record.get("id")))
        if self.group == RecoveryGroup.HOLDOUT:
            self.run_.say_once(
                "holdout-messaged",
                f"{self.plan.customer_id} is in the holdout yet received a message ({record.get('kind')}): the "
                "holdout must never be messaged, or the uplift means nothing.",
            )
        self.inbox.put_nowait(record)

    async def run(self) -> None:
        """Onboarding until the journey ended; then, with `--early-life live`, early life once activated."""
        await self._onboarding()
        if (
            self.run_.config.early_life == "live"
            and self.outcome is not None
            and self.outcome.kind is OutcomeKind.COMPLETED
        ):
            self.early_life = LiveEarlyLife(self)
            self.run_.early_life_started()
            await self.early_life.run()

    async def _onboarding(self) -> None:
        """Moves when their behaviour says, hears what reaches them meanwhile, until the journey ended."""
        await asyncio.sleep(self.plan.start_after)
        while self.api.is_struggling():
            await asyncio.sleep(0.25)
        customer = Customer(self.plan, time.monotonic())
        while not customer.done and self.outcome is None:
            move = customer.next_move()
            item = await self._next_item(None if move is None else move.at, look=customer.stalled)
            if item is None:  # the journey ended
                return
            if item is _DUE:
                assert move is not None
                customer.moved(move, await self._send(move))
            elif isinstance(item, AgentDone):
                customer.agent_done(time.monotonic(), item.stage, item.outcome)
            elif isinstance(item, dict):
                try:
                    stage = Stage(str(item.get("stage")))
                except ValueError:
                    continue
                label = message_label(str(item.get("kind")), int(item.get("attempt") or 0))
                customer.heard(time.monotonic(), stage, label)
        await self._until_ended(first_look=0.3)

    async def _send(self, move: Move) -> float:
        """Posts the event; returns when it happened (its `occurred_at`, which the journey's drop-off
        clock starts from), so a 0.1-0.5 s step stays one however slow the API answers."""
        self._events += 1
        stamp = time.monotonic()
        event = event_of(self.plan, self._events, move, datetime.now(UTC))
        notes = await self.api.post_events([event.model_dump(mode="json", exclude_none=True)])
        if self._events == 1 and any("already ended" in note or "conflict" in note for note in notes):
            # The first event of a customer refused: a journey of this id ran before this run (its event
            # ids are the seed's, so the intake ledger calls them a conflict).
            raise already_ran(self.run_.config.params.seed)
        return stamp

    async def _next_item(self, due: float | None, look: bool) -> object:
        """What comes first: an outbox record or an agent's news, the customer's own move (`_DUE`), or
        (while they wait, `look`) the end of their journey (None), seen between them."""
        while True:
            until = min(
                t for t in (due, self._look_at if look else None, time.monotonic() + MAX_LOOK_S) if t is not None
            )
            try:
                return await asyncio.wait_for(self.inbox.get(), timeout=max(0.0, until - time.monotonic()))
            except TimeoutError:
                if due is not None and time.monotonic() >= due:
                    return _DUE
                if look and time.monotonic() >= self._look_at and await self._look():
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
        now = datetime.now(UTC)
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
        deadline = utc(datetime.fromisoformat(str(view.get("recovery_deadline"))))
    except ValueError:
        return poll
    left = (deadline - datetime.now(UTC)).total_seconds() + 0.5
    return min(max(left, poll), max(MAX_LOOK_S, poll))
