"""The `recovery` CLI as an operator uses it: a real process against the real dev server and worker."""

import asyncio
import json
import os
import sqlite3
import sys
from pathlib import Path

from journal.services import is_healthy
from tests.harness import Bench, eventually
from tests.payload_keys import TEST_PAYLOAD_KEYS
from workflows.holdout import recovery_group
from workflows.playbook import load_playbook

RECOVERY = str(Path(sys.executable).parent / "recovery")


async def recovery(bench: Bench, *args: str, **env: str) -> tuple[int, str, str]:
    target = bench.env.client.service_client.config.target_host
    process = await asyncio.create_subprocess_exec(
        RECOVERY,
        *args,
        env={
            "RECOVERY_TEMPORAL_ADDRESS": target,
            "RECOVERY_TASK_QUEUE": bench.settings.task_queue,
            "RECOVERY_DATA_DIR": str(bench.settings.data_dir),
            "COLUMNS": "200",
            "PATH": "/usr/bin:/bin",
            "RECOVERY_ENV_FILE": os.devnull,
            "RECOVERY_PAYLOAD_KEYS": TEST_PAYLOAD_KEYS,
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_event_then_journey_shows_stage_and_timeline(live_bench: Bench) -> None:
    c = live_bench.customer_id
    live_bench.customers.add(c)
    code, out, err = await recovery(
        live_bench,
        "event",
        "--customer",
        c,
        "--type",
        "onboarding.document_rejected",
        "--attr",
        "reason=glare",
        "--timezone",
        "Asia/Tashkent",
    )
    assert code == 0, err
    assert f"onboarding-{c}: recorded" in out
    code, out, err = await recovery(live_bench, "journey", c)
    assert code == 0, err
    assert "document_rejected" in out and "active" in out and "event onboarding.document_rejected" in out
    group = recovery_group(c, load_playbook().holdout_share)  # the CLI journeys run the default playbook
    assert group.value in out  # the group: a holdout customer is watched, never messaged
    code, out, _ = await recovery(live_bench, "journey", c, "--json")
    assert json.loads(out)["stage"] == "document_rejected"


async def test_recording_an_event_migrates_nothing(live_bench: Bench, tmp_path: Path) -> None:
    """The journal's schema is `recovery migrate`'s (or `recovery up`'s, or a worker's at start): an event
    sent to a journal without it is refused with what to run, and leaves the database as it was."""
    fresh = tmp_path / "fresh.db"
    code, _, err = await recovery(
        live_bench,
        "event",
        "--customer",
        live_bench.customer_id,
        "--type",
        "onboarding.started",
        RECOVERY_JOURNAL_URL=f"sqlite:///{fresh}",
    )
    assert code == 1 and "`recovery migrate`" in err and "Traceback" not in err
    assert sqlite3.connect(fresh).execute("SELECT name FROM sqlite_master").fetchall() == []


async def test_invalid_events_are_refused_with_the_field_and_nothing_is_sent(live_bench: Bench, tmp_path: Path) -> None:
    c = live_bench.customer_id
    code, _, err = await recovery(live_bench, "event", "--customer", c, "--type", "onboarding.document_rejected")
    assert code == 1 and "attributes.reason" in err
    batch = tmp_path / "events.json"
    batch.write_text(
        json.dumps(
            [
                {
                    "event_id": "ok-1",
                    "customer_id": c,
                    "type": "onboarding.started",
                    "occurred_at": "2026-11-22T10:00:00Z",
                },
                {
                    "event_id": "bad-2",
                    "customer_id": c,
                    "type": "onboarding.teleported",
                    "occurred_at": "2026-11-22T10:01:00Z",
                },
            ]
        )
    )
    code, _, err = await recovery(live_bench, "event", "--file", str(batch))
    assert code == 1 and "event 1" in err and "type" in err
    code, _, err = await recovery(live_bench, "journey", c)
    assert code == 1 and "no journey" in err


async def test_tasks_list_claim_complete(live_bench: Bench) -> None:
    c = live_bench.customer_id
    await live_bench.send("onboarding.phone_verified")
    await live_bench.send("onboarding.help_requested")
    task_id = f"{c}:task-1"

    async def listed() -> bool:
        return task_id in (await recovery(live_bench, "tasks", "list"))[1]

    await eventually(listed)
    code, out, _ = await recovery(live_bench, "tasks", "list", COLUMNS="80")
    assert code == 0 and task_id in out  # whole at 80 columns: what an agent copies into `claim`
    code, out, err = await recovery(live_bench, "tasks", "claim", task_id, "--agent", "ana")
    assert (code, out.strip()) == (0, f"{task_id}: claimed"), err
    code, _, err = await recovery(
        live_bench, "tasks", "complete", task_id, "--agent", "bob", "--outcome", "unreachable"
    )
    assert code == 1 and "claimed by another agent" in err
    code, out, err = await recovery(
        live_bench, "tasks", "complete", task_id, "--agent", "ana", "--outcome", "activated_in_store"
    )
    assert code == 0 and "completed (activated_in_store)" in out, err
    view = await live_bench.view()
    assert (view.status, view.outcome.assisted if view.outcome else None) == ("completed", True)


async def test_service_status_down_holds_the_nudge_and_up_sends_it_at_once(outage_bench: Bench) -> None:
    """The same path as PUT /v1/services: the journal holds the health for the worker, and `up` wakes
    the journey waiting for it (its own recheck is an hour away)."""
    journal = outage_bench.client.journal
    assert journal is not None
    code, out, err = await recovery(outage_bench, "service-status", "ocr", "down")
    assert (code, out.strip()) == (0, "ocr: down"), err
    assert not is_healthy(journal, "ocr")
    await outage_bench.send("onboarding.phone_verified")
    await outage_bench.send("onboarding.error", error="maintenance", service="ocr")

    async def held() -> bool:
        return ("deferred", "service_unhealthy") in [
            (d.action, d.reason) for d in (await outage_bench.view()).suppressed
        ]

    await eventually(held)
    code, out, err = await recovery(outage_bench, "service-status", "ocr", "up")
    assert (code, out.strip()) == (0, "ocr: up (1 waiting journey woken)"), err
    assert is_healthy(journal, "ocr")

    async def sent() -> bool:
        return (await outage_bench.view()).nudges_sent == 1

    await eventually(sent, timeout=30)  # soon, not at the hour's recheck (the 5 s promise: test_api_services.py)
    assert "maintenance" in outage_bench.outbox()[0]["text"]


async def test_service_status_refuses_what_is_not_up_or_down_or_not_a_service(live_bench: Bench) -> None:
    for args, words in (
        (("ocr", "sideways"), "'up' or 'down'"),
        (("o cr", "down"), "service name"),
    ):
        code, _, err = await recovery(live_bench, "service-status", *args)
        assert code == 1 and words in err and "Traceback" not in err
