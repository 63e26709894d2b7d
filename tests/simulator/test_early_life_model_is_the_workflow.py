"""One set of rules after activation too: the simulator's predicted early life of a scripted customer is
what the real early-life journey does with the same customer on the time-skipping server (the default
playbook: 30 days, dormant after 7, nudges 2 days apart in the customer's daytime, then a retention
call), activity and agents' actions sent at the moments the model says they happen."""

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from simulator.agent_desk import AgentAction
from simulator.cohort import CohortParams, CustomerPlan, TaskPlan, plan_cohort
from simulator.early_life_cohort import EarlyLifeDraw
from simulator.early_life_model import early_life_outcome
from tests.harness import Bench
from tests.workflows.test_early_life import early_messages, journal_row, period_outcome
from workflows.early_life_input import plan_of
from workflows.early_life_state import early_life_group
from workflows.events import OnboardingEvent
from workflows.holdout import RecoveryGroup
from workflows.human_tasks import TaskOutcome
from workflows.playbook import Playbook


def scripted(
    bench: Bench,
    playbook: Playbook,
    *,
    fades: bool = True,
    returns: float | None = None,
    respond_to: str | None = None,
    call: TaskOutcome = TaskOutcome.VERIFIED_ON_CALL,
) -> CustomerPlan:
    """A customer of the early-life treatment group in the bench's time zone: active every 0.45 x dormant_after
    (3.15 days) unless they fade (at once: never active after activation), back alone `returns` x dormant_after
    after the dormancy began, acting on `respond_to` 0.05 x dormant_after (8.4 h) after it; agents take the
    retention call after 10 minutes and call for 20, with `call`."""
    share = plan_of(playbook).holdout_share
    customer_id = next(
        cid
        for cid in (f"sim-{uuid.uuid4().hex[:10]}" for _ in range(100))
        if early_life_group(cid, share) is RecoveryGroup.TREATMENT
    )
    draw = EarlyLifeDraw(
        fades=fades,
        fade_at=0.0,
        natural_return=returns is not None,
        return_after=returns or 0.5,
        respond_to=respond_to,
        reaction_delay=0.05,
        gaps=(0.45,) * 8,
        kinds=("transaction", "top_up", "login", "login") * 2,
    )
    template = plan_cohort(CohortParams(customers=1, seed=1))[0]
    return replace(
        template,
        customer_id=customer_id,
        timezone=bench.timezone,
        early_life=draw,
        tasks=(TaskPlan(call, 600.0, 1200.0),) * 4,
    )


SCRIPTS: dict[str, dict[str, Any]] = {
    "stays active": {"fades": False},
    "answers nudge 2": {"respond_to": "nudge_2"},
    "comes back after the retention call": {"respond_to": "escalation"},
    "the call reaches no one; back alone later": {
        "respond_to": "escalation",
        "call": TaskOutcome.UNREACHABLE,
        "returns": 0.9,
    },
    "never comes back": {},
}


@pytest.mark.parametrize("script", list(SCRIPTS))
async def test_the_predicted_early_life_is_the_workflows(bench: Bench, default_playbook: Playbook, script: str) -> None:
    plan = scripted(bench, default_playbook, **SCRIPTS[script])
    bench.customer_id = plan.customer_id
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.completed")
    activated_at = (await bench.outcome()).ended_at
    predicted = early_life_outcome(plan, default_playbook, treated=True, activated_at=activated_at)
    inputs: list[tuple[datetime, OnboardingEvent | AgentAction]] = [(e.occurred_at, e) for e in predicted.events]
    inputs += [(activated_at + timedelta(seconds=a.at), a) for a in predicted.agent_actions]
    for at, item in sorted(inputs, key=lambda pair: pair[0]):
        ahead = at - await bench.now()
        if ahead > timedelta(0):
            await bench.env.sleep(ahead + timedelta(seconds=1))  # it happened at `at`, arrives just after
        if isinstance(item, OnboardingEvent):
            assert (await bench.client.record_event(item)).accepted
        elif item.outcome is None:
            await bench.client.claim_task(item.task_id, "sim-agent")
        else:
            await bench.client.complete_task(item.task_id, "sim-agent", item.outcome)
    ended = activated_at + timedelta(seconds=predicted.ended_at + 60)
    await bench.env.sleep(max(ended - await bench.now(), timedelta(seconds=1)))
    outcome = await period_outcome(bench)
    row = journal_row(bench)

    assert outcome.kind is predicted.kind
    assert (row["dormant_at"] is not None, row["re_engaged_at"] is not None) == (
        predicted.went_dormant,
        predicted.re_engaged,
    )
    nudges = [f"nudge_{m['attempt']}" for m in early_messages(bench)]
    assert nudges == [m for m in predicted.messages if m.startswith("nudge")]
    view = await bench.early_life()
    assert [t.outcome for t in view.tasks if t.outcome is not None] == [
        a.outcome for a in predicted.agent_actions if a.outcome is not None
    ]
    assert view.activity_events == len(predicted.events)
    if script != "stays active":
        assert predicted.went_dormant and predicted.messages, "each fading script is messaged"
