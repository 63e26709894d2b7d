"""(3) Billable actions and history events per journey, counted from the real histories of three journeys
run on the dev server (demo playbook: seconds for hours; a noon time zone; no holdout):

- happy path: started, phone_verified, document_uploaded, document_approved, biometric_passed, completed,
  each sent as the app sends it (one signal-with-start per event);
- full recovery: phone_verified, then 3 nudges and the SMS store offer, then the rest of the funnel;
- rejection with task: phone_verified, document_uploaded, document_rejected (blur), then 3 nudges and
  the video-call task, which an agent claims and completes (two updates), then biometric_passed, completed.

Counted as Temporal Cloud bills them: workflow start (and continue-as-new), signal, timer start, activity
attempt, search-attribute upsert, marker (patch), update; queries too, but this bench sends none.
The baseline is the minimal journey for the same behaviour, as issue 14 worked it out (written down here).
"""

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.stack import Figure, daytime_zone, demo_playbook, say, verdict
from starters.client import RecoveryClient
from workflows.events import OnboardingEvent
from workflows.human_tasks import TaskOutcome
from workflows.journey import workflow_id_for

MINIMAL = {"happy path": 17, "full recovery": 17, "rejection with task": 23}  # issue 14's minimal journeys
TARGET = {"happy path": 18, "full recovery": 20, "rejection with task": 26}
BILLED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "start",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continue-as-new",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal",
    EventType.EVENT_TYPE_TIMER_STARTED: "timer",
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "upsert",
    EventType.EVENT_TYPE_MARKER_RECORDED: "marker",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update",
}


class Journey:
    def __init__(self, recovery: RecoveryClient, data_dir: Path, scenario: str) -> None:
        self.recovery, self.data_dir = recovery, data_dir
        self.customer = f"bench-act-{scenario.replace(' ', '-')}-{uuid.uuid4().hex[:6]}"
        self.zone, self.sent = daytime_zone(), 0

    async def send(self, kind: str, **attributes: str) -> None:
        self.sent += 1
        await self.recovery.record_event(
            OnboardingEvent(
                event_id=f"{self.customer}-{self.sent}",
                customer_id=self.customer,
                type=kind,
                occurred_at=datetime.now(UTC),
                attributes=attributes,
                profile={"timezone": self.zone, "locale": "en"},
            )
        )

    async def line(self, file: str, kind: str, limit: float = 120.0) -> dict[str, Any]:
        """Waits for this customer's first line of `kind` in the outbox or the staff notifications."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            path = self.data_dir / file
            lines = path.read_text().splitlines() if path.exists() else []
            for line in filter(None, lines):
                record: dict[str, Any] = json.loads(line)
                if record["customer_id"] == self.customer and record.get("kind") == kind:
                    return record
            await asyncio.sleep(0.25)
        raise TimeoutError(f"{self.customer}: no {kind} in {file} within {limit:.0f} s")

    async def rest_of_funnel(self, *kinds: str) -> None:
        for kind in kinds:
            await self.send(f"onboarding.{kind}")


async def happy_path(j: Journey) -> None:
    await j.rest_of_funnel(
        "started", "phone_verified", "document_uploaded", "document_approved", "biometric_passed", "completed"
    )


async def full_recovery(j: Journey) -> None:
    await j.send("onboarding.phone_verified")
    await j.line("outbox.jsonl", "sms_store_offer")
    await j.rest_of_funnel("document_uploaded", "document_approved", "biometric_passed", "completed")


async def rejection_with_task(j: Journey) -> None:
    await j.rest_of_funnel("phone_verified", "document_uploaded")
    await j.send("onboarding.document_rejected", reason="blur")
    task_id = (await j.line("staff_notifications.jsonl", "task_opened"))["task_id"]
    await j.recovery.claim_task(task_id, "agent-bench")
    await j.recovery.complete_task(task_id, "agent-bench", TaskOutcome.VERIFIED_ON_CALL)
    await j.rest_of_funnel("biometric_passed", "completed")


SCENARIOS: dict[str, Callable[[Journey], Awaitable[None]]] = {
    "happy path": happy_path,
    "full recovery": full_recovery,
    "rejection with task": rejection_with_task,
}


async def count(client: Client, workflow_id: str) -> tuple[Counter[str], int]:
    """Billable actions by kind and history events, over every run of the journey."""
    actions: Counter[str] = Counter()
    events, run_id = 0, None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        next_run = None
        for event in history.events:
            events += 1
            if event.event_type in BILLED:
                actions[BILLED[event.event_type]] += 1
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                actions["activity"] += event.activity_task_started_event_attributes.attempt
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                next_run = event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        if next_run is None:
            return actions, events
        run_id = next_run


async def measure(
    client: Client, data_dir: Path, task_queue: str, journal: Engine
) -> dict[str, tuple[Counter[str], int]]:
    recovery = RecoveryClient(client, demo_playbook(), task_queue, journal)
    journeys = {name: Journey(recovery, data_dir, name) for name in SCENARIOS}

    async def run(name: str) -> None:
        await SCENARIOS[name](journeys[name])
        await client.get_workflow_handle(workflow_id_for(journeys[name].customer)).result()
        say(f"  actions: {name} journey ended")

    say("  actions: three journeys running (the full recovery and the task take about 30 s of demo time)")
    await asyncio.gather(*(run(name) for name in SCENARIOS))
    return {name: await count(client, workflow_id_for(j.customer)) for name, j in journeys.items()}


def figures(counted: dict[str, tuple[Counter[str], int]]) -> list[Figure]:
    rows = []
    for name, (actions, events) in counted.items():
        total = sum(actions.values())
        detail = ", ".join(f"{n} {kind}" for kind, n in actions.most_common())
        rows.append(
            Figure(
                "actions",
                f"{name} ({events} history events; {detail})",
                str(total),
                str(MINIMAL[name]),
                f"{total / MINIMAL[name]:.2f}x",
                verdict(total <= TARGET[name], f"target <= {TARGET[name]} actions"),
            )
        )
    return rows
