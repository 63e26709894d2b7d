"""A cohort customer's early life against the running system (`--early-life live`): once their onboarding
journey completed, they use the app as `simulator/early_life_customer.py` says, on the real clock,
posting `customer.active` events (with a `kind`) to `POST /v1/events`; their phone (the outbox) brings
the early-life nudges and the SMS store offer, the agent desk tells them about their retention call;
their early-life journey (`GET /v1/early-life/{id}`) is looked at once its period is over, until it
has ended."""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from journal.store import utc
from simulator.agents import AgentDone
from simulator.api import ApiUnavailable
from simulator.early_life_customer import EarlyLifeCustomer, activity_event, call_reached, early_message_label
from workflows.funnel import Stage

if TYPE_CHECKING:
    from simulator.live_customer import LiveCustomer

EARLY_KIND = "early_life_"  # the outbox's kinds of early-life messages: early_life_nudge, early_life_sms_store_offer
START_WAIT_S = 60.0  # an early-life journey not there this long after activation: the system does not start them


def is_early_life_record(record: dict[str, Any]) -> bool:
    return str(record.get("kind", "")).startswith(EARLY_KIND)


class LiveEarlyLife:
    """The customer after activation, until their early-life journey has ended (its `outcome`)."""

    def __init__(self, live: "LiveCustomer") -> None:
        self.live = live
        self.run_ = live.run_
        self.api = live.api
        self.view: dict[str, Any] | None = None
        self.events = 0

    async def run(self) -> None:
        view = await self._first_view()
        if view is None:
            return
        activated_at = utc(datetime.fromisoformat(str(view["activated_at"])))
        ends_at = utc(datetime.fromisoformat(str(view["period_ends_at"])))
        now = time.monotonic()
        activated = now - (datetime.now(UTC) - activated_at).total_seconds()
        end = now + (ends_at - datetime.now(UTC)).total_seconds()
        customer = EarlyLifeCustomer(self.live.plan.early_life, self.run_.config.playbook, activated)
        look_at = end + 1.0
        while True:
            move = customer.next_move()
            due = move[0] if move is not None and move[0] < end else None
            until = min(t for t in (due, look_at) if t is not None)
            try:
                item = await asyncio.wait_for(self.live.inbox.get(), timeout=max(0.0, until - time.monotonic()))
            except TimeoutError:
                if due is not None and move is not None and time.monotonic() >= due:
                    await self._send(move[1])
                    customer.moved(time.monotonic())
                elif time.monotonic() >= look_at:
                    if await self._ended():
                        return
                    look_at = time.monotonic() + self.run_.config.journey_poll
                continue
            if isinstance(item, dict) and is_early_life_record(item):
                customer.heard(
                    time.monotonic(), early_message_label(str(item.get("kind")), int(item.get("attempt") or 0))
                )
            elif isinstance(item, AgentDone) and item.stage is Stage.COMPLETED and call_reached(item.outcome):
                customer.heard(time.monotonic(), "escalation")

    async def _first_view(self) -> dict[str, Any] | None:
        """The journey once the onboarding journey started it; None (and a note) if it never comes."""
        give_up = time.monotonic() + START_WAIT_S
        while time.monotonic() < give_up:
            try:
                view = await self.api.early_life(self.live.plan.customer_id)
            except ApiUnavailable:
                view = None
            if view is not None:
                self.view = view
                return view
            await asyncio.sleep(self.run_.config.journey_poll)
        self.run_.say_once(
            "early-life-missing",
            f"{self.live.plan.customer_id} activated but has no early-life journey after {START_WAIT_S:.0f}s: "
            "the system runs a version without the early-life journey, or it failed to start (the worker's log).",
        )
        self.run_.early_life_ended()
        return None

    async def _send(self, kind: str) -> None:
        self.events += 1
        event = activity_event(self.live.plan, self.events, kind, datetime.now(UTC))
        await self.api.post_events([event.model_dump(mode="json", exclude_none=True)])

    async def _ended(self) -> bool:
        try:
            view = await self.api.early_life(self.live.plan.customer_id)
        except ApiUnavailable:
            return False
        if view is None or not view.get("outcome"):
            return False
        self.view = view
        self.run_.early_life_ended()
        return True


def early_life_since(started_at: datetime) -> str:
    """The report's `since` for a run's early-life journeys: every one of them activated after the run began."""
    return (started_at - timedelta(seconds=1)).isoformat()
