"""The uplift over the holdout: the truth from the cohort's own draws, and what the journeys give.

The true uplift (`true_uplift`): every customer's journey is played through twice on the virtual
clock (`simulator/journey_model.py`), once treated and once held out. A customer's first drop-off
happens before any treatment, so it is the same in both groups; the true uplift of a stage is the
mean, over the cohort's customers whose first drop-off is there, of completed-if-treated minus
completed-if-held-out ("any stage": every customer with a drop-off). The report's "any stage" row
estimates exactly that from the two groups; its other rows count every drop-off at a stage, and
whether a customer reaches a later drop-off depends on the treatment, so only the first drop-off
stage is comparable there.
"""

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from rich.table import Table

from journal.report import Uplift, uplift_of
from simulator.cohort import STALL_STAGES, CustomerPlan
from simulator.journey_model import journey_outcome
from workflows.holdout import RecoveryGroup
from workflows.journey_state import JourneyOutcome
from workflows.playbook import Playbook


class StageTruth(BaseModel):
    """The true uplift among the customers whose first drop-off is at `stage` ("any stage": every drop-off)."""

    stage: str
    customers: int
    completed_if_treated: int
    completed_if_held_out: int
    uplift: float | None  # mean of completed-if-treated minus completed-if-held-out; None without customers


def true_uplift(plans: list[CustomerPlan], playbook: Playbook) -> list[StageTruth]:
    """Per first drop-off stage (funnel order) after "any stage": both outcomes of every customer, from their draws."""
    groups: dict[str, list[tuple[bool, bool]]] = {"any stage": [], **{stage.value: [] for stage in STALL_STAGES}}
    for plan in plans:
        first = plan.first_drop_stage
        if first is None:
            continue
        both = (
            journey_outcome(plan, playbook, treated=True).completed,
            journey_outcome(plan, playbook, treated=False).completed,
        )
        groups["any stage"].append(both)
        groups[first.value].append(both)
    truths = []
    for stage, pairs in groups.items():
        treated, held_out = sum(t for t, _ in pairs), sum(h for _, h in pairs)
        truths.append(
            StageTruth(
                stage=stage,
                customers=len(pairs),
                completed_if_treated=treated,
                completed_if_held_out=held_out,
                uplift=round((treated - held_out) / len(pairs), 6) if pairs else None,
            )
        )
    return truths


def observed_uplift(outcomes: dict[str, JourneyOutcome | None], groups: dict[str, str | None]) -> list[Uplift]:
    """Completion of treated minus holdout customers, by first recorded drop-off stage (funnel order) after
    "any stage", with the recovery report's 95% interval. Journeys not ended, or of no known group, are left out."""
    rows: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
        "any stage": ([], []),
        **{stage.value: ([], []) for stage in STALL_STAGES},
    }
    for customer_id, outcome in outcomes.items():
        group = groups.get(customer_id)
        if (
            outcome is None
            or not outcome.drop_off_stages
            or group not in (RecoveryGroup.TREATMENT, RecoveryGroup.HOLDOUT)
        ):
            continue
        row = {"outcome": outcome.kind.value}
        side = 0 if group == RecoveryGroup.TREATMENT else 1
        for key in ("any stage", outcome.drop_off_stages[0].value):
            rows.setdefault(key, ([], []))[side].append(row)
    return [uplift_of(stage, treated, holdout) for stage, (treated, holdout) in rows.items()]


def _points(value: float | None) -> str:
    return "" if value is None else f"{100 * value:+.1f}"


def uplift_table(truth: Sequence[StageTruth], observed: Sequence[Uplift], title: str | None = None) -> Table:
    """One row per first drop-off stage that has customers: the true uplift next to the journeys' estimate."""
    table = Table(
        "first drop-off",
        "customers",
        "true uplift (from the cohort's own draws)",
        "treated: completed",
        "holdout: completed",
        "journeys: uplift [95% CI]",
        "truth in CI",
        title=title,
        header_style="bold",
    )
    seen = {row.stage: row for row in observed}
    for true in truth:
        if not true.customers:
            continue
        row = seen.get(true.stage)
        estimate = inside = ""
        treated = holdout = ""
        if row is not None:
            treated = f"{row.treated_recovered}/{row.treated}"
            holdout = f"{row.holdout_returned}/{row.holdout}"
            if row.uplift is not None and row.ci_low is not None and row.ci_high is not None:
                estimate = f"{_points(row.uplift)} [{_points(row.ci_low)}, {_points(row.ci_high)}] pts"
                if true.uplift is not None:
                    inside = "yes" if row.ci_low <= true.uplift <= row.ci_high else "no"
        table.add_row(
            true.stage,
            str(true.customers),
            f"{_points(true.uplift)} pts",
            treated,
            holdout,
            estimate,
            inside,
            style="bold" if true.stage == "any stage" else None,
        )
    return table
