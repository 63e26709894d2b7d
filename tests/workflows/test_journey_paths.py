"""Every path of the playbook, end to end: the real workflow and activities, on the time-skipping server."""

from tests.harness import Bench


async def test_happy_path_sends_nothing(bench: Bench) -> None:
    for event_type in (
        "onboarding.started",
        "onboarding.phone_verified",
        "onboarding.document_uploaded",
        "onboarding.document_approved",
        "onboarding.biometric_passed",
        "onboarding.completed",
    ):
        await bench.send(event_type)
        await bench.skip(minutes=10)
    outcome = await bench.outcome()
    assert outcome.kind == "completed"
    assert outcome.preceded_by == "none"
    assert not outcome.assisted
    assert bench.outbox() == []
