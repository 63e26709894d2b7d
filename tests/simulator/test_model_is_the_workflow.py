"""One set of rules: the simulator's predicted journey of a scripted customer is what the real workflow
does with the same customer on the time-skipping server (the default playbook: hours, quiet hours, the
frequency cap), events and agents' actions sent at the moments the model says they happen."""

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from simulator.agent_desk import AgentAction
from simulator.cohort import (
    STALL_STAGES,
    CohortParams,
    CustomerPlan,
    Reaction,
    ReactionKind,
    StallPlan,
    TaskPlan,
    plan_cohort,
)
from simulator.customer import message_label
from simulator.journey_model import journey_outcome
from tests.harness import Bench
from workflows.events import OnboardingEvent
from workflows.funnel import Stage
from workflows.human_tasks import TaskOutcome
from workflows.playbook import Playbook

HOUR = 3600.0
NONE = Reaction(ReactionKind.NONE)


def scripted(
    bench: Bench,
    stalls: dict[Stage, Reaction],
    returns: dict[Stage, float] | None = None,
    tasks: tuple[TaskOutcome, ...] = (TaskOutcome.VERIFIED_ON_CALL,),
) -> CustomerPlan:
    """A customer in the bench's time zone who stops where `stalls` says, reacts as it says after 30 minutes,
    comes back alone after `returns` hours, steps 10 minutes apart; agents take 10 minutes and call for 20."""
    returns = returns or {}
    plans = {
        stage: StallPlan(
            stage,
            stalls=stage in stalls or stage in returns,
            natural_return=stage in returns,
            reaction=stalls.get(stage, NONE),
            reaction_delay=0.5 * HOUR,
            return_after=returns.get(stage, 0.0) * HOUR,
        )
        for stage in STALL_STAGES
    }
    template = plan_cohort(CohortParams(customers=1, seed=1))[0]
    return replace(
        template,
        customer_id=f"sim-{uuid.uuid4().hex[:10]}",
        timezone=bench.timezone,
        stalls=plans,
        step_delays=(600.0,) * 16,
        tasks=tuple(TaskPlan(outcome, 600.0, 1200.0) for outcome in tasks),
    )


SCRIPTS = {
    "answers nudge 2": lambda b: scripted(b, {Stage.PHONE_VERIFIED: Reaction(ReactionKind.RESPOND, "nudge_2")}),
    "silent: nudges into quiet hours, the capped third, the store offer": lambda b: scripted(
        b, {Stage.DOCUMENT_APPROVED: NONE}
    ),
    "a human task, verified on the call": lambda b: scripted(b, {Stage.DOCUMENT_REJECTED: NONE}),
    "unreachable, then the store offer answered": lambda b: scripted(
        b,
        {Stage.BIOMETRIC_FAILED: Reaction(ReactionKind.RESPOND, "sms_store_offer")},
        tasks=(TaskOutcome.UNREACHABLE,),
    ),
    "opts out at nudge 1, comes back alone, silent later": lambda b: scripted(
        b,
        {Stage.STARTED: Reaction(ReactionKind.OPT_OUT, "nudge_1"), Stage.BIOMETRIC_PASSED: NONE},
        returns={Stage.STARTED: 20},
    ),
}


@pytest.mark.parametrize("script", list(SCRIPTS))
async def test_the_predicted_journey_is_the_workflows(bench: Bench, default_playbook: Playbook, script: str) -> None:
    plan = SCRIPTS[script](bench)
    start = await bench.now()
    predicted = journey_outcome(plan, default_playbook, treated=True, start=start)
    inputs: list[tuple[datetime, OnboardingEvent | AgentAction]] = [
        (event.occurred_at, event) for event in predicted.events
    ]
    inputs += [(start + timedelta(seconds=action.at), action) for action in predicted.agent_actions]
    bench.customers.add(plan.customer_id)
    for at, item in sorted(inputs, key=lambda pair: pair[0]):
        ahead = at - await bench.now()
        if ahead > timedelta(0):
            await bench.env.sleep(ahead + timedelta(seconds=1))  # the event happened at `at`, arrives just after
        if isinstance(item, OnboardingEvent):
            await bench.client.record_event(item)
        elif item.outcome is None:
            await bench.client.claim_task(item.task_id, "sim-agent")
        else:
            await bench.client.complete_task(item.task_id, "sim-agent", item.outcome)
    ended = start + timedelta(seconds=predicted.ended_at + 60)
    await bench.env.sleep(max(ended - await bench.now(), timedelta(seconds=1)))  # past the predicted end
    outcome = await bench.outcome(plan.customer_id)
    view = await bench.view(plan.customer_id)

    assert (outcome.kind, outcome.stage, outcome.preceded_by) == (
        predicted.kind,
        predicted.stage,
        predicted.preceded_by,
    )
    assert tuple(outcome.drop_off_stages) == predicted.drop_off_stages
    assert (
        tuple(f"{m.stage.value}:{message_label(m.kind.value, m.attempt)}" for m in view.messages) == predicted.messages
    )
    assert tuple(t.outcome for t in view.tasks if t.outcome is not None) == predicted.task_outcomes
    assert abs((outcome.ended_at - start).total_seconds() - predicted.ended_at) < 60  # inputs arrive a second late
    assert predicted.messages, "each script is messaged"
