"""`recovery simulate`'s early life: the draws, what a customer does after activation, what the early-life
journey's own rules make of it on the virtual clock, and the report's figures over a journal filled by
that model against the truth from the draws."""

from dataclasses import replace
from datetime import timedelta

import pytest

from simulator.cohort import CohortParams, CustomerPlan, plan_cohort
from simulator.early_life_cohort import EarlyLifeBehaviour, EarlyLifeDraw, EarlyLifeParams
from simulator.early_life_model import early_life_outcome
from simulator.early_life_truth import (
    early_life_groups,
    early_life_table,
    in_own_group,
    modelled_figures,
    play_early_life,
    true_early_life,
    truth_in_interval,
)
from simulator.journey_model import EPOCH
from workflows.early_life_state import EarlyLifeOutcomeKind
from workflows.holdout import RecoveryGroup
from workflows.human_tasks import TaskOutcome
from workflows.playbook import PLAYBOOKS_DIR, Playbook, load_playbook

DEMO = load_playbook(PLAYBOOKS_DIR / "demo.toml")  # early life: 900 s, dormant after 168 s, 2 nudges 30 s apart,
# then a retention call 30 s later


def with_early_holdout(playbook: Playbook, share: float) -> Playbook:
    return playbook.model_copy(update={"early_life": playbook.early_life.model_copy(update={"holdout_share": share})})


def customer(
    *,
    fades: bool = True,
    fade_at: float = 0.0,
    returns: float | None = None,
    respond_to: str | None = None,
    call: TaskOutcome = TaskOutcome.VERIFIED_ON_CALL,
) -> CustomerPlan:
    """A hand-built customer: active every 0.5 x dormant_after (84 s on the demo playbook) until they fade at
    `fade_at` of the period, back alone `returns` x dormant_after after the dormancy began, acting on
    `respond_to` 0.05 x dormant_after (8.4 s) after it; the agents' retention call ends with `call`."""
    template = plan_cohort(CohortParams(customers=1, seed=1))[0]
    draw = EarlyLifeDraw(
        fades=fades,
        fade_at=fade_at,
        natural_return=returns is not None,
        return_after=returns or 0.5,
        respond_to=respond_to,
        reaction_delay=0.05,
        gaps=(0.5,) * 8,
        kinds=("transaction", "login") * 4,
    )
    task = replace(template.tasks[0], outcome=call, pickup_delay=0.5, call_duration=1.0)
    return replace(template, early_life=draw, tasks=(task,) * 4)


def test_the_same_seed_draws_the_same_early_lives_and_the_onboarding_draws_do_not_move() -> None:
    params = CohortParams(customers=300, seed=4)
    first, again = plan_cohort(params), plan_cohort(params)
    assert [p.early_life for p in first] == [p.early_life for p in again]
    changed = plan_cohort(replace(params, early_life=EarlyLifeParams(fade=0.9, respond=(0.9, 0, 0, 0))))
    assert [p.essence()[:-1] for p in first] == [p.essence()[:-1] for p in changed], "onboarding draws unchanged"
    assert [p.early_life.gaps for p in first] == [p.early_life.gaps for p in changed]
    behaviours = {p.early_life.behaviour for p in first}
    assert behaviours == set(EarlyLifeBehaviour)
    assert {p.early_life.respond_to for p in first} == {"nudge_1", "nudge_2", "nudge_3", "escalation", None}
    assert all(max(p.early_life.gaps) < 1 for p in first), "an active customer never goes quiet for dormant_after"
    with pytest.raises(ValueError, match="probability"):
        EarlyLifeParams(fade=2)


def test_a_customer_who_stays_active_is_retained_with_no_message() -> None:
    for treated in (True, False):
        life = early_life_outcome(customer(fades=False), DEMO, treated)
        assert (life.kind, life.went_dormant, life.messages) == (EarlyLifeOutcomeKind.RETAINED, False, ())
        assert life.ended_at == 900 and len(life.activity) == 10  # every 84 s


def test_a_customer_who_fades_gets_the_nudges_then_the_retention_call() -> None:
    faded = customer(fade_at=0.2)  # last active at 168 s: dormant at 336 s
    treated = early_life_outcome(faded, DEMO, True)
    assert treated.messages == ("nudge_1", "nudge_2", "escalation")
    assert (treated.kind, treated.went_dormant, treated.re_engaged) == (EarlyLifeOutcomeKind.DORMANT, True, False)
    assert [a.outcome for a in treated.agent_actions] == [None, TaskOutcome.VERIFIED_ON_CALL]
    assert treated.agent_actions[0].at == pytest.approx(336 + 60 + 0.5 + 0.5)
    held_out = early_life_outcome(faded, DEMO, False)
    assert (held_out.kind, held_out.messages, held_out.agent_actions) == (EarlyLifeOutcomeKind.DORMANT, (), ())


def test_a_customer_who_answers_a_nudge_comes_back_only_when_treated() -> None:
    plan = customer(respond_to="nudge_2")  # never active: dormant at 168 s, nudge 2 at 198 s, back 8.4 s later
    treated = early_life_outcome(plan, DEMO, True)
    assert treated.messages == ("nudge_1", "nudge_2") and treated.re_engaged
    assert treated.kind is EarlyLifeOutcomeKind.RETAINED and treated.activity[0] == pytest.approx(198 + 8.4)
    held_out = early_life_outcome(plan, DEMO, False)
    assert (held_out.kind, held_out.re_engaged, held_out.activity) == (EarlyLifeOutcomeKind.DORMANT, False, ())
    # the retention call reaches them unless the agent could not; then nothing brings them back
    called = early_life_outcome(customer(respond_to="escalation"), DEMO, True)
    assert called.re_engaged and called.kind is EarlyLifeOutcomeKind.RETAINED
    missed = customer(respond_to="escalation", call=TaskOutcome.UNREACHABLE)
    assert not early_life_outcome(missed, DEMO, True).re_engaged


def test_a_natural_return_comes_in_both_groups_and_counts_as_re_engagement_in_both() -> None:
    plan = customer(fade_at=0.1, returns=0.25)  # active at 84 s, dormant at 252 s, back 42 s later
    for treated in (True, False):
        life = early_life_outcome(plan, DEMO, treated)
        assert (life.kind, life.went_dormant, life.re_engaged) == (EarlyLifeOutcomeKind.RETAINED, True, True)
        assert life.activity[1] == pytest.approx(252 + 42)


def test_the_reports_re_engagement_uplift_from_a_journal_the_model_filled_holds_the_truth() -> None:
    """A few hundred customers on the default playbook (30 days, dormant after 7): the journal the early-life
    journeys would write, read by the report's own query; its interval holds the uplift the draws give."""
    playbook = with_early_holdout(load_playbook(PLAYBOOKS_DIR / "default.toml"), 0.4)
    plans = plan_cohort(CohortParams(customers=240, seed=21))
    activated = [(plan, EPOCH + timedelta(hours=plan.start_after)) for plan in plans]
    both = play_early_life(activated, playbook)
    groups = early_life_groups(plans, playbook)
    assert 60 <= sum(g is RecoveryGroup.HOLDOUT for g in groups.values()) <= 130
    until = EPOCH + timedelta(days=40)
    truth = true_early_life(activated, both, groups, until)
    figures = modelled_figures(in_own_group(both, groups), until)

    assert truth.went_dormant == figures.went_dormant and 60 <= truth.went_dormant <= 160
    assert truth.re_engaged_if_treated > truth.re_engaged_if_held_out > 0, "nudges work, and some come back alone"
    up = figures.re_engagement_uplift
    assert up.ci_low is not None and up.ci_high is not None and truth.uplift is not None
    assert up.ci_low <= truth.uplift <= up.ci_high, (truth, up)
    assert up.ci_low > 0 and truth_in_interval(truth, figures)
    # retention as the report defines it is what the customers did
    assert figures.journeys == figures.ended == truth.customers == 240
    assert figures.retained == truth.retained
    assert figures.retention == truth.retention and figures.eligible == truth.eligible == {"7d": 240, "30d": 240}
    assert truth.retention["30d"] is not None and 0.4 < truth.retention["30d"] < 0.9

    table = early_life_table(truth, figures, "journal filled by the model")
    rows = list(table.columns[0].cells)
    assert rows[-1] == "re-engagement uplift" and list(table.columns[3].cells)[-1] == "yes"
    assert "retention at 30d" in rows
