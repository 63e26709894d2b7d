"""`recovery simulate`: the seeded cohort, its counterfactual outcomes (the true uplift), the summary, and
one cohort run end to end through the real HTTP API (uvicorn on a socket), the real worker and the real
dev server with the demo playbook."""

import asyncio
import inspect
import itertools
import json
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.outbox import read_outbox
from journal.store import migrate, open_journal
from simulator import cli
from simulator.api import SimulationError
from simulator.cohort import (
    DEFAULT_AGENT_OUTCOMES,
    DEFAULT_STALL,
    DEMO_PLAYBOOK,
    NATURAL_RETURN_S,
    STALL_STAGES,
    CohortParams,
    CustomerPlan,
    Reaction,
    ReactionKind,
    StallPlan,
    TaskPlan,
    plan_cohort,
    store_locations,
)
from simulator.customer import message_label, next_leg, stall_at
from simulator.journey_model import journey_outcome
from simulator.live_early_life import is_early_life_record
from simulator.options import parse_agent_outcomes, parse_probabilities, resolve_playbook, resolve_token
from simulator.run import SimulationConfig, simulate
from simulator.summary import summarize, summary_table
from simulator.uplift import observed_uplift, true_uplift, uplift_table
from starters.client import RecoveryClient
from tests.harness import bench_settings
from workers.worker import build_worker
from workflows.funnel import STAGE_OF_EVENT, EventType, Stage
from workflows.holdout import RecoveryGroup, recovery_group
from workflows.human_tasks import TaskOutcome
from workflows.journey import workflow_id_for
from workflows.journey_state import JourneyOutcome, OutcomeKind
from workflows.journey_view import JourneyView
from workflows.playbook import Playbook, load_playbook

ROOT = Path(__file__).resolve().parents[2]
RECOVERY = str(Path(sys.executable).parent / "recovery")
TOKEN = "sim-t0ken"
DEMO = load_playbook(ROOT / "playbooks" / "demo.toml")


def fresh_seed() -> int:
    """Customer ids come from the seed and a seed runs once per system: every run in a test gets its own."""
    return uuid.uuid4().int % 10**9


# -- the cohort -----------------------------------------------------------------------------------


def test_the_same_seed_draws_the_same_cohort_and_the_same_holdout() -> None:
    params = CohortParams(customers=300, seed=11)
    first, again = plan_cohort(params), plan_cohort(params)
    assert first == again
    assert first[5].customer_id == "sim-11-0005", "ids come from the seed alone"
    groups = [recovery_group(p.customer_id, DEMO.holdout_share) for p in first]
    assert groups == [recovery_group(p.customer_id, DEMO.holdout_share) for p in again]
    assert 10 <= groups.count(RecoveryGroup.HOLDOUT) <= 50, "about a tenth of the cohort is held out"
    assert true_uplift(first, DEMO) == true_uplift(again, DEMO)


def test_different_seeds_draw_different_cohorts() -> None:
    a = plan_cohort(CohortParams(customers=200, seed=1))
    b = plan_cohort(CohortParams(customers=200, seed=2))
    assert [p.essence() for p in a] != [p.essence() for p in b]
    assert [p.drop_stages for p in a] != [p.drop_stages for p in b]
    assert {p.customer_id for p in a}.isdisjoint({p.customer_id for p in b})


def test_a_probability_changes_only_its_own_decisions() -> None:
    """Every customer draws the same numbers in the same order whatever the probabilities."""
    base = plan_cohort(CohortParams(customers=100, seed=3))
    tweaked = plan_cohort(CohortParams(customers=100, seed=3, respond_sms=0.9))
    assert [(p.timezone, p.lat, p.lon, p.start_after, p.step_delays, p.tasks) for p in base] == [
        (p.timezone, p.lat, p.lon, p.start_after, p.step_delays, p.tasks) for p in tweaked
    ]
    assert [p.drop_stages for p in base] == [p.drop_stages for p in tweaked]
    assert [[p.stalls[s].return_after for s in STALL_STAGES] for p in base] == [
        [p.stalls[s].return_after for s in STALL_STAGES] for p in tweaked
    ]


def test_between_30_and_50_percent_would_never_activate_without_help() -> None:
    plans = plan_cohort(CohortParams(customers=2000, seed=7))
    share = sum(p.needs_help for p in plans) / len(plans)
    assert 0.30 <= share <= 0.50, share
    # and the cohort is varied: every stall stage drops someone, every reaction and agent outcome occurs
    assert {s for p in plans for s in p.drop_stages} == set(STALL_STAGES)
    reactions = {p.stalls[s].reaction.label() for p in plans for s in p.drop_stages}
    assert {"respond:nudge_1", "respond:nudge_2", "respond:nudge_3", "respond:sms_store_offer", "none"} <= reactions
    assert any(r.startswith("opt_out") for r in reactions)
    assert {t.outcome for p in plans for t in p.tasks} == set(TaskOutcome)
    assert len({p.timezone for p in plans}) > 5 and all(p.locale == "en" for p in plans)
    returns = [p.stalls[s].return_after for p in plans for s in STALL_STAGES]
    assert NATURAL_RETURN_S[0] <= min(returns) and max(returns) <= NATURAL_RETURN_S[1]


def test_customers_live_near_a_store_in_their_own_time_zone() -> None:
    stores = [(41.0, 69.0), (39.0, 66.0)]
    plans = plan_cohort(CohortParams(customers=50, seed=1), stores=stores)
    for plan in plans:
        assert min(abs(plan.lat - lat) + abs(plan.lon - lon) for lat, lon in stores) <= 0.1
        assert plan.profile()["location"] == {"lat": plan.lat, "lon": plan.lon}


def _walk(plan: CustomerPlan) -> list[EventType]:
    """The events of a customer who never stops for good."""
    stage, events = Stage.STARTED, [EventType.STARTED]
    while stage is not Stage.COMPLETED:
        leg, stage = next_leg(stage, plan)
        events += [event_type for event_type, _ in leg]
    return events


NO_REACTION = Reaction(ReactionKind.NONE)


def _plan(
    *,
    stalls: dict[Stage, tuple[bool, Reaction]] | None = None,
    returns: dict[Stage, float] | None = None,
    tasks: tuple[TaskOutcome, ...] = (TaskOutcome.VERIFIED_ON_CALL,),
    step: float = 0.2,
    reaction_delay: float = 0.3,
) -> CustomerPlan:
    """A hand-built customer: where they stop and how they react (`stalls`), when they come back alone
    (`returns`: seconds after stopping), the agents' outcomes per task, every step `step` s apart."""
    template = plan_cohort(CohortParams(customers=1, seed=1))[0]
    stalls = stalls or {}
    returns = returns or {}
    plans = {
        s: StallPlan(
            s,
            stalls=s in stalls or s in returns,
            natural_return=s in returns,
            reaction=stalls.get(s, (True, NO_REACTION))[1],
            reaction_delay=reaction_delay,
            return_after=returns.get(s, 15.0),
        )
        for s in STALL_STAGES
    }
    return replace(
        template,
        stalls=plans,
        step_delays=(step,) * 16,
        tasks=tuple(TaskPlan(o, 0.4, 0.6) for o in tasks),
    )


def test_the_funnel_as_the_customer_walks_it() -> None:
    assert _walk(_plan()) == [
        EventType.STARTED,
        EventType.PHONE_VERIFIED,
        EventType.DOCUMENT_UPLOADED,
        EventType.DOCUMENT_APPROVED,
        EventType.BIOMETRIC_PASSED,
        EventType.COMPLETED,
    ]
    failing = _plan(stalls={Stage.DOCUMENT_REJECTED: (True, NO_REACTION), Stage.BIOMETRIC_FAILED: (True, NO_REACTION)})
    assert _walk(failing) == [
        EventType.STARTED,
        EventType.PHONE_VERIFIED,
        EventType.DOCUMENT_UPLOADED,
        EventType.DOCUMENT_REJECTED,
        EventType.DOCUMENT_UPLOADED,
        EventType.DOCUMENT_APPROVED,
        EventType.BIOMETRIC_FAILED,
        EventType.BIOMETRIC_PASSED,
        EventType.COMPLETED,
    ]
    leg, _ = next_leg(Stage.PHONE_VERIFIED, failing)
    assert leg[1] == (EventType.DOCUMENT_REJECTED, {"reason": failing.rejection_reason.value})
    assert stall_at(Stage.DOCUMENT_REJECTED, failing) is not None and stall_at(Stage.STARTED, failing) is None
    assert failing.first_drop_stage is Stage.DOCUMENT_REJECTED and _plan().first_drop_stage is None


def test_a_natural_returner_drops_off_but_needs_no_help() -> None:
    plan = StallPlan(
        Stage.PHONE_VERIFIED,
        stalls=True,
        natural_return=True,
        reaction=NO_REACTION,
        reaction_delay=0.2,
        return_after=12.0,
    )
    assert not plan.needs_help
    assert replace(plan, natural_return=False).needs_help
    assert not replace(plan, stalls=False, natural_return=False).needs_help
    customer = _plan(returns={Stage.PHONE_VERIFIED: 12.0})
    assert customer.drop_stages == [Stage.PHONE_VERIFIED] and not customer.needs_help


# -- what each customer would do, treated or held out ------------------------------------------


def test_a_customer_who_never_stops_completes_either_way_with_no_message() -> None:
    for treated in (True, False):
        outcome = journey_outcome(_plan(), DEMO, treated)
        assert outcome.completed and outcome.messages == () and outcome.drop_off_stages == ()
        assert outcome.preceded_by == "none" and outcome.ended_at == pytest.approx(5 * 0.2)


def test_a_customer_who_answers_no_message_is_abandoned_either_way() -> None:
    plan = _plan(stalls={Stage.PHONE_VERIFIED: (True, NO_REACTION)})
    treated, held_out = journey_outcome(plan, DEMO, True), journey_outcome(plan, DEMO, False)
    # stopped at 0.2 s: nudges at +1 s and +5 s, the third held by the cap (2 per 24 s) until +25 s, the SMS at +29 s
    assert treated.messages == (
        "phone_verified:nudge_1",
        "phone_verified:nudge_2",
        "phone_verified:nudge_3",
        "phone_verified:sms_store_offer",
    )
    assert (treated.kind, treated.stage, treated.preceded_by) == (
        OutcomeKind.ABANDONED,
        Stage.PHONE_VERIFIED,
        "sms_store_offer",
    )
    assert treated.ended_at == pytest.approx(0.2 + 48)
    assert (held_out.kind, held_out.messages, held_out.preceded_by) == (OutcomeKind.ABANDONED, (), "none")
    assert treated.drop_off_stages == held_out.drop_off_stages == (Stage.PHONE_VERIFIED,)


def test_the_sms_store_offer_comes_after_the_capped_third_nudge() -> None:
    plan = _plan(stalls={Stage.PHONE_VERIFIED: (True, Reaction(ReactionKind.RESPOND, "sms_store_offer"))})
    treated = journey_outcome(plan, DEMO, True)
    assert treated.completed and treated.preceded_by == "sms_store_offer"
    assert treated.ended_at == pytest.approx(
        0.2 + 1 + 24 + 4 + 0.3
    )  # nudge 1, nudge 3 a window later, SMS 4 s on, reaction
    assert not journey_outcome(plan, DEMO, False).completed
    # a stage with two nudges: its SMS offer is the third message, held until the first is 24 s old
    late = _plan(stalls={Stage.BIOMETRIC_PASSED: (True, Reaction(ReactionKind.RESPOND, "sms_store_offer"))})
    assert journey_outcome(late, DEMO, True).ended_at == pytest.approx(0.8 + 1 + 24 + 0.3)
    # a message the stage never sends is never answered: started has two nudges and no escalation
    never = _plan(stalls={Stage.STARTED: (True, Reaction(ReactionKind.RESPOND, "nudge_3"))})
    assert journey_outcome(never, DEMO, True).messages == ("started:nudge_1", "started:nudge_2")
    assert journey_outcome(never, DEMO, True).kind is OutcomeKind.ABANDONED


def test_a_natural_returner_comes_back_in_both_groups_before_any_decisive_message() -> None:
    plan = _plan(
        stalls={Stage.DOCUMENT_APPROVED: (True, Reaction(ReactionKind.RESPOND, "sms_store_offer"))},
        returns={Stage.DOCUMENT_APPROVED: 21.0},
    )
    treated, held_out = journey_outcome(plan, DEMO, True), journey_outcome(plan, DEMO, False)
    assert treated.completed and held_out.completed
    assert (
        treated.messages == ("document_approved:nudge_1", "document_approved:nudge_2")
        and treated.preceded_by == "nudge_2"
    )
    assert held_out.messages == () and held_out.preceded_by == "none"
    assert treated.ended_at == held_out.ended_at == pytest.approx(0.6 + 21 + 0.2)
    # a nudge answered before the return wins the credit, not the completion
    quick = _plan(
        stalls={Stage.PHONE_VERIFIED: (True, Reaction(ReactionKind.RESPOND, "nudge_1"))},
        returns={Stage.PHONE_VERIFIED: 12.0},
    )
    assert journey_outcome(quick, DEMO, True).preceded_by == "nudge_1" and journey_outcome(quick, DEMO, True).completed


def test_agents_resolve_the_human_task_as_drawn() -> None:
    stop = {Stage.DOCUMENT_REJECTED: (True, NO_REACTION)}
    expected = {
        TaskOutcome.VERIFIED_ON_CALL: (OutcomeKind.COMPLETED, "human_task"),
        TaskOutcome.CUSTOMER_WILL_RETRY: (OutcomeKind.COMPLETED, "human_task"),
        TaskOutcome.ACTIVATED_IN_STORE: (OutcomeKind.COMPLETED, "human_task"),
        TaskOutcome.UNREACHABLE: (OutcomeKind.ABANDONED, "sms_store_offer"),  # the SMS offer goes out, unanswered
    }
    for outcome, (kind, credit) in expected.items():
        treated = journey_outcome(_plan(stalls=stop, tasks=(outcome,)), DEMO, True)
        assert (treated.kind, treated.preceded_by, treated.task_outcomes) == (kind, credit, (outcome,)), outcome
        assert treated.messages[:3] == (
            "document_rejected:nudge_1",
            "document_rejected:nudge_2",
            "document_rejected:nudge_3",
        )
        held_out = journey_outcome(_plan(stalls=stop, tasks=(outcome,)), DEMO, False)
        assert held_out.kind is OutcomeKind.ABANDONED and held_out.task_outcomes == ()  # no task for the holdout
    # stopped at 0.6 s: the task opens 4 s after the third nudge (+25 s), the agent takes 0.5 + 0.4 + 0.6 s
    verified = journey_outcome(_plan(stalls=stop), DEMO, True)
    assert verified.ended_at == pytest.approx(0.6 + 29 + 1.5 + 2 * 0.2)
    answered = journey_outcome(
        _plan(
            stalls={Stage.DOCUMENT_REJECTED: (True, Reaction(ReactionKind.RESPOND, "sms_store_offer"))},
            tasks=(TaskOutcome.UNREACHABLE,),
        ),
        DEMO,
        True,
    )
    assert answered.completed and answered.preceded_by == "sms_store_offer"


def test_an_opt_out_silences_later_drop_offs_but_not_a_return() -> None:
    opt_out = Reaction(ReactionKind.OPT_OUT, "nudge_1")
    plan = _plan(
        stalls={
            Stage.PHONE_VERIFIED: (True, opt_out),
            Stage.DOCUMENT_APPROVED: (True, Reaction(ReactionKind.RESPOND, "nudge_1")),
        },
        returns={Stage.PHONE_VERIFIED: 12.0},
    )
    treated = journey_outcome(plan, DEMO, True)
    # back alone from the first drop-off; the second gets no message to answer, so the journey ends opted out
    assert treated.kind is OutcomeKind.OPTED_OUT and treated.stage is Stage.DOCUMENT_APPROVED
    assert treated.messages == ("phone_verified:nudge_1",)
    assert treated.drop_off_stages == (Stage.PHONE_VERIFIED, Stage.DOCUMENT_APPROVED)
    held_out = journey_outcome(plan, DEMO, False)
    assert held_out.kind is OutcomeKind.ABANDONED and held_out.stage is Stage.DOCUMENT_APPROVED
    # opting out of everything at the last nudge of a human-task stage: nobody calls them either (the
    # workflow's progress guards; the simulator's old copy of the rules still sent the agent)
    late = journey_outcome(
        _plan(stalls={Stage.DOCUMENT_REJECTED: (True, Reaction(ReactionKind.OPT_OUT, "nudge_3"))}), DEMO, True
    )
    assert (late.kind, late.task_outcomes) == (OutcomeKind.OPTED_OUT, ())


def test_the_frequency_cap_spans_drop_offs() -> None:
    respond = {n: Reaction(ReactionKind.RESPOND, f"nudge_{n}") for n in (1, 2)}
    plan = _plan(stalls={Stage.PHONE_VERIFIED: (True, respond[1]), Stage.DOCUMENT_APPROVED: (True, respond[2])})
    treated = journey_outcome(plan, DEMO, True)
    # phone_verified at 0.2, nudge 1 at 1.2, back at 1.5; document_approved at 1.7: its nudge 1 waits for the 3 s
    # gap (4.2), its nudge 2 for the first message of the window to age out (1.2 + 24), answered 0.3 s later
    assert treated.messages == ("phone_verified:nudge_1", "document_approved:nudge_1", "document_approved:nudge_2")
    assert treated.ended_at == pytest.approx(25.2 + 0.3 + 0.2)
    assert treated.completed and not journey_outcome(plan, DEMO, False).completed


def test_the_maximum_lifetime_ends_a_long_journey() -> None:
    short: Playbook = DEMO.model_copy(
        update={"guardrails": DEMO.guardrails.model_copy(update={"max_lifetime": timedelta(seconds=60)})}
    )
    plan = _plan(returns={Stage.STARTED: 22.0, Stage.PHONE_VERIFIED: 22.0, Stage.DOCUMENT_APPROVED: 22.0})
    assert journey_outcome(plan, DEMO, False).completed
    ended = journey_outcome(plan, short, False)
    assert (ended.kind, ended.stage, ended.ended_at) == (OutcomeKind.ABANDONED, Stage.DOCUMENT_APPROVED, 60.0)


def test_the_true_uplift_is_the_mean_difference_by_first_drop_off() -> None:
    sms = Reaction(ReactionKind.RESPOND, "sms_store_offer")
    plans = [
        _plan(),  # never drops: not counted
        _plan(stalls={Stage.PHONE_VERIFIED: (True, sms)}),  # treated 1, held out 0
        _plan(stalls={Stage.PHONE_VERIFIED: (True, NO_REACTION)}, returns={Stage.PHONE_VERIFIED: 15.0}),  # 1, 1
        _plan(stalls={Stage.STARTED: (True, NO_REACTION)}),  # 0, 0
        # first drop-off at started, then phone_verified, both answered: counted at started only
        _plan(
            stalls={
                Stage.STARTED: (True, Reaction(ReactionKind.RESPOND, "nudge_1")),
                Stage.PHONE_VERIFIED: (True, Reaction(ReactionKind.RESPOND, "nudge_1")),
            }
        ),  # 1, 0
    ]
    truth = {row.stage: row for row in true_uplift(plans, DEMO)}
    assert list(truth) == ["any stage", *(s.value for s in STALL_STAGES)]
    assert (
        truth["any stage"].customers,
        truth["any stage"].completed_if_treated,
        truth["any stage"].completed_if_held_out,
    ) == (4, 3, 1)
    assert truth["any stage"].uplift == 0.5
    assert (truth["phone_verified"].customers, truth["phone_verified"].uplift) == (2, 0.5)
    assert (truth["started"].customers, truth["started"].uplift) == (2, 0.5)
    assert truth["document_rejected"].customers == 0 and truth["document_rejected"].uplift is None


def test_the_journeys_uplift_uses_the_first_recorded_drop_off_and_the_reports_interval() -> None:
    outcomes = {
        "t1": outcome("completed", "completed", "nudge_1", ("phone_verified",)),
        "t2": outcome("abandoned", "phone_verified", "nudge_3", ("phone_verified",)),
        "t3": outcome("completed", "completed", "human_task", ("started", "document_rejected")),
        "t4": outcome("completed", "completed"),  # no drop-off: not counted
        "h1": outcome("completed", "completed", "none", ("phone_verified",)),
        "h2": outcome("abandoned", "phone_verified", "nudge_3", ("phone_verified",)),
        "x": None,  # not ended: not counted
    }
    groups: dict[str, str | None] = {c: "holdout" if c.startswith("h") else "treatment" for c in outcomes}
    rows = {row.stage: row for row in observed_uplift(outcomes, groups)}
    assert (
        rows["any stage"].treated,
        rows["any stage"].treated_recovered,
        rows["any stage"].holdout,
        rows["any stage"].holdout_returned,
    ) == (3, 2, 2, 1)
    assert rows["any stage"].uplift == pytest.approx(2 / 3 - 1 / 2)
    assert (rows["started"].treated, rows["started"].holdout) == (1, 0) and rows["started"].uplift is None
    assert rows["document_rejected"].treated == 0
    truth = true_uplift([_plan(stalls={Stage.PHONE_VERIFIED: (True, NO_REACTION)})], DEMO)
    table = uplift_table(truth, list(rows.values()), title="t")
    headers = [column.header for column in table.columns]
    assert "true uplift (from the cohort's own draws)" in headers
    assert list(table.columns[0].cells) == ["any stage", "phone_verified"]
    assert list(table.columns[2].cells) == ["+0.0 pts", "+0.0 pts"]
    assert list(table.columns[6].cells)[1] == "yes"  # 0 is inside the wide interval of 2 against 2


def test_the_playbook_is_the_one_given_or_the_running_stacks(tmp_path: Path) -> None:
    assert resolve_playbook(Path("x.toml"), tmp_path) == Path("x.toml")
    assert resolve_playbook(None, tmp_path) == DEMO_PLAYBOOK
    other = tmp_path / "mine.toml"
    other.write_text("")
    (tmp_path / "recovery.env").write_text(f"RECOVERY_API_PORT=8000\nRECOVERY_PLAYBOOK={other}\n")
    assert resolve_playbook(None, tmp_path) == other


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
        TaskOutcome.VERIFIED_ON_CALL: 1.0,
        TaskOutcome.UNREACHABLE: 0.5,
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
    early = params.early_life
    assert (defaults["early_fade"], defaults["early_natural_return"], defaults["early_life"]) == (
        early.fade,
        early.natural_return,
        "model",
    )
    assert parse_probabilities(defaults["early_respond"], 4, "") == early.respond
    assert (defaults["natural_return"], defaults["respond_sms"], defaults["opt_out"], defaults["start_rate"]) == (
        params.natural_return,
        params.respond_sms,
        params.opt_out,
        params.start_rate,
    )


def test_the_token_comes_from_the_option_or_the_data_folder(tmp_path: Path) -> None:
    assert resolve_token("given", tmp_path) == "given"
    with pytest.raises(SimulationError, match="no API token"):
        resolve_token(None, tmp_path)
    (tmp_path / "api-token").write_text("from-file\n")
    assert resolve_token(None, tmp_path) == "from-file"


# -- the summary ----------------------------------------------------------------------------------

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def outcome(
    kind: str, stage: str, preceded_by: str = "none", drops: tuple[str, ...] = (), assisted: bool = False
) -> JourneyOutcome:
    return JourneyOutcome(
        kind=OutcomeKind(kind),
        stage=Stage(stage),
        ended_at=NOW,
        reason="test",
        assisted=assisted,
        preceded_by=preceded_by,
        drop_off_stages=[Stage(s) for s in drops],
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
    parts = (
        summary.completed_unassisted
        + summary.recovered_total
        + summary.completed_other
        + summary.abandoned_total
        + summary.opted_out
        + summary.not_ended
    )
    assert parts == summary.started
    assert summarize(list(reversed(outcomes))) == summary, "order does not matter"


def test_summary_of_nothing_and_its_table() -> None:
    empty = summarize([])
    assert (empty.started, empty.completion_rate, empty.abandoned_total) == (0, 0.0, 0)
    summary = summarize(
        [
            outcome("completed", "completed"),
            outcome("abandoned", "document_approved", "nudge_3", ("document_approved",)),
        ]
    )
    table = summary_table(summary, title="t")
    labels = list(table.columns[0].cells)
    assert "recovered after SMS store offer" in labels and "abandoned at document_approved" in labels
    assert list(table.columns[1].cells)[labels.index("completion rate")] == "1/2"
    assert json.loads(summary.model_dump_json())["abandoned"]["document_approved"] == 1


# -- errors the operator sees ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_an_unreachable_api_is_a_clear_error_without_a_traceback(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        RECOVERY,
        "simulate",
        "--customers",
        "3",
        "--api-url",
        f"http://127.0.0.1:{free_port()}",
        "--api-token",
        "x",
        "--data-dir",
        str(tmp_path),
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 1
    assert "cannot reach the API" in err.decode() and "Traceback" not in err.decode() + out.decode()
    process = await asyncio.create_subprocess_exec(
        RECOVERY,
        "simulate",
        "--data-dir",
        str(tmp_path),
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 1 and "no API token" in err.decode()


# -- a cohort end to end --------------------------------------------------------------------------

HOLDOUT_SHARE = 0.3  # the demo playbook with a larger holdout, so a small cohort has several held-out customers
# ... and a short early life, so a run can live it: dormant after 8 s (activity comes every 2.4-7.2 s), watched 30 s
EARLY_LIFE = {
    'period = "900s"': 'period = "30s"',
    'dormant_after = "168s"': 'dormant_after = "8s"',
    'nudge_spacing = ["30s"]\ndeep_link = "app://home"': 'nudge_spacing = ["3s"]\ndeep_link = "app://home"',
    'after = "30s", task_kind = "retention_call"': 'after = "3s", task_kind = "retention_call"',
}


def _quick_cohort(customers: int, playbook: Playbook) -> CohortParams:
    """A fresh seed whose cohort ends within about one recovery window yet exercises the journey: at most one
    drop-off per customer; in the holdout, a customer who comes back alone and one who does not; among the
    treated, one who comes back alone, one who answers a nudge, one an agent takes over; and some who never stop."""
    stall = {stage: 0.1 for stage in STALL_STAGES}
    stores = store_locations()  # the ones `simulate` plans with: the store drawn shifts every later draw
    base = fresh_seed()
    for seed in range(base, base + 20_000):
        params = CohortParams(customers=customers, seed=seed, stall=stall, natural_return=0.4, start_rate=12.0)
        plans = plan_cohort(params, stores=stores)
        if any(len(p.drop_stages) > 1 for p in plans) or sum(not p.drop_stages for p in plans) < 3:
            continue
        held = {
            p.customer_id
            for p in plans
            if recovery_group(p.customer_id, playbook.holdout_share) is RecoveryGroup.HOLDOUT
        }
        dropped = [(p, p.stalls[p.drop_stages[0]]) for p in plans if p.drop_stages]
        predicted = {p.customer_id: journey_outcome(p, playbook, p.customer_id not in held) for p in plans}
        if max(p.start_after + predicted[p.customer_id].ended_at for p in plans) > 52:
            continue  # within one recovery window of the last start
        held_returns = {s.natural_return for p, s in dropped if p.customer_id in held}
        treated = [(p, s, predicted[p.customer_id]) for p, s in dropped if p.customer_id not in held]
        if (
            held_returns == {True, False}
            and any(s.natural_return for _, s, _ in treated)
            and any(not s.natural_return and o.preceded_by.startswith("nudge") and o.completed for _, s, o in treated)
            and any(o.task_outcomes for _, _, o in treated)
        ):
            return replace(params, seed=seed)
    raise AssertionError("no suitable seed")


def _late_drop_offs(view: JourneyView, expected: tuple[Stage, ...]) -> tuple[set[Stage], list[Stage]]:
    """The drop-offs a journey saw where the customer did not stop, split into those explained by the
    machine being slow (the next event reached the journey 1 s or more after the previous one happened,
    which is exactly when its drop-off clock runs out) and those that are not (a bug)."""
    assert view.outcome is not None
    funnel = [e for e in view.events if e.type in STAGE_OF_EVENT and e.effect.value == "advanced"]
    late, unexplained = set(), []
    for stage in set(view.outcome.drop_off_stages) - set(expected):
        gaps = [
            (b.received_at - a.occurred_at).total_seconds()
            for a, b in itertools.pairwise(funnel)
            if STAGE_OF_EVENT[a.type] is stage
        ]
        if any(gap >= 0.95 for gap in gaps):
            late.add(stage)
        else:
            unexplained.append(stage)
    return late, unexplained


def _story(view: JourneyView, plan: CustomerPlan, expected: object) -> str:
    lines = [f"{plan.customer_id} ({view.recovery_group.value}): {plan.stalls}", f"expected {expected}"]
    lines += [
        f"event {e.type.value} occurred {e.occurred_at.isoformat()} received {e.received_at.isoformat()} "
        f"{e.effect.value}"
        for e in view.events
    ]
    lines += [f"decision {d.at.isoformat()} {d.action.value} {d.reason} {d.detail}" for d in view.decisions]
    return "\n".join(lines)


@pytest.fixture
async def stack(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[tuple[str, RecoveryClient, Path, Path, Engine]]:
    """The real API app under uvicorn on a free port, a worker on its own task queue and outbox; journeys pin
    the demo playbook with a larger holdout, kept in a file for the command's --playbook."""
    from starters.api import create_app

    demo = (ROOT / "playbooks" / "demo.toml").read_text()
    assert "holdout_share = 0.10" in demo
    playbook_file = tmp_path / "demo-holdout.toml"
    demo = demo.replace("holdout_share = 0.10", f"holdout_share = {HOLDOUT_SHARE}")
    for old, new in EARLY_LIFE.items():
        assert demo.count(old) == 1, old
        demo = demo.replace(old, new)
    playbook_file.write_text(demo)
    settings = bench_settings(tmp_path, api_token=TOKEN)
    journal = open_journal(settings.journal_database_url)  # the worker's; the API takes it when a test says so
    migrate(journal)
    recovery = RecoveryClient(dev_server_env.client, load_playbook(playbook_file), settings.task_queue)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, recovery=recovery), host="127.0.0.1", port=port, log_level="warning")
    )
    async with build_worker(dev_server_env.client, settings):
        serving = asyncio.create_task(server.serve())
        while not server.started:
            assert not serving.done(), "uvicorn did not start"
            await asyncio.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}", recovery, tmp_path, playbook_file, journal
        finally:
            server.should_exit = True
            await serving


async def _command(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        RECOVERY,
        "simulate",
        *args,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.timeout(210)
async def test_a_cohort_runs_through_the_api_until_every_journey_ended(
    stack: tuple[str, RecoveryClient, Path, Path, Engine],
) -> None:
    url, recovery, data_dir, playbook_file, journal = stack
    playbook = recovery.playbook
    with pytest.raises(SimulationError, match="refused the token"):
        await simulate(
            SimulationConfig(
                params=CohortParams(customers=1, seed=fresh_seed()), api_url=url, api_token="wrong", data_dir=data_dir
            )
        )

    params = _quick_cohort(16, playbook)
    config = SimulationConfig(
        params=params,
        api_url=url,
        api_token=TOKEN,
        data_dir=data_dir,
        timeout=120,
        journey_poll=1.0,
        playbook=playbook,
    )
    seen: list[tuple[int, int]] = []
    result = await simulate(config, progress=lambda done, total: seen.append((done, total)))
    try:
        summary = result.summary
        assert not result.timed_out and summary.not_ended == 0, result.outcomes
        assert seen[-1] == (16, 16)
        assert summary.started == 16
        assert (
            summary.completed_unassisted
            + summary.recovered_total
            + summary.completed_other
            + summary.abandoned_total
            + summary.opted_out
        ) == 16

        views = {plan.customer_id: await recovery.journey(plan.customer_id) for plan in result.plans}
        assert summarize([view.outcome for view in views.values()]) == summary
        assert all(view.outcome == result.outcomes[cid] for cid, view in views.items())

        # each customer's group: from the id and the playbook's share, as the journey says
        share = playbook.holdout_share
        assert all(
            result.groups[cid] == view.recovery_group == recovery_group(cid, share) for cid, view in views.items()
        )
        holdout = {cid for cid, group in result.groups.items() if group == RecoveryGroup.HOLDOUT}
        assert holdout and result.holdout == len(holdout)
        # no holdout customer received a message
        onboarding = [r for r in read_outbox(data_dir / "outbox.jsonl") if not is_early_life_record(r)]
        assert not [record for record in onboarding if record["customer_id"] in holdout]
        assert result.holdout_messaged == 0 and not any("holdout" in note for note in result.notes)

        returned_alone = 0
        for plan in result.plans:
            view = views[plan.customer_id]
            assert view.timezone == plan.timezone and view.locale == "en"
            assert view.outcome is not None
            treated = view.recovery_group is RecoveryGroup.TREATMENT
            expected = journey_outcome(plan, playbook, treated)
            story = _story(view, plan, expected)
            # every stall is a real drop-off the journey records; a pause never is one, unless the journey saw
            # the next event late (a busy machine)
            assert set(expected.drop_off_stages) <= set(view.outcome.drop_off_stages), story
            late, unexplained = _late_drop_offs(view, expected.drop_off_stages)
            assert not unexplained, story
            # the journey ends as the pure model of the plan says
            assert (view.outcome.kind, view.outcome.stage) == (expected.kind, expected.stage), story
            if not late:
                assert view.outcome.preceded_by == expected.preceded_by, story
                assert [f"{m.stage.value}:{message_label(m.kind.value, m.attempt)}" for m in view.messages] == list(
                    expected.messages
                ), story
            if not treated:
                assert view.messages == [] and view.outcome.messages_sent == 0, story
                if plan.drop_stages and plan.stalls[plan.drop_stages[0]].natural_return:
                    # a natural returner in the holdout: dropped off, came back alone, completed, no message at all
                    assert view.outcome.kind is OutcomeKind.COMPLETED, story
                    assert view.outcome.drop_off_stages == plan.drop_stages and view.outcome.preceded_by == "none", (
                        story
                    )
                    returned_alone += 1
        assert returned_alone >= 1
        # every task the cohort's journeys opened was worked by the simulated agents, or closed
        tasks = [task for view in views.values() for task in view.tasks]
        assert tasks and all(task.state.value in ("completed", "closed") for task in tasks)
        completed = [task for task in tasks if task.state.value == "completed"]
        assert sum(result.agent_outcomes.values()) == len(completed)
        assert all((task.completed_by or "").startswith("sim-agent-") for task in completed)

        # the true uplift printed is the pure computation over the drawn plans; the journeys' figure counts the groups
        printed = result.to_json()
        assert printed["summary"] == summary.model_dump()
        assert printed["true_uplift"] == [row.model_dump() for row in true_uplift(plan_cohort(params), playbook)]
        any_stage = printed["observed_uplift"][0]
        assert any_stage["stage"] == "any stage"
        dropped = [cid for cid, view in views.items() if view.outcome and view.outcome.drop_off_stages]
        assert any_stage["treated"] + any_stage["holdout"] == len(dropped) == printed["true_uplift"][0]["customers"]
        assert any_stage["holdout"] == len(holdout & set(dropped))
        # early life, modelled on a virtual clock (the default): the activated customers, truth and report
        early = result.early_life
        assert early is not None and (early.mode.value, early.source) == ("model", "journal filled by the model")
        assert early.truth.customers == early.report.journeys == early.report.ended == summary.completed
        assert (early.report.went_dormant, early.report.retained) == (early.truth.went_dormant, early.truth.retained)
        assert printed["early_life"] == early.model_dump(mode="json")
    finally:
        for plan in result.plans:
            try:
                await recovery.temporal.get_workflow_handle(workflow_id_for(plan.customer_id)).terminate(
                    "test finished"
                )
            except RPCError:
                pass  # ended

    # the command itself, with the token from the data folder: the same seed again is refused at once
    (data_dir / "api-token").write_text(TOKEN)
    common = ("--api-url", url, "--data-dir", str(data_dir), "--playbook", str(playbook_file))
    code, out, err = await _command("--customers", "3", "--seed", str(params.seed), *common)
    assert code == 1 and "Traceback" not in out + err
    assert (
        f"a cohort with seed {params.seed} already ran against this system: use another --seed or a fresh data folder"
        in " ".join(err.split())
    )

    # from here the API has the journal, as `recovery up`'s has: its report (early life lived below) reads it.
    # (Not before: its intake ledger makes events slower to accept, and the first run's 1 s drop-offs sharper.)
    recovery.journal = journal

    # a cohort that stops once, at the passport photo, and answers the first nudge: all treated, done in seconds
    stops_once = [
        f"--{flag}=0"
        for flag in (
            "drop-started",
            "reject-document",
            "drop-document-approved",
            "fail-biometric",
            "drop-biometric-passed",
        )
    ]
    seed = next(
        s
        for s in range(fresh_seed(), 10**10)
        if all(recovery_group(f"sim-{s}-{i:04d}", share) is RecoveryGroup.TREATMENT for i in range(4))
    )
    code, out, err = await _command(
        "--customers",
        "4",
        "--seed",
        str(seed),
        "--start-rate",
        "10",
        *common,
        "--drop-phone-verified=1",
        *stops_once,
        "--natural-return=0",
        "--respond-nudge=1,0,0",
        "--opt-out=0",
        "--early-life=live",
        "--json",
        timeout=90,
    )
    assert code == 0, err
    printed = json.loads(out)
    assert (printed["seed"], printed["customers"], printed["would_not_activate_without_help"]) == (seed, 4, 4)
    assert printed["summary"]["recovered"]["nudge_1"] == 4
    assert printed["customer_ids"] == [f"sim-{seed}-{i:04d}" for i in range(4)]
    assert printed["playbook"] == playbook.version
    stall = {stage: 0.0 for stage in STALL_STAGES} | {Stage.PHONE_VERIFIED: 1.0}
    cohort = CohortParams(
        customers=4, seed=seed, stall=stall, natural_return=0, respond_nudge=(1, 0, 0), opt_out=0, start_rate=10
    )
    assert printed["true_uplift"] == [row.model_dump() for row in true_uplift(plan_cohort(cohort), playbook)]
    assert printed["true_uplift"][0] == {
        "stage": "any stage",
        "customers": 4,
        "completed_if_treated": 4,
        "completed_if_held_out": 0,
        "uplift": 1.0,
    }
    assert printed["holdout"] == {"journeys": 0, "completed": 0, "messaged": 0}
    # their early life, lived against the running system (activity events, early-life nudges, retention calls):
    # the running system's report says what the model of the same customers says
    early = printed["early_life"]
    assert (early["mode"], early["source"]) == ("live", "GET /v1/report")
    truth, report = early["truth"], early["report"]
    assert truth["customers"] == report["journeys"] == report["ended"] == 4
    assert (report["went_dormant"], report["retained"]) == (truth["went_dormant"], truth["retained"]), early
    assert not any("early" in note for note in printed["notes"]), printed["notes"]
