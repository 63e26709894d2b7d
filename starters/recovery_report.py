"""The recovery report: does recovery work? Computed from the journal, never from Temporal.

Figures follow the seeds: completion rate, the funnel and where customers drop (friction), recovery
per stage and what preceded it, time to completion, the uplift over the holdout with a confidence
interval, and the guardrails (opt-outs, messages per recovered customer, quiet-hour deferrals,
post-recovery dormancy).
"""

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, and_, func, select

from activities.journal_schema import customer_activity, journal_entries, journeys
from activities.journal_store import utc
from workflows.funnel import MAIN_PATH, Stage, funnel_position

INTERVENTIONS = ("nudge_1", "nudge_2", "nudge_3", "sms_store_offer", "human_task")
MIN_GROUP_SIZE = 30
Z_95 = 1.959964


class CohortWeek(BaseModel):
    week: str
    started: int
    completed: int
    completion_rate: float | None


class FunnelStep(BaseModel):
    stage: Stage
    reached: int
    share_of_started: float | None


class Friction(BaseModel):
    stage: Stage
    drop_offs: int
    share_of_journeys: float | None


class StageRecovery(BaseModel):
    stage: Stage
    dropped: int
    recovered: int
    recovery_rate: float | None
    by_intervention: dict[str, int]


class Duration(BaseModel):
    customers: int
    median_hours: float | None
    p90_hours: float | None


class Uplift(BaseModel):
    stage: str
    treated: int
    treated_recovered: int
    treated_rate: float | None
    holdout: int
    holdout_returned: int
    holdout_rate: float | None
    uplift: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str


class GuardrailFigures(BaseModel):
    messages_sent: int
    opt_outs: int
    opt_outs_per_1000_messages: float | None
    recovered_customers: int
    messages_per_recovered_customer: float | None
    deferred_by_quiet_hours: int
    dormancy_days: int
    dormant_after_completion: int | None
    completed_eligible_for_dormancy: int
    dormancy_note: str


class RecoveryReport(BaseModel):
    since: datetime | None
    until: datetime | None
    playbook_version: str | None
    journeys: int
    ended: int
    completed: int
    completion_rate: float | None
    holdout_journeys: int
    by_cohort_week: list[CohortWeek]
    funnel: list[FunnelStep]
    friction: list[Friction]
    recovery: list[StageRecovery]
    time_to_completion: dict[str, Duration]
    uplift: list[Uplift]
    guardrails: GuardrailFigures


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _duration(journey_rows: list[dict[str, Any]]) -> Duration:
    hours = [(utc(j["ended_at"]) - utc(j["started_at"])).total_seconds() / 3600 for j in journey_rows]
    return Duration(
        customers=len(hours),
        median_hours=statistics.median(hours) if hours else None,
        p90_hours=_percentile(hours, 0.9),
    )


def uplift_of(stage: str, treated: list[dict[str, Any]], holdout: list[dict[str, Any]]) -> Uplift:
    """Recovery among treated drop-offs minus return among holdout drop-offs, with a 95% interval.

    The interval is Agresti-Caffo's (one success and one failure added to each group): unlike the
    plain Wald interval it does not shrink to nothing when a small holdout has no returns at all.
    """
    t_n, h_n = len(treated), len(holdout)
    t_k = sum(1 for j in treated if j["outcome"] == "completed")
    h_k = sum(1 for j in holdout if j["outcome"] == "completed")
    t_rate, h_rate = _rate(t_k, t_n), _rate(h_k, h_n)
    if t_rate is None or h_rate is None:
        return Uplift(stage=stage, treated=t_n, treated_recovered=t_k, treated_rate=t_rate, holdout=h_n, holdout_returned=h_k,
                      holdout_rate=h_rate, uplift=None, ci_low=None, ci_high=None, verdict="no drop-offs in one of the groups yet")
    diff = t_rate - h_rate
    t_adj, h_adj = (t_k + 1) / (t_n + 2), (h_k + 1) / (h_n + 2)
    se = math.sqrt(t_adj * (1 - t_adj) / (t_n + 2) + h_adj * (1 - h_adj) / (h_n + 2))
    centre = t_adj - h_adj
    low, high = centre - Z_95 * se, centre + Z_95 * se
    if min(t_n, h_n) < MIN_GROUP_SIZE:
        verdict = f"too small to tell: fewer than {MIN_GROUP_SIZE} drop-offs in a group"
    elif low > 0:
        verdict = f"recovery works here: +{diff * 100:.1f} points over customers left alone"
    elif high < 0:
        verdict = f"worse than leaving customers alone: {diff * 100:.1f} points"
    else:
        verdict = "no clear difference at this sample size"
    return Uplift(stage=stage, treated=t_n, treated_recovered=t_k, treated_rate=t_rate, holdout=h_n, holdout_returned=h_k,
                  holdout_rate=h_rate, uplift=diff, ci_low=low, ci_high=high, verdict=verdict)


def build_report(
    journey_rows: list[dict[str, Any]],
    *,
    opt_outs: int,
    deferred_by_quiet_hours: int,
    activity_by_customer: dict[str, list[datetime]],
    activity_reported: bool,
    until: datetime,
    since: datetime | None = None,
    playbook_version: str | None = None,
    dormancy_days: int = 30,
) -> RecoveryReport:
    """A pure function of the journal's rows: every figure is checkable by hand."""
    for j in journey_rows:
        j["drops"] = [Stage(s) for s in j["drop_off_stages"].split(",") if s]
    total = len(journey_rows)
    completed = [j for j in journey_rows if j["outcome"] == "completed"]
    treated = [j for j in journey_rows if j["recovery_group"] == "treatment"]
    holdout = [j for j in journey_rows if j["recovery_group"] == "holdout"]

    weeks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for j in journey_rows:
        year, week, _ = utc(j["started_at"]).isocalendar()
        weeks[f"{year}-W{week:02d}"].append(j)
    by_week = [
        CohortWeek(week=w, started=len(js), completed=sum(1 for j in js if j["outcome"] == "completed"),
                   completion_rate=_rate(sum(1 for j in js if j["outcome"] == "completed"), len(js)))
        for w, js in sorted(weeks.items())
    ]

    funnel = []
    for stage in MAIN_PATH:
        reached = sum(1 for j in journey_rows if funnel_position(Stage(j["furthest_stage"])) >= funnel_position(stage))
        funnel.append(FunnelStep(stage=stage, reached=reached, share_of_started=_rate(reached, total)))

    drop_counts = Counter(s for j in journey_rows for s in set(j["drops"]))
    friction = sorted(
        (Friction(stage=s, drop_offs=n, share_of_journeys=_rate(n, total)) for s, n in drop_counts.items()),
        key=lambda f: (-f.drop_offs, funnel_position(f.stage)),
    )

    recovery = []
    for stage in sorted(drop_counts, key=funnel_position):
        dropped = [j for j in treated if stage in j["drops"]]
        back = [j for j in dropped if j["outcome"] == "completed"]
        split = Counter(j["preceded_by"] or "none" for j in back)
        recovery.append(StageRecovery(
            stage=stage, dropped=len(dropped), recovered=len(back), recovery_rate=_rate(len(back), len(dropped)),
            by_intervention={k: split.get(k, 0) for k in (*INTERVENTIONS, "none")},
        ))

    recovered = [j for j in completed if j["drops"] and j["recovery_group"] == "treatment"]
    time_to_completion = {
        "unassisted": _duration([j for j in completed if not j["drops"]]),
        "recovered": _duration(recovered),
    }

    uplift = [uplift_of("any stage", [j for j in treated if j["drops"]], [j for j in holdout if j["drops"]])]
    for stage in sorted(drop_counts, key=funnel_position):
        uplift.append(uplift_of(stage.value, [j for j in treated if stage in j["drops"]], [j for j in holdout if stage in j["drops"]]))

    messages = sum(j["messages_sent"] for j in journey_rows)
    eligible = [j for j in completed if utc(j["ended_at"]) + timedelta(days=dormancy_days) <= until]
    dormant = None
    note = "the app reports no customer.active events: dormancy cannot be measured"
    if activity_reported:
        dormant = sum(
            1 for j in eligible
            if not any(utc(j["ended_at"]) < t <= utc(j["ended_at"]) + timedelta(days=dormancy_days) for t in activity_by_customer.get(j["customer_id"], []))
        )
        note = f"completed customers with no activity in the {dormancy_days} days after completion"
    guardrails = GuardrailFigures(
        messages_sent=messages,
        opt_outs=opt_outs,
        opt_outs_per_1000_messages=1000 * opt_outs / messages if messages else None,
        recovered_customers=len(recovered),
        messages_per_recovered_customer=_rate(sum(j["messages_sent"] for j in treated), len(recovered)),
        deferred_by_quiet_hours=deferred_by_quiet_hours,
        dormancy_days=dormancy_days,
        dormant_after_completion=dormant,
        completed_eligible_for_dormancy=len(eligible),
        dormancy_note=note,
    )
    return RecoveryReport(
        since=since, until=until, playbook_version=playbook_version, journeys=total,
        ended=sum(1 for j in journey_rows if j["outcome"]), completed=len(completed),
        completion_rate=_rate(len(completed), total), holdout_journeys=len(holdout), by_cohort_week=by_week,
        funnel=funnel, friction=friction, recovery=recovery, time_to_completion=time_to_completion,
        uplift=uplift, guardrails=guardrails,
    )


def report_from_journal(
    engine: Engine, *, since: datetime | None, until: datetime, playbook_version: str | None = None, dormancy_days: int = 30
) -> RecoveryReport:
    def naive(moment: datetime) -> datetime:
        return utc(moment).replace(tzinfo=None)  # type: ignore[union-attr]

    conditions = [journeys.c.started_at < naive(until)]
    if since is not None:
        conditions.append(journeys.c.started_at >= naive(since))
    if playbook_version:
        conditions.append(journeys.c.playbook_version == playbook_version)
    in_scope = and_(*conditions)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(select(journeys).where(in_scope))]
        # By journey, not workflow id: a customer back after an ended journey has a second journey under the same id.
        joined = journal_entries.join(journeys, journal_entries.c.journey_id == journeys.c.journey_id)

        def count(*where: Any) -> int:
            return connection.execute(select(func.count()).select_from(joined).where(in_scope, *where)).scalar_one()

        opt_outs = count(journal_entries.c.kind == "event", journal_entries.c.name == "customer.opted_out",
                         journal_entries.c.reason == "recorded")
        deferred = count(journal_entries.c.kind == "decision", journal_entries.c.name == "deferred",
                         journal_entries.c.reason == "quiet_hours", journeys.c.recovery_group == "treatment")
        activity_reported = connection.execute(select(func.count()).select_from(customer_activity)).scalar_one() > 0
        activity: dict[str, list[datetime]] = defaultdict(list)
        if activity_reported:
            customers = {r["customer_id"] for r in rows if r["outcome"] == "completed"}
            for r in connection.execute(select(customer_activity.c.customer_id, customer_activity.c.occurred_at)):
                if r.customer_id in customers:
                    activity[r.customer_id].append(utc(r.occurred_at))  # type: ignore[arg-type]
    return build_report(
        rows, opt_outs=opt_outs, deferred_by_quiet_hours=deferred, activity_by_customer=activity,
        activity_reported=activity_reported, until=until, since=since, playbook_version=playbook_version,
        dormancy_days=dormancy_days,
    )
