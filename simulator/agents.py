"""The other side of the customers: their phones (the outbox, read as it grows) and the support agents
(who claim each open task of the cohort and complete it with the outcome drawn for it)."""

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.api import Api, ApiUnavailable
from simulator.cohort import CustomerPlan
from workflows.early_life_input import is_early_life_task
from workflows.funnel import Stage
from workflows.human_tasks import TaskOutcome

OUTBOX_POLL_S = 0.15  # how often the phones look at the outbox


@dataclass(frozen=True)
class AgentDone:
    """What the agents tell the customer: their task at `stage` was completed with `outcome`."""

    stage: Stage
    outcome: TaskOutcome


class OutboxWatcher:
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


class AgentDesk:
    """Support agents: claim each open task of the cohort and complete it with its drawn outcome."""

    def __init__(
        self,
        api: Api,
        plans: dict[str, CustomerPlan],
        tell: Callable[[str, AgentDone], None],
        spawn: Callable[[Any], asyncio.Task[Any]],
        poll: float,
        outcomes: Counter[str],
        early_life: bool = False,
    ) -> None:
        self.api = api
        self.plans = plans  # the cohort's customers: other journeys' tasks are left alone
        self.tell = tell  # hands the customer what the agent did
        self.spawn = spawn
        self.poll = poll
        self.taken: set[str] = set()
        self.outcomes = outcomes  # tasks completed, per outcome
        self.early_life = early_life  # work early-life retention calls too (only when early life is lived)

    async def run(self) -> None:
        while True:
            for item in await self.api.open_tasks():
                task = item.get("task") or {}
                task_id = str(task.get("task_id", ""))
                plan = self.plans.get(str(item.get("customer_id")))
                if plan is None or not task_id or task_id in self.taken:
                    continue  # not ours, or already being worked
                if is_early_life_task(task_id) and not self.early_life:
                    continue  # early life is modelled, not lived: its calls are left to real agents
                self.taken.add(task_id)
                self.spawn(self._work(plan, task_id, str(task.get("stage", ""))))
            await asyncio.sleep(self.poll)

    async def _patiently(self, call: Callable[[], Awaitable[bool]]) -> bool:
        """A claim or completion is retried through a busy moment (both are safe to repeat)."""
        while True:
            try:
                return await call()
            except ApiUnavailable:
                self.api.raise_if_down_for_long()
                await asyncio.sleep(1.0)

    async def _work(self, customer: CustomerPlan, task_id: str, stage: str) -> None:
        number = task_id.rpartition(":task-")[2]
        plan = customer.task(int(number) if number.isdigit() else 1)
        agent = f"sim-agent-{customer.index % 5 + 1}"
        await asyncio.sleep(plan.pickup_delay)
        if not await self._patiently(lambda: self.api.claim(task_id, agent)):
            return  # closed meanwhile (the customer moved on, or the journey ended)
        await asyncio.sleep(plan.call_duration)
        if not await self._patiently(lambda: self.api.complete(task_id, agent, plan.outcome, note="recovery simulate")):
            return
        self.outcomes[plan.outcome.value] += 1
        try:
            task_stage = Stage(stage)
        except ValueError:
            return
        self.tell(customer.customer_id, AgentDone(task_stage, plan.outcome))
