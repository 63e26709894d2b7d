"""The report's figures and the statistics on counts: rates, and the uplift over the holdout with its
95% interval. Pure Python over numbers the database counted (journal/report.py) or the simulator drew."""

import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from journal.delivery_rates import ChannelDelivery
from workflows.funnel import Stage

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


class EarlyLifeFigures(BaseModel):
    """After activation (journal/early_life_report.py): the early-life journeys activated in the period."""

    journeys: int
    ended: int
    retained: int
    dormant: int
    retention: dict[str, float | None] = Field(
        description="'7d', '30d': share active in the 7 days up to that day, of those activated that long ago"
    )
    eligible: dict[str, int] = Field(description="'7d', '30d': journeys activated at least that long ago")
    went_dormant: int
    dormancy_rate: float | None
    re_engaged: int
    re_engagement_rate: float | None = Field(description="treated customers who went dormant and came back")
    re_engagement_uplift: Uplift = Field(description="re-engagement, treated minus holdout, with a 95% interval")


class RecoveryReport(BaseModel):
    since: datetime | None
    until: datetime | None
    playbook_version: str | None
    journeys: int
    ended: int
    closed: int = 0  # ended by an operator (or a cancel in the Temporal UI): among `ended`, not completed
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
    delivery: list[ChannelDelivery] = Field(
        default_factory=list, description="delivery rate per channel, by the vendors' receipts"
    )
    early_life: EarlyLifeFigures | None = Field(default=None, description="after activation; None: not computed")


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def uplift_of(stage: str, treated: list[dict[str, Any]], holdout: list[dict[str, Any]]) -> Uplift:
    """The uplift of journeys held in memory (the simulator's own draws); the report passes counts."""
    t_k = sum(1 for j in treated if j["outcome"] == "completed")
    h_k = sum(1 for j in holdout if j["outcome"] == "completed")
    return uplift_from_counts(stage, len(treated), t_k, len(holdout), h_k)


def uplift_from_counts(stage: str, t_n: int, t_k: int, h_n: int, h_k: int) -> Uplift:
    """Recovery among treated drop-offs minus return among holdout drop-offs, with a 95% interval.

    The interval is Agresti-Caffo's (one success and one failure added to each group): unlike the
    plain Wald interval it does not shrink to nothing when a small holdout has no returns at all.
    """
    t_rate, h_rate = rate(t_k, t_n), rate(h_k, h_n)
    if t_rate is None or h_rate is None:
        return Uplift(
            stage=stage,
            treated=t_n,
            treated_recovered=t_k,
            treated_rate=t_rate,
            holdout=h_n,
            holdout_returned=h_k,
            holdout_rate=h_rate,
            uplift=None,
            ci_low=None,
            ci_high=None,
            verdict="no drop-offs in one of the groups yet",
        )
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
    return Uplift(
        stage=stage,
        treated=t_n,
        treated_recovered=t_k,
        treated_rate=t_rate,
        holdout=h_n,
        holdout_returned=h_k,
        holdout_rate=h_rate,
        uplift=diff,
        ci_low=low,
        ci_high=high,
        verdict=verdict,
    )
