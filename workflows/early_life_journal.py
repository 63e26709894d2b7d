"""What of an early-life journey goes to the journal: its row (one per journey) and its new decisions.

The row is what the report's early-life figures read (journal/early_life.py): group, activation,
activity, dormancy, nudges, re-engagement and outcome. Decisions go to its audit entries (`early_life_entries`)
and tasks to the agents' inbox table, as onboarding's do.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from workflows.contracts import JournalEntry, TaskSnapshot
from workflows.early_life_state import EarlyLifeState, status_of
from workflows.funnel import Stage
from workflows.journal_entries import task_snapshots


class EarlyLifeSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    journey_id: str  # `<workflow id>:<run key>`
    workflow_id: str
    customer_id: str
    playbook_version: str
    recovery_group: str
    status: str
    activated_at: datetime
    last_activity_at: datetime | None = None
    dormant_at: datetime | None = None
    nudges: int = 0
    re_engaged_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None


class EarlyLifeBatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    journey: EarlyLifeSummary
    entries: list[JournalEntry]
    tasks: list[TaskSnapshot]


def early_life_batch(state: EarlyLifeState, workflow_id: str, run_key: str) -> EarlyLifeBatch:
    journey_id = f"{workflow_id}:{run_key}"
    entries = [
        JournalEntry(
            entry_id=f"{journey_id}:d{index}",
            at=decision.at,
            kind="decision",
            name=decision.action,
            stage=Stage.COMPLETED,
            reason=decision.reason,
            detail=decision.detail,
        )
        for index, decision in enumerate(state.decisions, start=state.decisions_dropped)
        if index >= state.journaled_decisions
    ]
    return EarlyLifeBatch(
        journey=EarlyLifeSummary(
            journey_id=journey_id,
            workflow_id=workflow_id,
            customer_id=state.customer_id,
            playbook_version=state.playbook_version,
            recovery_group=state.group.value,
            status=status_of(state).value,
            activated_at=state.activated_at,
            last_activity_at=state.last_activity_at,
            dormant_at=state.first_dormant_at,
            nudges=state.nudges,
            re_engaged_at=state.re_engaged_at,
            ended_at=state.outcome.ended_at if state.outcome else None,
            outcome=state.outcome.kind.value if state.outcome else None,
        ),
        entries=entries,
        tasks=task_snapshots(state.tasks, state.customer_id, workflow_id, state.timezone),
    )


def mark_journaled(state: EarlyLifeState, decisions: int) -> None:
    state.journaled_decisions = max(state.journaled_decisions, decisions)
    state.journal_due = False
