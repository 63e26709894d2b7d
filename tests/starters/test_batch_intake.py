"""A batch through the HTTP API on the real dev server: a customer's share goes to the journey as one
signal (one billed action, one history event), and a full batch of 500 customers is taken whole."""

from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from starters.client import CUSTOMERS_IN_FLIGHT
from tests.harness import eventually
from tests.starters.test_api import Api, api, event, now  # noqa: F401  (the `api` fixture)
from workflows.journey import workflow_id_for


async def signals_in_history(api: Api, customer_id: str) -> int:
    history = await api.bench.env.client.get_workflow_handle(workflow_id_for(customer_id)).fetch_history()
    return sum(1 for e in history.events if e.event_type == HistoryEventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)


async def test_a_customers_share_of_a_batch_is_one_signal_and_the_journey_sees_it_in_order(api: Api) -> None:
    customer_id, other = api.customer("share"), api.customer("other")
    start = now() - timedelta(minutes=10)
    mine = [
        event(customer_id, "onboarding.document_uploaded", start + timedelta(minutes=2)),
        event(customer_id, "onboarding.started", start),
        event(other, "onboarding.started", start),
        event(customer_id, "onboarding.phone_verified", start + timedelta(minutes=1)),
        event(customer_id, "onboarding.document_rejected", start + timedelta(minutes=3), attributes={"reason": "blur"}),
    ]
    response = await api.post_events(mine)
    assert response.status_code == 202, response.text
    assert (response.json()["accepted"], [e["status"] for e in response.json()["events"]]) == (5, ["recorded"] * 5)
    assert [j["note"] for j in response.json()["journeys"]] == ["recorded", "recorded"]

    view = (await api.journey(customer_id)).json()
    assert [e["type"] for e in view["events"]] == [
        "onboarding.started",
        "onboarding.phone_verified",
        "onboarding.document_uploaded",
        "onboarding.document_rejected",
    ]
    assert view["stage"] == "document_rejected"
    assert await signals_in_history(api, customer_id) == 1
    assert await signals_in_history(api, other) == 1

    again = await api.post_events(mine)  # the ledger answers a resent batch: no second signal
    assert [e["status"] for e in again.json()["events"]] == ["duplicate"] * 5
    assert await signals_in_history(api, customer_id) == 1


async def test_a_batch_of_500_customers_is_accepted_whole(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """500 customers, the documented maximum, on an idle stack: no 503, and at most CUSTOMERS_IN_FLIGHT
    signal-with-starts at a time (an unbounded fan-out sent all 500 at once)."""
    temporal = api.bench.client.temporal
    start_workflow, in_flight, most = temporal.start_workflow, 0, 0

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            return await start_workflow(*args, **kwargs)
        finally:
            in_flight -= 1

    monkeypatch.setattr(temporal, "start_workflow", counted)
    customers = [api.customer(f"many-{n}") for n in range(500)]
    batch = [event(customer_id, "onboarding.started") for customer_id in customers]
    response = await api.post_events(batch)
    assert response.status_code == 202, response.text[:500]
    assert 1 < most <= CUSTOMERS_IN_FLIGHT, most
    body = response.json()
    assert (body["accepted"], body["received"], len(body["journeys"])) == (500, 500, 500)
    assert {e["status"] for e in body["events"]} == {"recorded"}
    assert [e["event_id"] for e in body["events"]] == [e["event_id"] for e in batch]
    for customer_id in customers[::100]:
        assert await signals_in_history(api, customer_id) == 1


async def test_a_batch_after_an_ended_journey_starts_one_new_run_and_older_events_stay_ignored(api: Api) -> None:
    customer_id = api.customer("back")
    long_ago = now() - timedelta(days=30)
    assert (await api.post_events(event(customer_id, "onboarding.phone_verified", long_ago))).status_code == 202
    await api.status_becomes(customer_id, "abandoned")
    handle = api.bench.env.client.get_workflow_handle(workflow_id_for(customer_id))
    await eventually(lambda: _closed(handle))
    first_run = (await handle.describe()).run_id

    start = now()  # after the end of the first run (it ended when its old first event arrived)
    back = [
        event(customer_id, "onboarding.document_uploaded", start + timedelta(minutes=1)),
        event(customer_id, "onboarding.document_approved", long_ago + timedelta(days=1)),  # before the end: ignored
        event(customer_id, "onboarding.phone_verified", start),
    ]
    response = await api.post_events(back)
    assert response.status_code == 202, response.text
    body = response.json()
    assert [e["status"] for e in body["events"]] == ["recorded", "ignored", "recorded"]
    assert body["journeys"][0]["note"] == "2 recorded, 1 not: journey already ended; event ignored"
    second = await handle.describe()
    assert second.run_id != first_run
    assert await signals_in_history(api, customer_id) == 1  # the new run: both events in its start signal
    view = (await api.journey(customer_id)).json()
    assert [e["type"] for e in view["events"]] == ["onboarding.phone_verified", "onboarding.document_uploaded"]


async def _closed(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING
