"""The holdout: stable, close to its share, and never messaged."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.harness import Bench, bench_settings, running_bench
from workflows.holdout import RecoveryGroup, recovery_group
from workflows.playbook import Playbook


def test_assignment_is_stable_and_close_to_the_share() -> None:
    ids = [f"cust-{n}" for n in range(10_000)]
    first = [recovery_group(c, 0.10) for c in ids]
    assert first == [recovery_group(c, 0.10) for c in ids], "a customer never changes group"
    share = sum(g is RecoveryGroup.HOLDOUT for g in first) / len(ids)
    assert 0.09 <= share <= 0.11
    assert all(recovery_group(c, 0.0) is RecoveryGroup.TREATMENT for c in ids[:1000])


def test_a_larger_share_only_adds_customers_to_the_holdout() -> None:
    ids = [uuid.uuid4().hex for _ in range(2000)]
    small = {c for c in ids if recovery_group(c, 0.05) is RecoveryGroup.HOLDOUT}
    large = {c for c in ids if recovery_group(c, 0.20) is RecoveryGroup.HOLDOUT}
    assert small <= large


@pytest.fixture
async def holdout_bench(
    time_skipping_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path
) -> AsyncIterator[Bench]:
    playbook = default_playbook.model_copy(update={"holdout_share": 0.5})
    async with running_bench(time_skipping_env, playbook, bench_settings(tmp_path)) as bench:
        bench.customer_id = next(
            c
            for c in (f"hold-{uuid.uuid4().hex[:8]}" for _ in range(100))
            if recovery_group(c, 0.5) is RecoveryGroup.HOLDOUT
        )
        yield bench


async def test_a_holdout_journey_detects_drop_offs_but_sends_nothing(holdout_bench: Bench) -> None:
    bench = holdout_bench
    await bench.send("onboarding.phone_verified")
    await bench.skip(hours=40)
    assert bench.outbox() == [] and bench.staff_notifications() == []
    view = await bench.view()
    assert view.recovery_group == "holdout" and view.drop_off_stage == "phone_verified"
    would_have = [d.detail for d in view.decisions if (d.action, d.reason) == ("suppressed", "holdout")]
    assert [w.split(":")[0] for w in would_have] == [
        "would have sent nudge 1 by push",
        "would have sent nudge 2 by push",
        "would have sent nudge 3 by push",
        "would have sent sms_store_offer 1 by sms",
    ]
    assert "passport" in would_have[0]


async def test_a_holdout_journey_opens_no_task_on_its_own_but_honours_a_request_for_help(holdout_bench: Bench) -> None:
    bench = holdout_bench
    await bench.send("onboarding.document_rejected", reason="blur")
    await bench.send("onboarding.document_uploaded")
    await bench.send("onboarding.document_rejected", reason="glare")
    await bench.skip(hours=35)
    view = await bench.view()
    assert view.tasks == [] and bench.outbox() == []
    assert {d.detail for d in view.decisions if d.reason == "holdout"} >= {
        "would have opened a video_call task (repeated rejection)",
        "would have opened a video_call task",
    }
    await bench.send("onboarding.help_requested")
    await bench.skip(minutes=1)
    assert (await bench.view()).open_task is not None, "a customer who asks is always helped"
