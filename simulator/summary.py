"""The summary of a run: how the cohort's journeys ended, a pure function of their outcomes."""

from collections.abc import Sequence

from pydantic import BaseModel
from rich.table import Table

from simulator.cohort import STALL_STAGES
from workflows.funnel import Stage
from workflows.journey_state import JourneyOutcome, OutcomeKind

RECOVERED_AFTER: tuple[str, ...] = ("nudge_1", "nudge_2", "nudge_3", "sms_store_offer", "human_task")


class Summary(BaseModel):
    started: int
    completed: int
    completed_unassisted: int
    recovered: dict[str, int]
    recovered_total: int
    completed_other: int
    abandoned: dict[str, int]
    abandoned_total: int
    opted_out: int
    not_ended: int
    completion_rate: float


def summarize(outcomes: Sequence[JourneyOutcome | None]) -> Summary:
    """Counts of how the cohort's journeys ended. `None` is a journey that has not ended.

    - completed unassisted: completed, and no message or task came before (`preceded_by` none);
    - recovered after X: completed after a drop-off (non-empty `drop_off_stages`), X being the
      last thing we did before it (`preceded_by`: nudge_1..3, sms_store_offer, human_task);
    - completed other: completed after an intervention with no drop-off recorded (e.g. help asked);
    - abandoned per stage (the stage the journey ended at), opted out, not ended.

    Every journey is in exactly one of these, so they add up to `started`.
    """
    recovered = dict.fromkeys(RECOVERED_AFTER, 0)
    abandoned = {stage.value: 0 for stage in Stage if stage is not Stage.COMPLETED}
    unassisted = other = opted_out = not_ended = completed = 0
    for outcome in outcomes:
        if outcome is None:
            not_ended += 1
        elif outcome.kind is OutcomeKind.COMPLETED:
            completed += 1
            if outcome.preceded_by == "none":
                unassisted += 1
            elif outcome.drop_off_stages and outcome.preceded_by in recovered:
                recovered[outcome.preceded_by] += 1
            else:
                other += 1
        elif outcome.kind is OutcomeKind.ABANDONED:
            abandoned[outcome.stage.value] = abandoned.get(outcome.stage.value, 0) + 1
        else:
            opted_out += 1
    started = len(outcomes)
    return Summary(
        started=started,
        completed=completed,
        completed_unassisted=unassisted,
        recovered=recovered,
        recovered_total=sum(recovered.values()),
        completed_other=other,
        abandoned=abandoned,
        abandoned_total=sum(abandoned.values()),
        opted_out=opted_out,
        not_ended=not_ended,
        completion_rate=round(completed / started, 4) if started else 0.0,
    )


_LABELS = {
    "nudge_1": "recovered after nudge 1",
    "nudge_2": "recovered after nudge 2",
    "nudge_3": "recovered after nudge 3",
    "sms_store_offer": "recovered after SMS store offer",
    "human_task": "recovered after human task",
}


def summary_table(summary: Summary, title: str | None = None) -> Table:
    table = Table("outcome", "customers", "share", title=title, header_style="bold")
    total = summary.started or 1

    def row(label: str, count: int, style: str | None = None) -> None:
        table.add_row(label, str(count), f"{100 * count / total:.1f}%", style=style)

    table.add_row("started", str(summary.started), "", style="bold")
    row("completed unassisted", summary.completed_unassisted)
    for key in RECOVERED_AFTER:
        row(_LABELS[key], summary.recovered[key], "green")
    if summary.completed_other:
        row("completed after help, no drop-off", summary.completed_other)
    table.add_section()
    where_customers_stop = [stage.value for stage in STALL_STAGES]
    for stage, count in summary.abandoned.items():  # funnel order; other stages only when someone ended there
        if stage in where_customers_stop or count:
            row(f"abandoned at {stage}", count, "red")
    row("opted out", summary.opted_out, "yellow")
    if summary.not_ended:
        row("not ended", summary.not_ended, "magenta")
    table.add_section()
    table.add_row(
        "completion rate",
        f"{summary.completed}/{summary.started}",
        f"{100 * summary.completion_rate:.1f}%",
        style="bold",
    )
    return table
