"""The report's early-life figures: retention at 7 and 30 days, dormancy, re-engagement and its uplift.

Read from the journal's `early_life_journeys` rows (one per early-life journey, written by the
journey at its milestones) and the `customer_activity` the app reported, in aggregates the database
computes (SQLite and PostgreSQL alike), over the early-life journeys activated in [since, until):

- retention at N days: of the journeys activated at least N days before `until`, the share whose
  customer was active in the 7 days up to day N after activation (not dormant then);
- dormancy rate: the share that went dormant at least once (no activity for the playbook's `dormant_after`);
- re-engagement: of the treated customers who went dormant, the share active again after a dormancy
  message; its uplift compares them with the holdout's (messages held back), with a 95% interval.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from journal.figures import EarlyLifeFigures, rate, uplift_from_counts
from journal.schema import customer_activity, early_life_journeys
from journal.sql_functions import days_later
from journal.store import utc_naive

RETENTION_DAYS = (7, 30)
ACTIVE_WINDOW_DAYS = 7


def _sum(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def early_life_figures(engine: Engine, *, since: datetime | None, until: datetime) -> EarlyLifeFigures:
    e = early_life_journeys.c
    a = customer_activity.c
    scope = [e.activated_at < utc_naive(until)]
    if since is not None:
        scope.append(e.activated_at >= utc_naive(since))
    treated, holdout = e.recovery_group == "treatment", e.recovery_group == "holdout"
    dormant, back = e.dormant_at.is_not(None), e.re_engaged_at.is_not(None)
    columns: list[ColumnElement[Any]] = [
        func.count().label("journeys"),
        _sum(e.outcome.is_not(None)).label("ended"),
        _sum(e.outcome == "retained").label("retained"),
        _sum(e.outcome == "dormant").label("dormant"),
        _sum(dormant).label("went_dormant"),
        _sum(and_(treated, dormant)).label("t_n"),
        _sum(and_(treated, dormant, back)).label("t_k"),
        _sum(and_(holdout, dormant)).label("h_n"),
        _sum(and_(holdout, dormant, back)).label("h_k"),
    ]
    for days in RETENTION_DAYS:
        eligible = e.activated_at <= utc_naive(until - timedelta(days=days))
        active_then = (
            select(a.event_id)
            .where(
                a.customer_id == e.customer_id,
                a.occurred_at > days_later(e.activated_at, days - ACTIVE_WINDOW_DAYS),
                a.occurred_at <= days_later(e.activated_at, days),
            )
            .exists()
        )
        columns += [_sum(eligible).label(f"eligible_{days}"), _sum(and_(eligible, active_then)).label(f"kept_{days}")]
    with engine.connect() as connection:
        t = {k: int(v or 0) for k, v in connection.execute(select(*columns).where(*scope)).one()._mapping.items()}
    return EarlyLifeFigures(
        journeys=t["journeys"],
        ended=t["ended"],
        retained=t["retained"],
        dormant=t["dormant"],
        retention={f"{d}d": rate(t[f"kept_{d}"], t[f"eligible_{d}"]) for d in RETENTION_DAYS},
        eligible={f"{d}d": t[f"eligible_{d}"] for d in RETENTION_DAYS},
        went_dormant=t["went_dormant"],
        dormancy_rate=rate(t["went_dormant"], t["journeys"]),
        re_engaged=t["t_k"],
        re_engagement_rate=rate(t["t_k"], t["t_n"]),
        re_engagement_uplift=uplift_from_counts("re-engagement", t["t_n"], t["t_k"], t["h_n"], t["h_k"]),
    )


def early_life_lines(figures: EarlyLifeFigures) -> list[str]:
    """The figures as `recovery report` prints them."""

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 100:.1f}%"

    up = figures.re_engagement_uplift
    lines = [
        "Early life (after activation)",
        f"  journeys {figures.journeys}, ended {figures.ended}: retained {figures.retained}, dormant {figures.dormant}",
        *(
            f"  retention at {key}: {pct(value)} (of {figures.eligible[key]} activated that long ago)"
            for key, value in figures.retention.items()
        ),
        f"  dormancy rate: {pct(figures.dormancy_rate)} ({figures.went_dormant} went dormant)",
        f"  re-engagement after a nudge: {pct(figures.re_engagement_rate)} ({figures.re_engaged} came back)",
    ]
    if up.uplift is not None:
        lines.append(
            f"  uplift over the holdout: {up.uplift * 100:+.1f} points "
            f"(95% CI {up.ci_low * 100 if up.ci_low is not None else 0:+.1f} to "
            f"{up.ci_high * 100 if up.ci_high is not None else 0:+.1f}): {up.verdict}"
        )
    else:
        lines.append(f"  uplift over the holdout: {up.verdict}")
    return lines
