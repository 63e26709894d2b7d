"""`recovery simulate`: the seeded cohort, the summary, and one cohort run end to end through the
real HTTP API (uvicorn on a socket), the real worker and the real dev server with the demo playbook."""

import asyncio
import inspect
import json
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
import uvicorn
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from starters import cli
from starters.client import RecoveryClient
from starters.simulate import (
    SimulationConfig,
    SimulationError,
    parse_agent_outcomes,
    parse_probabilities,
    resolve_token,
    simulate,
    summarize,
    summary_table,
)
from starters.simulate_cohort import (
    DEFAULT_AGENT_OUTCOMES,
    DEFAULT_STALL,
    STALL_STAGES,
    CohortParams,
    CustomerPlan,
    Reaction,
    ReactionKind,
    StallPlan,
    next_leg,
    plan_cohort,
    stall_at,
)
from tests.harness import bench_settings
from workers.worker import build_worker
from workflows.funnel import STAGE_OF_EVENT, EventType, Stage
from workflows.human_tasks import TaskOutcome
from workflows.journey import workflow_id_for
from workflows.journey_state import JourneyOutcome, OutcomeKind
from workflows.journey_view import JourneyView
from workflows.playbook import load_playbook

ROOT = Path(__file__).resolve().parents[2]
RECOVERY = str(Path(sys.executable).parent / "recovery")
TOKEN = "sim-t0ken"


# -- the cohort -----------------------------------------------------------------------------------


def test_the_same_seed_draws_the_same_cohort() -> None:
    params = CohortParams(customers=300, seed=11)
    first, again = plan_cohort(params, "run1"), plan_cohort(params, "run2")
    assert [p.essence() for p in first] == [p.essence() for p in again]
    assert first == plan_cohort(params, "run1")
    assert {p.customer_id for p in first}.isdisjoint({p.customer_id for p in again}), "ids are unique per run"
    assert first[5].customer_id == "sim-11-run1-0005"


def test_different_seeds_draw_different_cohorts() -> None:
    a = plan_cohort(CohortParams(customers=200, seed=1), "r")
    b = plan_cohort(CohortParams(customers=200, seed=2), "r")
    assert [p.essence() for p in a] != [p.essence() for p in b]
    assert [p.drop_stages for p in a] != [p.drop_stages for p in b]


def test_a_probability_changes_only_its_own_decisions() -> None:
    """Every customer draws the same numbers in the same order whatever the probabilities."""
    base = plan_cohort(CohortParams(customers=100, seed=3), "r")
    tweaked = plan_cohort(CohortParams(customers=100, seed=3, respond_sms=0.9), "r")
    assert [(p.timezone, p.lat, p.lon, p.start_after, p.step_delays, p.tasks) for p in base] == [
        (p.timezone, p.lat, p.lon, p.start_after, p.step_delays, p.tasks) for p in tweaked
    ]
    assert [p.drop_stages for p in base] == [p.drop_stages for p in tweaked]


def test_between_30_and_50_percent_would_never_activate_without_help() -> None:
    plans = plan_cohort(CohortParams(customers=2000, seed=7), "r")
    share = sum(p.needs_help for p in plans) / len(plans)
    assert 0.30 <= share <= 0.50, share
    # and the cohort is varied: every stall stage drops someone, every reaction and agent outcome occurs
    assert {s for p in plans for s in p.drop_stages} == set(STALL_STAGES)
    reactions = {p.stalls[s].reaction.label() for p in plans for s in p.drop_stages}
    assert {"respond:nudge_1", "respond:nudge_2", "respond:nudge_3", "respond:sms_store_offer", "none"} <= reactions
    assert any(r.startswith("opt_out") for r in reactions)
    assert {t.outcome for p in plans for t in p.tasks} == set(TaskOutcome)
    assert len({p.timezone for p in plans}) > 5 and all(p.locale == "en" for p in plans)


def test_customers_live_near_a_store_in_their_own_time_zone() -> None:
    stores = [(41.0, 69.0), (39.0, 66.0)]
    plans = plan_cohort(CohortParams(customers=50, seed=1), "r", stores=stores)
    for plan in plans:
        assert min(abs(plan.lat - lat) + abs(plan.lon - lon) for lat, lon in stores) <= 0.1
        assert plan.profile()["location"] == {"lat": plan.lat, "lon": plan.lon}


def _walk(plan: CustomerPlan) -> list[EventType]:
    """The events of a customer who never stops (natural returns included)."""
    stage, events = Stage.STARTED, [EventType.STARTED]
    while stage is not Stage.COMPLETED:
        leg, stage = next_leg(stage, plan)
        events += [event_type for event_type, _ in leg]
    return events


def _plan(**stalling: bool) -> CustomerPlan:
    template = plan_cohort(CohortParams(customers=1, seed=1), "r")[0]
    stalls = {s: replace(template.stalls[s], stalls=stalling.get(s.value, False)) for s in STALL_STAGES}
    return replace(template, stalls=stalls)


def test_the_funnel_as_the_customer_walks_it() -> None:
    assert _walk(_plan()) == [
        EventType.STARTED, EventType.PHONE_VERIFIED, EventType.DOCUMENT_UPLOADED, EventType.DOCUMENT_APPROVED,
        EventType.BIOMETRIC_PASSED, EventType.COMPLETED,
    ]
    failing = _plan(document_rejected=True, biometric_failed=True)
    assert _walk(failing) == [
        EventType.STARTED, EventType.PHONE_VERIFIED, EventType.DOCUMENT_UPLOADED, EventType.DOCUMENT_REJECTED,
        EventType.DOCUMENT_UPLOADED, EventType.DOCUMENT_APPROVED, EventType.BIOMETRIC_FAILED, EventType.BIOMETRIC_PASSED,
        EventType.COMPLETED,
    ]
    leg, _ = next_leg(Stage.PHONE_VERIFIED, failing)
    assert leg[1] == (EventType.DOCUMENT_REJECTED, {"reason": failing.rejection_reason.value})
    assert stall_at(Stage.DOCUMENT_REJECTED, failing) is not None and stall_at(Stage.STARTED, failing) is None


def test_a_natural_returner_stalls_without_dropping() -> None:
    plan = StallPlan(Stage.PHONE_VERIFIED, stalls=True, natural_return=True, reaction=Reaction(ReactionKind.NONE), reaction_delay=0.2)
    assert not plan.drops
    assert replace(plan, natural_return=False).drops
    assert not replace(plan, stalls=False, natural_return=False).drops


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="probability"):
        CohortParams(natural_return=1.5)
    with pytest.raises(ValueError, match="exceeds 1"):
        CohortParams(respond_sms=0.99, opt_out=0.02)
    with pytest.raises(ValueError, match="missing"):
        CohortParams(stall={Stage.STARTED: 0.1})
    with pytest.raises(ValueError, match="takes 3"):
        parse_probabilities("0.1,0.2", 3, "--respond-nudge")
    assert parse_probabilities("0.3, 0.2,0.1", 3, "x") == (0.3, 0.2, 0.1)
    assert parse_agent_outcomes("verified_on_call=1, unreachable=0.5") == {
        TaskOutcome.VERIFIED_ON_CALL: 1.0, TaskOutcome.UNREACHABLE: 0.5,
    }
    with pytest.raises(ValueError, match="outcome=weight"):
        parse_agent_outcomes("teleported=1")


def test_the_cli_defaults_are_the_cohort_defaults() -> None:
    defaults = {name: p.default for name, p in inspect.signature(cli.simulate).parameters.items()}
    assert {
        Stage.STARTED: defaults["drop_started"],
        Stage.PHONE_VERIFIED: defaults["drop_phone_verified"],
        Stage.DOCUMENT_REJECTED: defaults["reject_document"],
        Stage.DOCUMENT_APPROVED: defaults["drop_document_approved"],
        Stage.BIOMETRIC_FAILED: defaults["fail_biometric"],
        Stage.BIOMETRIC_PASSED: defaults["drop_biometric_passed"],
    } == DEFAULT_STALL
    params = CohortParams()
    assert parse_probabilities(defaults["respond_nudge"], 3, "") == params.respond_nudge
    assert parse_agent_outcomes(defaults["agent_outcomes"]) == DEFAULT_AGENT_OUTCOMES
    assert (defaults["natural_return"], defaults["respond_sms"], defaults["opt_out"], defaults["start_rate"]) == (
        params.natural_return, params.respond_sms, params.opt_out, params.start_rate,
    )


def test_the_token_comes_from_the_option_or_the_data_folder(tmp_path: Path) -> None:
    assert resolve_token("given", tmp_path) == "given"
    with pytest.raises(SimulationError, match="no API token"):
        resolve_token(None, tmp_path)
    (tmp_path / "api-token").write_text("from-file\n")
    assert resolve_token(None, tmp_path) == "from-file"


# -- the summary ----------------------------------------------------------------------------------

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)


def outcome(kind: str, stage: str, preceded_by: str = "none", drops: tuple[str, ...] = (), assisted: bool = False) -> JourneyOutcome:
    return JourneyOutcome(
        kind=OutcomeKind(kind), stage=Stage(stage), ended_at=NOW, reason="test", assisted=assisted,
        preceded_by=preceded_by, drop_off_stages=[Stage(s) for s in drops],
    )


def test_summary_counts_each_journey_once() -> None:
    outcomes = [
        outcome("completed", "completed"),
        outcome("completed", "completed"),
        outcome("completed", "completed", "nudge_1", ("phone_verified",)),
        outcome("completed", "completed", "nudge_2", ("started",)),
        outcome("completed", "completed", "nudge_3", ("document_approved",)),
        outcome("completed", "completed", "sms_store_offer", ("phone_verified",)),
        outcome("completed", "completed", "sms_store_offer", ("phone_verified", "document_approved")),
        outcome("completed", "completed", "human_task", ("document_rejected",), assisted=True),
        outcome("completed", "completed", "human_task", (), assisted=True),  # help asked, never dropped
        outcome("completed", "completed", "none", ("started",)),  # dropped, came back before any message
        outcome("abandoned", "phone_verified", "sms_store_offer", ("phone_verified",)),
        outcome("abandoned", "phone_verified", "nudge_3", ("phone_verified",)),
        outcome("abandoned", "document_rejected", "human_task", ("document_rejected",)),
        outcome("opted_out", "started", "nudge_1", ("started",)),
        None,
    ]
    summary = summarize(outcomes)
    assert summary.started == 15
    assert summary.completed == 10
    assert summary.completed_unassisted == 3
    assert summary.recovered == {"nudge_1": 1, "nudge_2": 1, "nudge_3": 1, "sms_store_offer": 2, "human_task": 1}
    assert summary.recovered_total == 6
    assert summary.completed_other == 1
    assert summary.abandoned["phone_verified"] == 2 and summary.abandoned["document_rejected"] == 1
    assert summary.abandoned_total == 3
    assert (summary.opted_out, summary.not_ended) == (1, 1)
    assert summary.completion_rate == round(10 / 15, 4)
    parts = (summary.completed_unassisted + summary.recovered_total + summary.completed_other
             + summary.abandoned_total + summary.opted_out + summary.not_ended)
    assert parts == summary.started
    assert summarize(list(reversed(outcomes))) == summary, "order does not matter"


def test_summary_of_nothing_and_its_table() -> None:
    empty = summarize([])
    assert (empty.started, empty.completion_rate, empty.abandoned_total) == (0, 0.0, 0)
    summary = summarize([outcome("completed", "completed"), outcome("abandoned", "document_approved", "nudge_3", ("document_approved",))])
    table = summary_table(summary, title="t")
    labels = list(table.columns[0].cells)
    assert "recovered after SMS store offer" in labels and "abandoned at document_approved" in labels
    assert list(table.columns[1].cells)[labels.index("completion rate")] == "1/2"
    assert json.loads(summary.model_dump_json())["abandoned"]["document_approved"] == 1


# -- errors the operator sees ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_an_unreachable_api_is_a_clear_error_without_a_traceback(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        RECOVERY, "simulate", "--customers", "3", "--api-url", f"http://127.0.0.1:{free_port()}", "--api-token", "x",
        "--data-dir", str(tmp_path),
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 1
    assert "cannot reach the API" in err.decode() and "Traceback" not in err.decode() + out.decode()
    process = await asyncio.create_subprocess_exec(
        RECOVERY, "simulate", "--data-dir", str(tmp_path), env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 1 and "no API token" in err.decode()


# -- a cohort end to end --------------------------------------------------------------------------


def _quick_cohort(customers: int) -> CohortParams:
    """A seed whose cohort ends within one recovery window (48 s) yet exercises the journey: at most one
    drop-off per customer, several of them, and at least one that only an agent can resolve."""
    stall = {stage: 0.2 for stage in STALL_STAGES}
    for seed in range(1, 500):
        params = CohortParams(customers=customers, seed=seed, stall=stall, start_rate=12.0)
        plans = plan_cohort(params, "probe")
        drops = [(p, s) for p in plans for s in p.drop_stages]
        to_agent = [
            (p, s) for p, s in drops
            if s in (Stage.DOCUMENT_REJECTED, Stage.BIOMETRIC_FAILED) and p.stalls[s].reaction.kind is ReactionKind.NONE
        ]
        nudged = [(p, s) for p, s in drops if (p.stalls[s].reaction.message or "").startswith("nudge")]
        if all(len(p.drop_stages) <= 1 for p in plans) and len(drops) >= 5 and len(to_agent) >= 2 and nudged \
                and sum(not p.needs_help for p in plans) >= 3:
            return params
    raise AssertionError("no suitable seed")


def _late_drop_offs(view: JourneyView, plan: CustomerPlan) -> tuple[set[Stage], list[Stage]]:
    """The drop-offs a journey saw where the customer did not stop, split into those explained by the
    machine being slow (the next event reached the journey 1 s or more after the previous one happened,
    which is exactly when its drop-off clock runs out) and those that are not (a bug)."""
    assert view.outcome is not None
    funnel = [e for e in view.events if e.type in STAGE_OF_EVENT and e.effect.value == "advanced"]
    late, unexplained = set(), []
    for stage in set(view.outcome.drop_off_stages) - set(plan.drop_stages):
        gaps = [(b.received_at - a.occurred_at).total_seconds() for a, b in zip(funnel, funnel[1:]) if STAGE_OF_EVENT[a.type] is stage]
        if any(gap >= 0.95 for gap in gaps):
            late.add(stage)
        else:
            unexplained.append(stage)
    return late, unexplained


def _story(view: JourneyView, plan: CustomerPlan) -> str:
    lines = [f"{plan.customer_id}: {plan.stalls}"]
    lines += [f"event {e.type.value} occurred {e.occurred_at.isoformat()} received {e.received_at.isoformat()} {e.effect.value}" for e in view.events]
    lines += [f"decision {d.at.isoformat()} {d.action.value} {d.reason} {d.detail}" for d in view.decisions]
    return "\n".join(lines)


@pytest.fixture
async def stack(dev_server_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[tuple[str, RecoveryClient, Path]]:
    """The real API app under uvicorn on a free port, a worker on its own task queue and outbox."""
    from starters.api import create_app

    settings = bench_settings(tmp_path, api_token=TOKEN)
    recovery = RecoveryClient(dev_server_env.client, load_playbook(ROOT / "playbooks" / "demo.toml"), settings.task_queue)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, recovery=recovery), host="127.0.0.1", port=port, log_level="warning"))
    async with build_worker(dev_server_env.client, settings):
        serving = asyncio.create_task(server.serve())
        while not server.started:
            assert not serving.done(), "uvicorn did not start"
            await asyncio.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}", recovery, tmp_path
        finally:
            server.should_exit = True
            await serving


@pytest.mark.timeout(150)
async def test_a_cohort_runs_through_the_api_until_every_journey_ended(stack: tuple[str, RecoveryClient, Path]) -> None:
    url, recovery, data_dir = stack
    with pytest.raises(SimulationError, match="refused the token"):
        await simulate(SimulationConfig(params=CohortParams(customers=1), api_url=url, api_token="wrong", data_dir=data_dir))

    params = _quick_cohort(12)
    config = SimulationConfig(params=params, api_url=url, api_token=TOKEN, data_dir=data_dir, timeout=120, journey_poll=1.0)
    seen: list[tuple[int, int]] = []
    result = await simulate(config, progress=lambda done, total: seen.append((done, total)))
    try:
        summary = result.summary
        assert not result.timed_out and summary.not_ended == 0, result.outcomes
        assert seen[-1] == (12, 12)
        assert summary.started == 12
        assert (summary.completed_unassisted + summary.recovered_total + summary.completed_other
                + summary.abandoned_total + summary.opted_out) == 12

        views = {plan.customer_id: await recovery.journey(plan.customer_id) for plan in result.plans}
        assert summarize([view.outcome for view in views.values()]) == summary
        assert all(view.outcome == result.outcomes[cid] for cid, view in views.items())

        for plan in result.plans:
            view = views[plan.customer_id]
            assert view.timezone == plan.timezone and view.locale == "en"
            assert view.outcome is not None
            # a real drop-off is always seen: the customer waits for a message, far longer than 1 s
            assert set(plan.drop_stages) <= set(view.outcome.drop_off_stages), _story(view, plan)
            # and a pause is never one, unless the journey saw the next event late (a busy machine)
            late, unexplained = _late_drop_offs(view, plan)
            assert not unexplained, _story(view, plan)
            if not plan.needs_help:
                assert view.outcome.kind is OutcomeKind.COMPLETED, _story(view, plan)
                if not late:
                    assert (view.outcome.preceded_by, view.outcome.drop_off_stages) == ("none", []), _story(view, plan)
        # every task the cohort's journeys opened was worked by the simulated agents, or closed
        tasks = [task for view in views.values() for task in view.tasks]
        assert all(task.state.value in ("completed", "closed") for task in tasks)
        completed = [task for task in tasks if task.state.value == "completed"]
        assert sum(result.agent_outcomes.values()) == len(completed)
        assert all((task.completed_by or "").startswith("sim-agent-") for task in completed)
        assert result.to_json()["summary"] == summary.model_dump()
    finally:
        for plan in result.plans:
            try:
                await recovery.temporal.get_workflow_handle(workflow_id_for(plan.customer_id)).terminate("test finished")
            except RPCError:
                pass  # ended

    # the command itself, with the token from the data folder: a cohort that never stops ends at once
    (data_dir / "api-token").write_text(TOKEN)
    no_drops = [f"--{flag}=0" for flag in (
        "drop-started", "drop-phone-verified", "reject-document", "drop-document-approved", "fail-biometric", "drop-biometric-passed",
    )]
    process = await asyncio.create_subprocess_exec(
        RECOVERY, "simulate", "--customers", "3", "--seed", "5", "--start-rate", "10", "--api-url", url, "--data-dir", str(data_dir),
        *no_drops, "--json",
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    printed = json.loads(out)
    assert (printed["seed"], printed["customers"], printed["would_not_activate_without_help"]) == (5, 3, 0)
    assert printed["summary"]["completed_unassisted"] + printed["summary"]["recovered_total"] == 3
    assert all(cid.startswith("sim-5-") for cid in printed["customer_ids"])
