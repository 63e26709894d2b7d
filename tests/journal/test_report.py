"""The recovery report over a cohort whose every outcome is known: built through the real workflows on the
time-skipping server, written to a real journal, every figure checked against a hand-computed value."""

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from journal.chart import write_chart
from journal.report import RecoveryReport, report_from_journal
from journal.store import open_journal
from starters.api import create_app
from starters.client import RecoveryClient
from tests.harness import Bench, bench_settings, recovery_client, zone_where_local_hour_is
from workers.worker import build_worker
from workflows.funnel import Stage
from workflows.holdout import RecoveryGroup, recovery_group
from workflows.human_tasks import TaskOutcome
from workflows.playbook import Playbook

HOLDOUT_SHARE = 0.5
Cohort = tuple[RecoveryReport, Path, RecoveryClient, datetime]
FUNNEL_REST = (
    "onboarding.document_uploaded",
    "onboarding.document_approved",
    "onboarding.biometric_passed",
    "onboarding.completed",
)


def customers_in(group: RecoveryGroup, prefix: str, count: int) -> list[str]:
    found = (f"{prefix}-{n}" for n in range(1000))
    return [c for c in found if recovery_group(c, HOLDOUT_SHARE) is group][:count]


@pytest.fixture(scope="module")
async def cohort(
    module_time_skipping_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cohort]:
    """Seven customers: five treated, two in the holdout."""
    tmp = tmp_path_factory.mktemp("cohort")
    playbook = default_playbook.model_copy(update={"holdout_share": HOLDOUT_SHARE})
    settings = bench_settings(tmp)
    prefix = f"rep-{settings.task_queue[-6:]}"
    t1, t2, t3, t4, t5 = customers_in(RecoveryGroup.TREATMENT, prefix, 5)
    h1, h2 = customers_in(RecoveryGroup.HOLDOUT, prefix, 2)
    async with build_worker(module_time_skipping_env.client, settings):
        bench = Bench(module_time_skipping_env, recovery_client(module_time_skipping_env, playbook, settings), settings)
        day = zone_where_local_hour_is(await bench.now(), 10)
        try:
            bench.timezone = day
            # T1 goes straight through in 25 minutes.
            await bench.send("onboarding.started", customer_id=t1)
            for step in ("onboarding.phone_verified", *FUNNEL_REST):
                await bench.skip(minutes=5)
                await bench.send(step, customer_id=t1)
            # T2 stops at A at 21:xx local: the nudge waits for 09:00, then they finish.
            bench.timezone = zone_where_local_hour_is(await bench.now(), 21)
            await bench.send("onboarding.phone_verified", customer_id=t2)
            bench.timezone = day
            await bench.send("onboarding.document_approved", customer_id=t3)  # C: never comes back
            await bench.send("onboarding.document_rejected", customer_id=t4, reason="blur")  # B: a human helps
            for customer in (t5, h1, h2):
                await bench.send("onboarding.phone_verified", customer_id=customer)
            await bench.send("customer.opted_out", customer_id=t5, channel="all")
            await bench.skip(hours=3)
            for step in FUNNEL_REST:  # H1 comes back on their own, with no message at all
                await bench.send(step, customer_id=h1)
            await bench.skip(hours=9)
            for step in FUNNEL_REST:
                await bench.send(step, customer_id=t2)
            await bench.skip(hours=18)  # T4's three nudges are out and its video-call task is open
            task = (await bench.view(t4)).open_task
            assert task is not None
            await bench.client.claim_task(task.task_id, "agent-ana")
            await bench.client.complete_task(task.task_id, "agent-ana", TaskOutcome.VERIFIED_ON_CALL)
            for step in ("onboarding.biometric_passed", "onboarding.completed"):
                await bench.send(step, customer_id=t4)
            await bench.skip(hours=30)  # T3, T5, H2 reach the 48-hour cutoff
            t1_end = (await bench.view(t1)).outcome
            assert t1_end is not None
            await bench.send("customer.active", customer_id=t1, occurred_at=t1_end.ended_at + timedelta(days=2))
            for customer in (t1, t2, t3, t4, t5, h1, h2):
                assert (await bench.view(customer)).outcome is not None, customer
            until = await bench.now() + timedelta(days=40)
            yield (
                report_from_journal(open_journal(settings.journal_database_url), since=None, until=until),
                tmp,
                bench.client,
                until,
            )
        finally:
            await bench.stop_journeys()


def test_completion_rate_and_cohort_weeks(cohort: Cohort) -> None:
    report = cohort[0]
    assert (report.journeys, report.completed, report.ended, report.holdout_journeys) == (7, 4, 7, 2)
    assert report.completion_rate == pytest.approx(4 / 7)
    assert sum(w.started for w in report.by_cohort_week) == 7
    assert sum(w.completed for w in report.by_cohort_week) == 4


def test_funnel_and_friction(cohort: Cohort) -> None:
    report = cohort[0]
    assert [(s.stage, s.reached) for s in report.funnel] == [
        ("started", 7),
        ("phone_verified", 7),
        ("document_uploaded", 5),
        ("document_approved", 5),
        ("biometric_passed", 4),
        ("completed", 4),
    ]
    assert [(f.stage, f.drop_offs) for f in report.friction] == [
        ("phone_verified", 4),
        ("document_rejected", 1),
        ("document_approved", 1),
    ]


def test_recovery_per_stage_split_by_what_came_last(cohort: Cohort) -> None:
    report = cohort[0]
    by_stage = {r.stage: r for r in report.recovery}
    a, b, c = by_stage[Stage.PHONE_VERIFIED], by_stage[Stage.DOCUMENT_REJECTED], by_stage[Stage.DOCUMENT_APPROVED]
    assert (a.dropped, a.recovered, a.by_intervention["nudge_1"]) == (2, 1, 1), "T2 after nudge 1; T5 opted out"
    assert (b.dropped, b.recovered, b.by_intervention["human_task"]) == (1, 1, 1)
    assert (c.dropped, c.recovered, c.recovery_rate) == (1, 0, 0.0)


def test_time_to_completion(cohort: Cohort) -> None:
    report = cohort[0]
    unassisted, recovered = report.time_to_completion["unassisted"], report.time_to_completion["recovered"]
    assert unassisted.customers == 1 and unassisted.median_hours == pytest.approx(25 / 60, abs=0.02)
    # T2: about 12 h (deferred to 09:00 local); T4: about 30 h (three nudges, then the agent).
    assert recovered.customers == 2
    assert recovered.median_hours == pytest.approx((11.6 + 30.0) / 2, abs=0.6)
    assert recovered.p90_hours == pytest.approx(11.6 + 0.9 * (30.0 - 11.6), abs=0.6)


def test_uplift_against_the_holdout(cohort: Cohort) -> None:
    report = cohort[0]
    overall = report.uplift[0]
    assert overall.stage == "any stage"
    assert (overall.treated, overall.treated_recovered, overall.holdout, overall.holdout_returned) == (4, 2, 2, 1)
    assert overall.uplift == pytest.approx(0.0)
    assert overall.ci_low is not None and overall.ci_low < 0 < overall.ci_high  # type: ignore[operator]
    assert "too small to tell" in overall.verdict


def test_guardrail_figures(cohort: Cohort) -> None:
    report = cohort[0]
    g = report.guardrails
    assert g.messages_sent == 8, "T2: 1 nudge; T3: 3 nudges and the SMS store offer; T4: 3 nudges"
    assert (g.opt_outs, g.opt_outs_per_1000_messages) == (1, 125.0)
    assert (g.recovered_customers, g.messages_per_recovered_customer) == (2, 4.0)
    assert g.deferred_by_quiet_hours == 1, "T2's nudge; the holdout's would-be deferrals do not count"
    assert (g.dormant_after_completion, g.completed_eligible_for_dormancy) == (3, 4), "only T1 was active again"


def test_the_chart_is_a_picture(cohort: Cohort) -> None:
    report, tmp = cohort[0], cohort[1]
    png = write_chart(report, tmp / "report.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    svg = write_chart(report, tmp / "report.svg")
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()


async def test_the_api_serves_the_same_report_and_its_chart(cohort: Cohort) -> None:
    report, _, client, until = cohort
    app = create_app(Settings(api_token="t0ken"), recovery=client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        auth = {"Authorization": "Bearer t0ken"}
        response = await http.get("/v1/report", params={"until": until.isoformat()}, headers=auth)
        assert response.status_code == 200, response.text
        assert RecoveryReport.model_validate(response.json()) == report
        chart = await http.get("/v1/report/chart.png", params={"until": until.isoformat()}, headers=auth)
        assert chart.headers["content-type"] == "image/png" and chart.content[:4] == b"\x89PNG"
        assert (await http.get("/v1/report")).status_code == 401
