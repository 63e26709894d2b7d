"""Early life, truth against the report: what the cohort's draws say, and what the report makes of it.

The truth (`true_early_life`): every activated customer's early life is played through twice on the
virtual clock (`simulator/early_life_model.py`), treated and held out. A dormancy begins before any
message, so whether a customer goes dormant is the same in both groups; the true re-engagement
uplift is the mean, over the customers who went dormant, of re-engaged-if-treated minus
re-engaged-if-held-out. The true retention is what the customers do in the group they are in (their
early-life group: a hash of their id, `workflows/early_life_state.early_life_group`): retained at the
period's end, and active in the 7 days up to day 7 and day 30 after activation (for those activated
that long before the report's `until`), as the report defines it.

The report's side (`modelled_figures`): the journal the early-life journeys would write, filled from
the model (each journey's row as the workflow writes it, every activity event as the API records
it) in an in-memory SQLite journal, and read by the report's own query
(`journal/early_life_report.early_life_figures`). In a live run the figures come from the running
system's `GET /v1/report` instead.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel
from rich.table import Table

from journal.early_life import write_early_life
from journal.early_life_report import ACTIVE_WINDOW_DAYS, RETENTION_DAYS, early_life_figures
from journal.figures import EarlyLifeFigures
from journal.schema import customer_activity, metadata
from journal.store import insert_into, open_journal, utc_naive
from simulator.cohort import CustomerPlan
from simulator.early_life_model import EarlyLifePrediction, early_life_outcome
from workflows.early_life_input import plan_of
from workflows.early_life_state import EarlyLifeOutcomeKind, early_life_group
from workflows.holdout import RecoveryGroup
from workflows.playbook import Playbook


class EarlyLifeTruth(BaseModel):
    customers: int  # activated customers
    treated: int  # in the early-life treatment group
    went_dormant: int
    re_engaged_if_treated: int  # of those who went dormant
    re_engaged_if_held_out: int
    uplift: float | None  # the true re-engagement uplift; None when nobody went dormant
    retained: int  # at the period's end, in their own group
    retention_rate: float | None
    retention: dict[str, float | None]  # '7d', '30d' as the report defines them; None: nobody eligible
    eligible: dict[str, int]


def early_life_groups(plans: Sequence[CustomerPlan], playbook: Playbook) -> dict[str, RecoveryGroup]:
    """Each customer's early-life group, known before the run (the journey decides the same way)."""
    share = plan_of(playbook).holdout_share
    return {plan.customer_id: early_life_group(plan.customer_id, share) for plan in plans}


def play_early_life(
    activated: Sequence[tuple[CustomerPlan, datetime]], playbook: Playbook
) -> dict[str, tuple[EarlyLifePrediction, EarlyLifePrediction]]:
    """Both early lives (treated, held out) of every activated customer, from their draws."""
    return {
        plan.customer_id: (
            early_life_outcome(plan, playbook, True, at),
            early_life_outcome(plan, playbook, False, at),
        )
        for plan, at in activated
    }


def in_own_group(
    both: dict[str, tuple[EarlyLifePrediction, EarlyLifePrediction]], groups: dict[str, RecoveryGroup]
) -> dict[str, EarlyLifePrediction]:
    return {cid: pair[0] if groups[cid] is RecoveryGroup.TREATMENT else pair[1] for cid, pair in both.items()}


def _active_in_window(activity: Sequence[float], days: int) -> bool:
    """Active in the 7 days up to day `days` after activation (the report's window: (N-7, N] days)."""
    low, high = timedelta(days=days - ACTIVE_WINDOW_DAYS).total_seconds(), timedelta(days=days).total_seconds()
    return any(low < at <= high for at in activity)


def true_early_life(
    activated: Sequence[tuple[CustomerPlan, datetime]],
    both: dict[str, tuple[EarlyLifePrediction, EarlyLifePrediction]],
    groups: dict[str, RecoveryGroup],
    until: datetime,
) -> EarlyLifeTruth:
    own = in_own_group(both, groups)
    dormant = [pair for pair in both.values() if pair[0].went_dormant]
    treated_back = sum(t.re_engaged for t, _ in dormant)
    held_back = sum(h.re_engaged for _, h in dormant)
    retained = sum(p.kind is EarlyLifeOutcomeKind.RETAINED for p in own.values())
    retention: dict[str, float | None] = {}
    eligible: dict[str, int] = {}
    for days in RETENTION_DAYS:
        key = f"{days}d"
        those = [
            own[plan.customer_id] for plan, at in activated if at <= until - timedelta(days=days)
        ]  # activated that long before `until`
        eligible[key] = len(those)
        kept = sum(_active_in_window(p.activity, days) for p in those)
        retention[key] = kept / len(those) if those else None
    return EarlyLifeTruth(
        customers=len(both),
        treated=sum(groups[cid] is RecoveryGroup.TREATMENT for cid in both),
        went_dormant=len(dormant),
        re_engaged_if_treated=treated_back,
        re_engaged_if_held_out=held_back,
        uplift=round((treated_back - held_back) / len(dormant), 6) if dormant else None,
        retained=retained,
        retention_rate=retained / len(own) if own else None,
        retention=retention,
        eligible=eligible,
    )


def modelled_figures(own: dict[str, EarlyLifePrediction], until: datetime) -> EarlyLifeFigures:
    """The report's early-life figures over the journal the journeys would have written (in memory)."""
    engine = open_journal("sqlite://")
    try:
        metadata.create_all(engine)
        for prediction in own.values():
            assert prediction.batch is not None
            write_early_life(engine, prediction.batch)
        activity = [
            {"event_id": e.event_id, "customer_id": e.customer_id, "occurred_at": utc_naive(e.occurred_at)}
            for prediction in own.values()
            for e in prediction.events
        ]
        if activity:  # as the API's `record_activity` writes each one, in one transaction
            with engine.begin() as connection:
                connection.execute(insert_into(engine, customer_activity).values(activity))
        return early_life_figures(engine, since=None, until=until)
    finally:
        engine.dispose()


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _points(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f} pts"


def truth_in_interval(truth: EarlyLifeTruth, figures: EarlyLifeFigures) -> bool | None:
    up = figures.re_engagement_uplift
    if truth.uplift is None or up.ci_low is None or up.ci_high is None:
        return None
    return up.ci_low <= truth.uplift <= up.ci_high


def early_life_table(truth: EarlyLifeTruth, figures: EarlyLifeFigures, source: str, title: str | None = None) -> Table:
    """The truth next to the report's figures; `source` says where the figures come from."""
    table = Table("early life", "truth (from the cohort's own draws)", f"report ({source})", "truth in CI", title=title)
    up = figures.re_engagement_uplift
    table.add_row("journeys (activated)", str(truth.customers), str(figures.journeys), "")
    table.add_row(
        "retained at the period's end",
        f"{truth.retained}/{truth.customers} ({_pct(truth.retention_rate)})",
        f"{figures.retained}/{figures.ended} ended",
        "",
    )
    for key, value in truth.retention.items():
        if truth.eligible[key] or figures.eligible.get(key):
            table.add_row(
                f"retention at {key}",
                f"{_pct(value)} of {truth.eligible[key]}",
                f"{_pct(figures.retention.get(key))} of {figures.eligible.get(key, 0)}",
                "",
            )
    table.add_row("went dormant", str(truth.went_dormant), str(figures.went_dormant), "")
    true_uplift = (
        f"{_points(truth.uplift)} ({truth.re_engaged_if_treated} of {truth.went_dormant} back if treated, "
        f"{truth.re_engaged_if_held_out} if held out)"
    )
    estimate = _points(up.uplift)
    if up.ci_low is not None and up.ci_high is not None:
        estimate += f" [{100 * up.ci_low:+.1f}, {100 * up.ci_high:+.1f}] ({up.treated_recovered}/{up.treated} treated"
        estimate += f", {up.holdout_returned}/{up.holdout} holdout)"
    inside = truth_in_interval(truth, figures)
    table.add_row(
        "re-engagement uplift",
        true_uplift,
        estimate,
        "" if inside is None else "yes" if inside else "no",
        style="bold",
    )
    return table
