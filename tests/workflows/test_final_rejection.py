"""A rejection the eKYC vendor will not review again goes to a person at once, with no "try again" nudge."""

from tests.harness import Bench


async def test_a_final_rejection_opens_a_video_call_task_and_sends_no_nudge(bench: Bench) -> None:
    await bench.send("onboarding.document_uploaded")
    await bench.send("onboarding.document_rejected", reason="blur", reject_type="final")
    await bench.skip(minutes=1)
    view = await bench.view()
    assert view.open_task is not None and view.open_task.kind == "video_call"
    assert view.open_task.reason == "final_rejection"
    await bench.skip(hours=20)
    assert bench.outbox() == [], "no nudge: another try cannot pass"
    assert (await bench.view()).nudges_sent == 0


async def test_a_retry_rejection_is_nudged_with_the_reasons_copy(bench: Bench) -> None:
    await bench.send("onboarding.document_uploaded")
    await bench.send("onboarding.document_rejected", reason="blur", reject_type="retry")
    await bench.skip(hours=2)
    [nudge] = bench.outbox()
    assert "blur" in nudge["text"].lower() or "sharp" in nudge["text"].lower() or "light" in nudge["text"].lower()
