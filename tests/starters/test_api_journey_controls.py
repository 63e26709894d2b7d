"""Operators' controls over real HTTP (uvicorn on a socket, the dev server and a worker): finding
journeys in the journal page by page, and closing one."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from starters.api import create_app
from tests.harness import Bench, eventually
from tests.serving import served
from workflows.journey import workflow_id_for

TOKEN = "controls-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def http(live_bench: Bench) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(live_bench.settings.model_copy(update={"api_token": TOKEN}), recovery=live_bench.client)
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


def event(customer_id: str, type_: str, n: int) -> dict[str, Any]:
    return {
        "event_id": f"ctl-{customer_id}-{n}",
        "customer_id": customer_id,
        "type": type_,
        "occurred_at": datetime.now(UTC).isoformat(),
        "profile": {"timezone": "Asia/Tashkent", "locale": "en"},
    }


async def listing(http: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await http.get("/v1/journeys", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def field_of(response: httpx.Response) -> list[tuple[str | None, str | None]]:
    return [(d["location"], d["field"]) for d in response.json()["detail"]]


async def test_find_journeys_page_by_page_and_close_one(live_bench: Bench, http: httpx.AsyncClient) -> None:
    customers = [f"{live_bench.customer_id}-{n}" for n in range(5)]
    live_bench.customers.update(customers)
    for n, customer_id in enumerate(customers):
        first = "onboarding.phone_verified" if n % 2 else "onboarding.document_approved"
        response = await http.post("/v1/events", json=event(customer_id, first, n), headers=AUTH)
        assert response.status_code == 202, response.text

    async def all_listed() -> bool:
        return len((await listing(http, limit=100))["journeys"]) == len(customers)

    await eventually(all_listed)

    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = await listing(http, **params)
        seen += [j["customer_id"] for j in page["journeys"]]
        if page["next"] is None:
            break
        params["cursor"] = page["next"]
    assert sorted(seen) == sorted(customers), "every journey exactly once"
    item = (await listing(http, customer_id=customers[1]))["journeys"][0]
    assert item["workflow_id"] == workflow_id_for(customers[1])
    assert (item["status"], item["stage"], item["group"], item["nudges"]) == (
        "active",
        "phone_verified",
        "treatment",
        0,
    )
    assert item["started_at"] and item["updated_at"] and item["ended_at"] is None
    at_a = await listing(http, stage="phone_verified")
    assert sorted(j["customer_id"] for j in at_a["journeys"]) == sorted(customers[1::2])
    assert (await listing(http, since="2999-01-01T00:00:00Z"))["journeys"] == []

    closing = customers[2]
    response = await http.post(
        f"/v1/journeys/{closing}/close", json={"reason": "fraud review: do not contact", "by": "ops-ana"}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["workflow_id"] == workflow_id_for(closing)
    assert (body["outcome"]["kind"], body["outcome"]["reason"], body["outcome"]["closed_by"]) == (
        "closed",
        "fraud review: do not contact",
        "ops-ana",
    )
    view = (await http.get(f"/v1/journeys/{closing}", headers=AUTH)).json()
    assert view["status"] == "closed" and view["outcome"]["kind"] == "closed"

    async def closed_listed() -> bool:
        return [j["customer_id"] for j in (await listing(http, status="closed"))["journeys"]] == [closing]

    await eventually(closed_listed)

    again = await http.post(f"/v1/journeys/{closing}/close", json={"reason": "twice"}, headers=AUTH)
    assert again.status_code == 409 and "already ended" in again.json()["detail"]
    unknown = await http.post(f"/v1/journeys/{live_bench.customer_id}-nobody/close", json={"reason": "x"}, headers=AUTH)
    assert unknown.status_code == 404
    no_reason = await http.post(f"/v1/journeys/{customers[0]}/close", json={"reason": " "}, headers=AUTH)
    assert no_reason.status_code == 422 and field_of(no_reason) == [("body", "reason")]
    bad_by = await http.post(f"/v1/journeys/{customers[0]}/close", json={"reason": "x", "by": "a b"}, headers=AUTH)
    assert bad_by.status_code == 422 and field_of(bad_by) == [("body", "by")]
    anonymous = await http.post(f"/v1/journeys/{customers[0]}/close", json={"reason": "x"})
    assert anonymous.status_code == 401
    assert (await http.get(f"/v1/journeys/{customers[0]}", headers=AUTH)).json()["status"] != "closed"


@pytest.mark.parametrize(
    "params",
    [
        {"status": "sleeping"},
        {"stage": "passport"},
        {"since": "last tuesday"},
        {"limit": "0"},
        {"limit": "501"},
        {"cursor": "not-a-cursor"},
        {"customer_id": "no spaces allowed"},
    ],
    ids=lambda p: next(iter(p)),
)
async def test_a_bad_filter_is_a_422_naming_it(http: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await http.get("/v1/journeys", params=params, headers=AUTH)
    assert response.status_code == 422, response.text
    assert field_of(response) == [("query", next(iter(params)))]
