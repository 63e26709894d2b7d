"""Saved histories of real journeys replay against today's workflow code.

A failure here means a change to the workflow would break journeys already running: ship it behind
`workflow.patched(...)` instead (see the README's section on versioning).
"""

import json
from base64 import b64decode
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


def workflow_id_of(path: Path, text: str) -> str:
    """The journey's own workflow id, from its input's customer id where the input is plain JSON: a
    journey's message ids carry it, and a vendor's receipt names the message it is about."""
    started = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]
    try:
        [payload] = started["input"]["payloads"]
        if started["workflowType"]["name"] == "OnboardingJourney" and b64decode(payload["metadata"]["encoding"]) == (
            b"json/plain"
        ):
            return f"onboarding-{json.loads(b64decode(payload['data']))['customer_id']}"
    except (KeyError, ValueError):
        pass
    return f"onboarding-{path.stem}"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_saved_journey_replays(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    history = WorkflowHistory.from_json(workflow_id_of(path, text), text)
    # The converter every client uses, codec included: plain histories recorded before it pass through.
    replayer = Replayer(workflows=[OnboardingJourney, EarlyLifeJourney], data_converter=converter_for_tests())
    await replayer.replay_workflow(history)
