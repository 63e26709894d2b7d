"""What of a journey goes to the durable journal, and which part is new since the last flush."""

from workflows.contracts import JournalBatch, JournalEntry, JourneySummary, TaskSnapshot
from workflows.funnel import MAIN_PATH, Stage, funnel_position
from workflows.human_tasks import HumanTask
from workflows.journey_state import TASK_ACTIONS, DecisionAction, EventEffect, JourneyState, status_of


def furthest_stage(state: JourneyState) -> Stage:
    """The furthest stage of the main path the customer reached (a rejection reached 'uploaded')."""
    reached = [Stage.STARTED, state.stage, *state.stages_of_dropped_events] + [
        e.stage for e in state.events if e.effect is EventEffect.ADVANCED and e.stage is not None
    ]
    return max(
        (s for s in MAIN_PATH if any(funnel_position(r) >= funnel_position(s) for r in reached)), key=funnel_position
    )


def unjournaled_batch(state: JourneyState, workflow_id: str, run_key: str) -> JournalBatch | None:
    """Everything recorded since the last flush, or None when nothing is new."""
    entries = [
        JournalEntry(
            entry_id=f"{workflow_id}:{run_key}:e{index}",
            at=event.occurred_at,
            kind="event",
            name=event.type.value,
            stage=event.stage or state.stage,
            reason=event.effect.value,
            detail=event.detail,
        )
        for index, event in enumerate(state.events, start=state.events_dropped)
        if index >= state.journaled_events
    ] + [
        JournalEntry(
            entry_id=f"{workflow_id}:{run_key}:d{index}",
            at=decision.at,
            kind="decision",
            name=decision.action.value,
            stage=decision.stage,
            reason=decision.reason,
            detail=decision.detail,
        )
        for index, decision in enumerate(state.decisions, start=state.decisions_dropped)
        if index >= state.journaled_decisions
    ]
    outcome = state.outcome
    if not entries and not (outcome and not state.outcome_journaled):
        return None
    return JournalBatch(
        journey=JourneySummary(
            workflow_id=workflow_id,
            journey_id=f"{workflow_id}:{run_key}",
            customer_id=state.customer_id,
            playbook_version=state.playbook_version,
            recovery_group=state.group.value,
            started_at=state.started_at,
            stage=state.stage,
            status=status_of(state).value,
            furthest_stage=furthest_stage(state),
            drop_off_stages=state.drop_off_stages,
            messages_sent=len(state.messages_out),
            nudges_sent=state.nudges_sent,
            outcome=outcome.kind.value if outcome else None,
            outcome_reason=outcome.reason if outcome else None,
            preceded_by=outcome.preceded_by if outcome else None,
            assisted=outcome.assisted if outcome else False,
            ended_at=outcome.ended_at if outcome else None,
        ),
        entries=entries,
        tasks=task_snapshots(state.tasks, state.customer_id, workflow_id, state.profile.timezone),
    )


def task_snapshots(
    tasks: list[HumanTask], customer_id: str, workflow_id: str, timezone: str | None
) -> list[TaskSnapshot]:
    """Every task a journey holds (bounded: live ones and the last few ended), as the inbox lists it; both
    journey types (onboarding, early life) send theirs this way. Task moves are decisions, so a batch
    goes out after each; an ended task's snapshot takes it off the list."""
    return [
        TaskSnapshot(
            task_id=t.task_id,
            kind=t.kind.value,
            reason=t.reason.value,
            stage=t.stage,
            detail=t.detail,
            state=t.state.value,
            claimed_by=t.claimed_by,
            opened_at=t.opened_at,
            due_at=t.due_at,
            customer_id=customer_id,
            workflow_id=workflow_id,
            timezone=timezone,
        )
        for t in tasks
    ]


EVENTS_PER_FLUSH = 20


# Decisions the journal takes at once: what changes who works the journey, and how it ends. Messages,
# deferrals and suppressions wait for the next of these, the end, or a batch of them.
MILESTONES = TASK_ACTIONS | {DecisionAction.ESCALATED, DecisionAction.OPS_ALERTED, DecisionAction.ENDED}


def journal_due(state: JourneyState, *, at_milestones: bool) -> bool:
    """Write when something worth reporting happened, not on every event: each write is a billed activity.

    The first wake-up gives the journey its row and the outcome goes out at once; plain progress
    events wait for a decision, the end, or a batch of them. With `at_milestones` (bounded journeys)
    only a milestone decision goes out at once, so a nudge costs one activity (the send), not two.
    """
    first = state.journaled_events == 0 and state.journaled_decisions == 0
    pending = state.decisions[max(0, state.journaled_decisions - state.decisions_dropped) :]
    decisions_due = any(d.action in MILESTONES for d in pending) if at_milestones else bool(pending)
    return (
        first
        or decisions_due
        or len(pending) >= EVENTS_PER_FLUSH
        or (state.outcome is not None and not state.outcome_journaled)
        or state.events_recorded - state.journaled_events >= EVENTS_PER_FLUSH
    )


def journal_position(state: JourneyState) -> tuple[int, int, bool]:
    """How far a batch built now reaches; what arrives while it is written goes in the next one."""
    return state.events_recorded, state.decisions_recorded, state.outcome is not None


def mark_journaled(state: JourneyState, position: tuple[int, int, bool]) -> None:
    state.journaled_events, state.journaled_decisions, state.outcome_journaled = position
