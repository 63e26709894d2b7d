"""Ops filter journeys in the Temporal UI by custom search attributes: checked on the real dev server."""

from datetime import UTC, datetime, timedelta

from tests.harness import Bench, eventually
from workflows.journey import workflow_id_for
from workflows.search_attributes import ALL_KEYS


async def ids_matching(bench: Bench, query: str) -> set[str]:
    return {w.id async for w in bench.env.client.list_workflows(f"WorkflowType = 'OnboardingJourney' AND {query}")}


async def test_journeys_are_filterable_by_stage_status_nudges_and_task(live_bench: Bench) -> None:
    bench = live_bench
    past = datetime.now(UTC) - timedelta(hours=2)
    rejected, helped, fresh = (f"{bench.customer_id}-{n}" for n in ("rejected", "helped", "fresh"))
    # Two hours ago: the first nudge is overdue at once, so the real clock needs no waiting.
    await bench.send("onboarding.document_rejected", customer_id=rejected, occurred_at=past, reason="blur")
    await bench.send("onboarding.phone_verified", customer_id=helped)
    await bench.send("onboarding.help_requested", customer_id=helped)
    await bench.send("onboarding.phone_verified", customer_id=fresh)
    ids = {c: workflow_id_for(c) for c in (rejected, helped, fresh)}

    async def filtered() -> bool:
        return (
            ids[rejected]
            in await ids_matching(
                bench,
                "OnboardingStage = 'document_rejected' AND JourneyStatus = 'nudging' AND NudgeCount = 1 "
                "AND DropOffStage = 'document_rejected'",
            )
            and await ids_matching(bench, f"HumanTaskState = 'open' AND WorkflowId = '{ids[helped]}'") == {ids[helped]}
            and ids[fresh]
            in await ids_matching(bench, "OnboardingStage = 'phone_verified' AND JourneyStatus = 'active'")
        )

    await eventually(filtered)
    assert ids[rejected] not in await ids_matching(bench, "JourneyStatus = 'active'")
    tasks = await bench.client.list_tasks()
    assert [t.customer_id for t in tasks if t.customer_id.startswith(bench.customer_id)] == [helped]


async def test_no_personal_data_in_search_attributes(live_bench: Bench) -> None:
    bench = live_bench
    await bench.send("onboarding.document_approved")
    handle = bench.env.client.get_workflow_handle(workflow_id_for(bench.customer_id))

    async def upserted() -> bool:
        return (await handle.describe()).typed_search_attributes.get(ALL_KEYS[0]) == "document_approved"

    await eventually(upserted)
    values = {str(pair.value) for pair in (await handle.describe()).typed_search_attributes}
    assert not any(("39.66" in v or "66.96" in v or "Etc/" in v) for v in values), values
