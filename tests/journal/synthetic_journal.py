"""A seeded synthetic journal: journeys, their opt-out and quiet-hour entries, and customer activity,
written straight into the tables, with the awkward values a real journal can hold (several drop-offs,
repeated stages, empty `preceded_by`, unknown interventions, activity exactly at the dormancy edge)."""

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from journal.schema import customer_activity, journal_entries, journeys
from workflows.funnel import Stage

T0 = datetime(2026, 9, 1, 0, 0)  # naive UTC, as stored
STAGES = list(Stage)
PRECEDED = ["nudge_1", "nudge_2", "nudge_3", "sms_store_offer", "human_task", None, "", "webhook_call"]
PLAYBOOKS = ["default@aaa", "default@bbb"]


def _journey(rng: random.Random, n: int) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    customer = f"c-{rng.randrange(max(1, n * 9 // 10))}"  # some customers have two journeys
    journey_id = f"onboarding-{customer}:{n:08x}"
    started = T0 + timedelta(seconds=rng.randrange(120 * 86400), microseconds=rng.randrange(1_000_000))
    drops = rng.choices(STAGES, k=rng.choice([0, 0, 1, 1, 1, 2, 3]))
    outcome = rng.choice(["completed", "completed", "abandoned", "opted_out", None, ""])
    # Durations repeat (whole quarter-hours) so ranks tie, and carry microseconds so they do not always.
    hours = (
        timedelta(minutes=15 * rng.randrange(1, 200))
        if rng.random() < 0.3
        else timedelta(seconds=rng.uniform(60, 60 * 3600))
    )
    ended = started + hours if outcome else None
    row = {
        "journey_id": journey_id,
        "workflow_id": f"onboarding-{customer}",
        "customer_id": customer,
        "playbook_version": rng.choice(PLAYBOOKS),
        "recovery_group": rng.choice(["treatment"] * 4 + ["holdout", "control"]),
        "started_at": started,
        "stage": rng.choice(STAGES).value,
        "status": "active",
        "furthest_stage": rng.choice(STAGES).value,
        "drop_off_stages": ",".join(s.value for s in drops),
        "messages_sent": rng.randrange(6),
        "outcome": outcome,
        "outcome_reason": None,
        "preceded_by": rng.choice(PRECEDED),
        "assisted": False,
        "ended_at": ended,
    }
    entries = []
    for i in range(rng.choice([0, 0, 1, 2])):
        kind, name, reason = rng.choice(
            [
                ("event", "customer.opted_out", "recorded"),
                ("event", "customer.opted_out", "duplicate"),
                ("decision", "deferred", "quiet_hours"),
                ("decision", "deferred", "frequency_cap"),
                ("decision", "sent", "push"),
            ]
        )
        entries.append(
            {
                "entry_id": f"{journey_id}:e{i}",
                "workflow_id": row["workflow_id"],
                "journey_id": journey_id,
                "customer_id": customer,
                "at": started + timedelta(minutes=i),
                "kind": kind,
                "name": name,
                "stage": "phone_verified",
                "reason": reason,
                "detail": "",
                "playbook_version": row["playbook_version"],
            }
        )
    activity = []
    if ended is not None and rng.random() < 0.4:
        for i in range(rng.randrange(1, 3)):
            at = rng.choice(
                [
                    ended,
                    ended + timedelta(days=30),
                    ended + timedelta(days=30, microseconds=1),
                    ended + timedelta(days=rng.uniform(0, 40)),
                    ended - timedelta(days=1),
                ]
            )
            activity.append({"event_id": f"a-{journey_id}-{i}", "customer_id": customer, "occurred_at": at})
    return row, entries, activity


def synthetic_journeys(
    count: int, seed: int
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
    rng = random.Random(seed)
    for n in range(count):
        yield _journey(rng, n)


def write_synthetic_journal(engine: Engine, count: int, seed: int = 14, chunk: int = 5_000) -> None:
    """Writes `count` journeys in chunks, so the writer's own memory stays small too."""
    rows: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    activity: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as connection:
            for table, batch in ((journeys, rows), (journal_entries, entries), (customer_activity, activity)):
                if batch:
                    connection.execute(insert(table), batch)
                batch.clear()

    for row, row_entries, row_activity in synthetic_journeys(count, seed):
        rows.append(row)
        entries.extend(row_entries)
        activity.extend(row_activity)
        if len(rows) >= chunk:
            flush()
    flush()
