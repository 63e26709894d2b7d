"""Early life in a run of `recovery simulate`: the truth for the customers who activated, next to the
report's figures, per `--early-life` mode.

- `model` (the default): the activated customers' early lives are played through on the virtual clock
  by the early-life journey's own rules (`simulator/early_life_model.py`) from their real activation
  times, in seconds whatever the playbook's period; the report's figures are read by the report's own
  query from a journal filled by that model (`modelled_figures`). Nothing more is sent to the system.
- `live`: the customers used the app on the real clock against the running system
  (`simulator/live_early_life.py`) until every early-life journey ended (the demo playbook's period is
  900 s); the figures are the running system's `GET /v1/report` since the run began.
- `off`: no early life.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from journal.figures import EarlyLifeFigures
from simulator.api import Api, SimulationError
from simulator.cohort import CustomerPlan
from simulator.early_life_truth import (
    EarlyLifeTruth,
    early_life_groups,
    in_own_group,
    modelled_figures,
    play_early_life,
    true_early_life,
    truth_in_interval,
)
from simulator.live_early_life import early_life_since
from workflows.journey_state import JourneyOutcome, OutcomeKind
from workflows.playbook import Playbook


class EarlyLifeMode(StrEnum):
    MODEL = "model"
    LIVE = "live"
    OFF = "off"


class EarlyLifeResult(BaseModel):
    mode: EarlyLifeMode
    source: str  # where the report's figures come from
    truth: EarlyLifeTruth
    report: EarlyLifeFigures
    truth_in_interval: bool | None  # the true re-engagement uplift within the report's 95% interval


def activated_customers(
    plans: list[CustomerPlan], outcomes: dict[str, JourneyOutcome | None]
) -> list[tuple[CustomerPlan, datetime]]:
    """The customers whose onboarding completed, with when (their early life starts there)."""
    activated = []
    for plan in plans:
        outcome = outcomes.get(plan.customer_id)
        if outcome is not None and outcome.kind is OutcomeKind.COMPLETED:
            activated.append((plan, outcome.ended_at))
    return activated


async def early_life_result(
    mode: EarlyLifeMode,
    plans: list[CustomerPlan],
    outcomes: dict[str, JourneyOutcome | None],
    playbook: Playbook,
    api: Api,
    started_at: datetime,
    now: datetime,
    note: Callable[[str], None] | None = None,
) -> EarlyLifeResult | None:
    activated = activated_customers(plans, outcomes)
    if mode is EarlyLifeMode.OFF or not activated:
        return None
    if note is not None and mode is EarlyLifeMode.MODEL:
        note(f"early life of {len(activated)} activated customers: modelled on a virtual clock (--early-life model)")
    both = play_early_life(activated, playbook)
    groups = early_life_groups([plan for plan, _ in activated], playbook)
    if mode is EarlyLifeMode.MODEL:
        until = max(at for _, at in activated) + playbook.early_life.period + timedelta(seconds=1)
        truth = true_early_life(activated, both, groups, until)
        figures = modelled_figures(in_own_group(both, groups), until)
        source = "journal filled by the model"
    else:
        truth = true_early_life(activated, both, groups, now)
        report: dict[str, Any] = await api.report(early_life_since(started_at))
        try:
            figures = EarlyLifeFigures.model_validate(report.get("early_life"))
        except ValidationError:
            raise SimulationError(
                "the API's report has no early-life figures: the system predates early life"
            ) from None
        source = "GET /v1/report"
    return EarlyLifeResult(
        mode=mode, source=source, truth=truth, report=figures, truth_in_interval=truth_in_interval(truth, figures)
    )
