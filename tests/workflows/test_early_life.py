"""The early-life journey on the time-skipping server: dormancy nudges then the retention call, activity
resetting the clock, the holdout messaged never, and the period closing as retained or dormant in the journal."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from journal.schema import early_life_journeys
from journal.store import open_journal
from tests.harness import Bench, bench_settings, eventually, running_bench
from workflows.early_life_input import early_life_workflow_id
from workflows.early_life_state import EarlyLifeOutcome, early_life_group
from workflows.holdout import RecoveryGroup
from workflows.human_tasks import TaskOutcome
from workflows.playbook import Playbook


async def activate(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.completed")
    assert (await bench.outcome()).kind.value == "completed"


def early_messages(bench: Bench) -> list[dict[str, Any]]:
    return [m for m in bench.outbox() if str(m.get("kind", "")).startswith("early_life_")]


async def period_outcome(bench: Bench) -> EarlyLifeOutcome:
    handle = bench.env.client.get_workflow_handle(
        early_life_workflow_id(bench.customer_id), result_type=EarlyLifeOutcome
    )
    outcome: EarlyLifeOutcome = await handle.result()
    return outcome


def journal_row(bench: Bench) -> dict[str, Any]:
    engine = open_journal(bench.settings.journal_database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(early_life_journeys).where(early_life_journeys.c.customer_id == bench.customer_id)
        ).all()
    assert len(rows) == 1
    return dict(rows[0]._mapping)


async def test_a_quiet_customer_gets_the_dormancy_nudges_then_a_retention_call(bench: Bench) -> None:
    await activate(bench)
    view = await bench.early_life()
    assert (view.status, view.group, view.nudges) == ("watching", "treatment", 0)

    await bench.skip(days=6, hours=23)
    assert early_messages(bench) == [], "quiet for less than dormant_after: nothing yet"
    await bench.skip(hours=2)
    first = early_messages(bench)
    assert [(m["channel"], m["attempt"]) for m in first] == [("push", 1)]
    assert first[0]["workflow_id"] == early_life_workflow_id(bench.customer_id)
    assert first[0]["message_id"].startswith(f"{early_life_workflow_id(bench.customer_id)}:")
    assert "miss you" in first[0]["text"]
    assert (await bench.early_life()).status == "nudging"

    await bench.skip(days=2)
    assert [m["attempt"] for m in early_messages(bench)] == [1, 2]
    await bench.skip(days=2)
    view = await bench.early_life()
    assert view.status == "awaiting_agent" and view.open_task is not None
    task = view.open_task
    assert (task.kind.value, task.reason.value) == ("retention_call", "dormancy")
    assert task.task_id == f"{bench.customer_id}:early-task-1"
    assert [n["task_id"] for n in bench.staff_notifications()] == [task.task_id]

    inbox = await bench.client.list_tasks()
    listed = [t for t in inbox if t.task.task_id == task.task_id]
    assert listed and listed[0].workflow_id == early_life_workflow_id(bench.customer_id)
    await bench.client.claim_task(task.task_id, "agent-ana")
    done = await bench.client.complete_task(task.task_id, "agent-ana", TaskOutcome.UNREACHABLE, "no answer")
    assert done.state.value == "completed"

    await bench.skip(days=20)
    assert (await period_outcome(bench)).kind.value == "dormant"
    row = journal_row(bench)
    assert (row["outcome"], row["recovery_group"], row["nudges"], row["re_engaged_at"]) == (
        "dormant",
        "treatment",
        2,
        None,
    )
    assert row["dormant_at"] is not None and row["ended_at"] is not None
    assert len(early_messages(bench)) == 2, "one dormancy, its two nudges: nothing after the call"


async def test_activity_resets_the_clock_and_a_nudged_customer_who_comes_back_is_retained(bench: Bench) -> None:
    await activate(bench)
    await bench.skip(days=5)
    receipt = await bench.send("customer.active", kind="transaction")
    assert receipt.accepted and "early-life" in receipt.note
    assert receipt.workflow_id == f"early-life-{bench.customer_id}", "the receipt names the journey that took it"
    await bench.skip(days=5)
    assert early_messages(bench) == [], "active 5 days ago: not dormant"
    view = await bench.early_life()
    assert (view.last_activity_kind, view.status) == ("transaction", "watching")

    await bench.skip(days=2, hours=1)
    assert [m["attempt"] for m in early_messages(bench)] == [1]
    await bench.skip(hours=2)
    await bench.send("customer.active", kind="top_up")
    view = await bench.early_life()
    assert view.re_engaged_at is not None and view.status == "watching" and view.nudges == 1

    for _ in range(3):  # active every five days until the period ends
        await bench.skip(days=5)
        await bench.send("customer.active", kind="login")
    await bench.skip(days=5)
    assert (await period_outcome(bench)).kind.value == "retained"
    row = journal_row(bench)
    assert (row["outcome"], row["nudges"]) == ("retained", 1)
    assert row["re_engaged_at"] is not None and row["dormant_at"] is not None
    assert row["last_activity_at"] is not None
    assert [m["attempt"] for m in early_messages(bench)] == [1]


async def test_activity_with_no_early_life_journey_is_still_accepted(bench: Bench) -> None:
    receipt = await bench.send("customer.active", kind="login")
    assert receipt.accepted and receipt.note == "activity recorded"


@pytest.fixture
async def early_holdout_bench(
    time_skipping_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path
) -> AsyncIterator[Bench]:
    early = default_playbook.early_life.model_copy(update={"holdout_share": 0.5})
    playbook = default_playbook.model_copy(update={"early_life": early})
    async with running_bench(time_skipping_env, playbook, bench_settings(tmp_path)) as bench:
        bench.customer_id = next(
            c
            for c in (f"eh-{uuid.uuid4().hex[:8]}" for _ in range(100))
            if early_life_group(c, 0.5) is RecoveryGroup.HOLDOUT
        )
        yield bench


async def test_a_holdout_customer_gets_no_message_and_no_call(early_holdout_bench: Bench) -> None:
    bench = early_holdout_bench
    await activate(bench)
    assert (await bench.view()).recovery_group == "treatment", "onboarding's holdout is another draw (share 0 here)"
    await bench.skip(days=12)
    view = await bench.early_life()
    assert view.group == "holdout" and view.nudges == 2 and view.open_task is None
    assert [d.reason for d in view.decisions if d.action == "held_back"] == ["nudge", "nudge", "human_task"]
    assert early_messages(bench) == [] and bench.staff_notifications() == []
    assert [t for t in await bench.client.list_tasks() if t.customer_id == bench.customer_id] == []
    await bench.skip(days=20)
    assert (await period_outcome(bench)).kind.value == "dormant"
    assert (journal_row(bench)["recovery_group"], journal_row(bench)["outcome"]) == ("holdout", "dormant")


async def test_an_agents_activation_in_store_starts_early_life_and_opt_outs_reach_it(bench: Bench) -> None:
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.help_requested")
    await bench.skip(minutes=5)
    task = (await bench.view()).open_task
    assert task is not None
    await bench.client.claim_task(task.task_id, "agent-ana")
    await bench.client.complete_task(task.task_id, "agent-ana", TaskOutcome.ACTIVATED_IN_STORE)
    assert (await bench.outcome()).kind.value == "completed"
    receipt = await bench.send("customer.opted_out", channel="all")
    assert receipt.accepted and "early-life" in receipt.note
    view = await bench.early_life()
    assert view.status == "watching" and view.opted_out == ["push", "sms"]

    await bench.skip(days=7, hours=1)
    view = await bench.early_life()
    assert view.status == "opted_out" and view.nudges == 0
    assert [d.reason for d in view.decisions if d.action == "suppressed"] == ["opted_out"]
    assert early_messages(bench) == []
    await bench.send("customer.opted_in", channel="push")
    await bench.skip(hours=1)
    assert [m["channel"] for m in early_messages(bench)] == ["push"], "the nudge goes once a channel is allowed"


@pytest.fixture
async def short_history_bench(
    time_skipping_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path
) -> AsyncIterator[Bench]:
    guardrails = default_playbook.guardrails.model_copy(update={"continue_as_new_after_events": 50})
    playbook = default_playbook.model_copy(update={"guardrails": guardrails})
    async with running_bench(time_skipping_env, playbook, bench_settings(tmp_path)) as bench:
        yield bench


async def test_a_busy_customer_rolls_the_journey_over_and_it_carries_on(short_history_bench: Bench) -> None:
    """The playbook's history guardrail holds for early life too: a customer active often enough to fill a
    history continues as new, with what the journey knew, and the period still ends once, in the journal."""
    bench = short_history_bench
    await activate(bench)
    await bench.skip(days=7, hours=1)
    assert [m["attempt"] for m in early_messages(bench)] == [1], "dormant: nudged once"
    handle = bench.env.client.get_workflow_handle(early_life_workflow_id(bench.customer_id))
    first_run = (await handle.describe()).run_id
    for n in range(30):
        await bench.send("customer.active", kind="login" if n % 2 else "transaction")

    async def rolled_over() -> bool:
        first = await bench.env.client.get_workflow_handle(handle.id, run_id=first_run).describe()
        return first.status is WorkflowExecutionStatus.CONTINUED_AS_NEW

    await eventually(rolled_over, timeout=20)
    assert (await handle.describe()).run_id != first_run
    view = await bench.early_life()
    assert view.nudges == 1 and view.re_engaged_at is not None and view.last_activity_kind == "login"
    assert view.status == "watching"
    for _ in range(4):  # active every five days until the period ends
        await bench.skip(days=5)
        await bench.send("customer.active", kind="login")
    await bench.skip(days=5)
    assert (await period_outcome(bench)).kind.value == "retained"
    row = journal_row(bench)
    assert (row["outcome"], row["nudges"]) == ("retained", 1)
    assert len(early_messages(bench)) == 1
