"""Saved histories of real journeys replay against today's workflow code.

A failure here means a change to the workflow would break journeys already running: ship it behind
`workflow.patched(...)` instead (see the README's section on versioning).
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.payload_keys import converter_for_tests
from workflows.early_life import EarlyLifeJourney
from workflows.journey import OnboardingJourney

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 3


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_saved_journey_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"onboarding-{path.stem}", path.read_text(encoding="utf-8"))
    # The converter every client uses, codec included: plain histories recorded before it pass through.
    replayer = Replayer(workflows=[OnboardingJourney, EarlyLifeJourney], data_converter=converter_for_tests())
    await replayer.replay_workflow(history)
