"""The recovery report: does recovery work? Computed from the journal, never from Temporal.

Figures follow the seeds: completion rate, the funnel and where customers drop (friction), recovery
per stage and what preceded it, time to completion, the uplift over the holdout with a confidence
interval, and the guardrails (opt-outs, messages per recovered customer, quiet-hour deferrals,
post-recovery dormancy).

Every count is an aggregate the database computes (GROUP BY, COUNT, conditional sums) in SQL that runs
on SQLite and PostgreSQL alike, so the API process holds a few hundred numbers whatever the number of
journeys (cohort weeks are grouped by day: one row per day in the period); only the math on those
counts (rates, the uplift's interval) runs in Python. A median or p90 reads the rows either side of
its rank from the database. On SQLite they are ranked by `julianday`, which keeps milliseconds: two
durations less than a millisecond apart may be ranked either way, so a median or p90 there may be off
by up to two milliseconds (under 1e-6 hours); on PostgreSQL the ranking is exact.
"""

import math
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, String, and_, case, func, literal, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from journal.delivery_rates import ChannelDelivery, delivery_by_channel
from journal.early_life_report import early_life_figures
from journal.figures import (
    INTERVENTIONS,
    CohortWeek,
    Duration,
    Friction,
    FunnelStep,
    GuardrailFigures,
    RecoveryReport,
    StageRecovery,
    Uplift,
    rate,
    uplift_from_counts,
    uplift_of,
)
from journal.schema import customer_activity, journal_entries, journeys
from journal.sql_functions import day_of, days_later, hours_between
from journal.store import utc, utc_naive
from workflows.funnel import MAIN_PATH, Stage, funnel_position

# The report's figures live in journal/figures.py; who reads the report takes them from here too.
__all__ = [
    "INTERVENTIONS",
    "ChannelDelivery",
    "CohortWeek",
    "Duration",
    "Friction",
    "FunnelStep",
    "GuardrailFigures",
    "RecoveryReport",
    "StageRecovery",
    "Uplift",
    "report_from_journal",
    "uplift_of",
]


def _sum(condition: ColumnElement[bool], value: Any = 1) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _drop_at(drop_off_stages: ColumnElement[str]) -> dict[Stage, ColumnElement[bool]]:
    """Whether each stage is in a stored drop-off list: "," around the list so a stage matches whole,
    escaped so the "_" in a stage's name is no wildcard."""
    listed = literal(",", String) + drop_off_stages + literal(",", String)
    return {s: listed.contains(f",{s.value},", autoescape=True) for s in Stage}


def _naive(moment: datetime) -> datetime:
    return utc_naive(moment)


def _median_and_p90(connection: Connection, where: ColumnElement[bool], n: int) -> Duration:
    """The median and p90 of hours to completion, as statistics.median and the linear-interpolated
    percentile would give over the sorted list, from only the rows at the ranks they need."""
    if not n:
        return Duration(customers=0, median_hours=None, p90_hours=None)
    position = (n - 1) * 0.9
    p_low, p_high = math.floor(position), math.ceil(position)
    m_low, m_high = (n // 2, n // 2) if n % 2 else (n // 2 - 1, n // 2)
    wanted = sorted({p_low, p_high, m_low, m_high})
    ranked = (
        select(
            journeys.c.started_at,
            journeys.c.ended_at,
            func.row_number().over(order_by=hours_between(journeys.c.started_at, journeys.c.ended_at)).label("rank"),
        )
        .where(where)
        .subquery("ranked")
    )
    hours: dict[int, float] = {
        r.rank - 1: (utc(r.ended_at) - utc(r.started_at)).total_seconds() / 3600
        for r in connection.execute(select(ranked).where(ranked.c.rank.in_([i + 1 for i in wanted])))
    }
    median = hours[m_low] if n % 2 else (hours[m_low] + hours[m_high]) / 2
    p90 = hours[p_low] + (hours[p_high] - hours[p_low]) * (position - p_low)
    return Duration(customers=n, median_hours=median, p90_hours=p90)


def report_from_journal(
    engine: Engine,
    *,
    since: datetime | None,
    until: datetime,
    playbook_version: str | None = None,
    dormancy_days: int = 30,
) -> RecoveryReport:
    """The report over journeys started in [since, until), by aggregates the database computes."""
    conditions = [journeys.c.started_at < _naive(until)]
    if since is not None:
        conditions.append(journeys.c.started_at >= _naive(since))
    if playbook_version:
        conditions.append(journeys.c.playbook_version == playbook_version)
    in_scope = and_(*conditions)

    j = journeys.c
    completed_j = j.outcome == "completed"
    dropped_j = or_(*_drop_at(j.drop_off_stages).values())
    eligible_j = and_(completed_j, j.ended_at <= _naive(until - timedelta(days=dormancy_days)))
    unassisted_where = and_(in_scope, completed_j, ~dropped_j)
    recovered_where = and_(in_scope, completed_j, dropped_j, j.recovery_group == "treatment")

    # First the journeys in scope grouped by what the figures tell apart (a few dozen groups in a real
    # journal), then conditional sums over the groups: each drop-off list is matched once per group.
    # Closed by an operator: ended, neither completed nor abandoned; still counted where it started (its
    # drop-off stays a drop-off that was not recovered: who is closed may depend on the messages).
    outcome = case(
        (completed_j, "completed"),
        (j.outcome == "closed", "closed"),
        (and_(j.outcome.is_not(None), j.outcome != ""), "ended"),
        else_="open",
    )
    grouped = (
        select(
            j.recovery_group.label("grp"),
            outcome.label("outcome"),
            j.drop_off_stages.label("drops"),
            func.count().label("n"),
            func.sum(j.messages_sent).label("messages"),
            _sum(eligible_j).label("eligible"),
        )
        .where(in_scope)
        .group_by(j.recovery_group, outcome, j.drop_off_stages)
        .subquery("grouped")
    )
    g = grouped.c
    at = _drop_at(g.drops)
    completed, dropped = g.outcome == "completed", or_(*at.values())
    treated, holdout = g.grp == "treatment", g.grp == "holdout"

    def total(*where: ColumnElement[bool], value: Any = g.n) -> ColumnElement[Any]:
        return _sum(and_(literal(True), *where), value)

    totals: list[ColumnElement[Any]] = [
        total().label("journeys"),
        total(completed).label("completed"),
        total(g.outcome != "open").label("ended"),
        total(g.outcome == "closed").label("closed"),
        total(holdout).label("holdout"),
        total(value=g.messages).label("messages"),
        total(treated, value=g.messages).label("treated_messages"),
        total(completed, ~dropped).label("unassisted"),
        total(completed, dropped, treated).label("recovered"),
        total(value=g.eligible).label("eligible"),
        total(treated, dropped).label("t_any"),
        total(treated, dropped, completed).label("tk_any"),
        total(holdout, dropped).label("h_any"),
        total(holdout, dropped, completed).label("hk_any"),
    ]
    for s in Stage:
        totals += [
            total(at[s]).label(f"d_{s.value}"),
            total(treated, at[s]).label(f"t_{s.value}"),
            total(treated, at[s], completed).label(f"tk_{s.value}"),
            total(holdout, at[s]).label(f"h_{s.value}"),
            total(holdout, at[s], completed).label(f"hk_{s.value}"),
        ]
    # What came last before a treated customer completed, by drop-off stage.
    before = func.coalesce(func.nullif(j.preceded_by, ""), "none")
    recovered_groups = (
        select(before.label("before"), j.drop_off_stages.label("drops"), func.count().label("n"))
        .where(in_scope, completed_j, j.recovery_group == "treatment")
        .group_by(before, j.drop_off_stages)
        .subquery("recovered_groups")
    )
    r_at = _drop_at(recovered_groups.c.drops)
    day = day_of(j.started_at)
    joined = journal_entries.join(journeys, journal_entries.c.journey_id == journeys.c.journey_id)

    with engine.connect() as connection:
        t = {k: int(v) for k, v in connection.execute(select(*totals)).one()._mapping.items()}
        reached_by = {
            Stage(r.stage): int(r.n)
            for r in connection.execute(
                select(j.furthest_stage.label("stage"), func.count().label("n"))
                .where(in_scope)
                .group_by(j.furthest_stage)
            )
        }
        days = connection.execute(
            select(day.label("day"), func.count().label("n"), _sum(completed_j).label("done"))
            .where(in_scope)
            .group_by(day)
        ).all()
        split = {
            r.before: r
            for r in connection.execute(
                select(
                    recovered_groups.c.before, *(_sum(r_at[s], recovered_groups.c.n).label(s.value) for s in Stage)
                ).group_by(recovered_groups.c.before)
            )
        }
        time_to_completion = {
            "unassisted": _median_and_p90(connection, unassisted_where, t["unassisted"]),
            "recovered": _median_and_p90(connection, recovered_where, t["recovered"]),
        }

        def count(*where: Any) -> int:
            return int(
                connection.execute(select(func.count()).select_from(joined).where(in_scope, *where)).scalar_one()
            )

        opt_outs = count(
            journal_entries.c.kind == "event",
            journal_entries.c.name == "customer.opted_out",
            journal_entries.c.reason == "recorded",
        )
        deferred = count(
            journal_entries.c.kind == "decision",
            journal_entries.c.name == "deferred",
            journal_entries.c.reason == "quiet_hours",
            journeys.c.recovery_group == "treatment",
        )
        activity_reported = connection.execute(select(customer_activity.c.event_id).limit(1)).first() is not None
        dormant: int | None = None
        if activity_reported:
            a = customer_activity.c
            active_after = (
                select(a.event_id)
                .where(
                    a.customer_id == j.customer_id,
                    a.occurred_at > j.ended_at,
                    a.occurred_at <= days_later(j.ended_at, dormancy_days),
                )
                .exists()
            )
            dormant = int(
                connection.execute(
                    select(func.count()).select_from(journeys).where(in_scope, eligible_j, ~active_after)
                ).scalar_one()
            )

    started = t["journeys"]
    weeks: Counter[str] = Counter()
    weeks_done: Counter[str] = Counter()
    for r in days:
        year, week, _ = date.fromisoformat(str(r.day)[:10]).isocalendar()
        weeks[f"{year}-W{week:02d}"] += int(r.n)
        weeks_done[f"{year}-W{week:02d}"] += int(r.done)
    by_week = [
        CohortWeek(week=w, started=n, completed=weeks_done[w], completion_rate=rate(weeks_done[w], n))
        for w, n in sorted(weeks.items())
    ]

    funnel = []
    for stage in MAIN_PATH:
        reached = sum(n for s, n in reached_by.items() if funnel_position(s) >= funnel_position(stage))
        funnel.append(FunnelStep(stage=stage, reached=reached, share_of_started=rate(reached, started)))

    drop_stages = sorted((s for s in Stage if t[f"d_{s.value}"]), key=funnel_position)
    friction = sorted(
        (
            Friction(stage=s, drop_offs=t[f"d_{s.value}"], share_of_journeys=rate(t[f"d_{s.value}"], started))
            for s in drop_stages
        ),
        key=lambda f: (-f.drop_offs, funnel_position(f.stage)),
    )
    recovery = [
        StageRecovery(
            stage=s,
            dropped=t[f"t_{s.value}"],
            recovered=t[f"tk_{s.value}"],
            recovery_rate=rate(t[f"tk_{s.value}"], t[f"t_{s.value}"]),
            by_intervention={k: int(getattr(split[k], s.value)) if k in split else 0 for k in (*INTERVENTIONS, "none")},
        )
        for s in drop_stages
    ]
    uplift = [uplift_from_counts("any stage", t["t_any"], t["tk_any"], t["h_any"], t["hk_any"])]
    uplift += [
        uplift_from_counts(s.value, t[f"t_{s.value}"], t[f"tk_{s.value}"], t[f"h_{s.value}"], t[f"hk_{s.value}"])
        for s in drop_stages
    ]

    messages = t["messages"]
    guardrails = GuardrailFigures(
        messages_sent=messages,
        opt_outs=opt_outs,
        opt_outs_per_1000_messages=1000 * opt_outs / messages if messages else None,
        recovered_customers=t["recovered"],
        messages_per_recovered_customer=rate(t["treated_messages"], t["recovered"]),
        deferred_by_quiet_hours=deferred,
        dormancy_days=dormancy_days,
        dormant_after_completion=dormant,
        completed_eligible_for_dormancy=t["eligible"],
        dormancy_note=(
            f"completed customers with no activity in the {dormancy_days} days after completion"
            if activity_reported
            else "the app reports no customer.active events: dormancy cannot be measured"
        ),
    )
    return RecoveryReport(
        since=since,
        until=until,
        playbook_version=playbook_version,
        journeys=started,
        ended=t["ended"],
        closed=t["closed"],
        completed=t["completed"],
        completion_rate=rate(t["completed"], started),
        holdout_journeys=t["holdout"],
        by_cohort_week=by_week,
        funnel=funnel,
        friction=friction,
        recovery=recovery,
        time_to_completion=time_to_completion,
        uplift=uplift,
        guardrails=guardrails,
        delivery=delivery_by_channel(engine, in_scope),
        early_life=early_life_figures(engine, since=since, until=until),
    )
