"""Service health through the API: an outage holds the nudges of the customers it hit, and reporting the
service healthy sends them within seconds (a signal to each waiting journey), not at the next recheck."""

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import Client

from core.settings import Settings
from journal.services import add_waiter, is_healthy, waiters_of
from journal.store import migrate, open_journal
from starters.api import create_app
from starters.client import RecoveryClient
from tests.harness import Bench, eventually
from workflows.playbook import load_playbook

TOKEN = "s3rvice-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAKE_WITHIN_S = 5.0


def app_of(recovery: RecoveryClient, data_dir: Path) -> httpx.AsyncClient:
    app = create_app(Settings(api_token=TOKEN, data_dir=data_dir), recovery=recovery)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


async def test_journeys_held_for_an_outage_send_within_seconds_of_the_service_reported_healthy(
    outage_bench: Bench, tmp_path: Path
) -> None:
    bench = outage_bench
    customers = [f"{bench.customer_id}-{n}" for n in range(3)]
    journal = bench.client.journal
    assert journal is not None
    async with app_of(bench.client, tmp_path) as http:
        response = await http.put("/v1/services/ocr", json={"healthy": False}, headers=AUTH)
        assert response.status_code == 200, response.text
        for customer_id in customers:
            await bench.send("onboarding.phone_verified", customer_id=customer_id)
            await bench.send("onboarding.error", customer_id=customer_id, error="service_unavailable", service="ocr")

        async def all_held() -> bool:
            views = [await bench.view(c) for c in customers]
            return all(("deferred", "service_unhealthy") in [(d.action, d.reason) for d in v.suppressed] for v in views)

        await eventually(all_held, timeout=20)
        assert all(bench.outbox(c) == [] for c in customers)
        assert [w.workflow_id for w in waiters_of(journal, "ocr")] == sorted(f"onboarding-{c}" for c in customers)
        add_waiter(journal, "ocr", f"onboarding-{bench.customer_id}-never-started", datetime.now(UTC))

        response = await http.put("/v1/services/ocr", json={"healthy": True}, headers=AUTH)
        reported = asyncio.get_running_loop().time()
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["service"], body["healthy"], body["journeys_woken"], body["journeys_unreached"]) == (
            "ocr",
            True,
            3,
            0,
        )

        deadline = reported + WAKE_WITHIN_S
        while True:
            views = [await bench.view(c) for c in customers]
            if all(v.nudges_sent == 1 for v in views):
                break
            assert asyncio.get_running_loop().time() < deadline, [
                (v.nudges_sent, v.next_action, v.next_action_at) for v in views
            ]
            await asyncio.sleep(0.1)
        for customer_id in customers:
            [nudge] = bench.outbox(customer_id)
            assert "service failed, not you" in nudge["text"]
        assert waiters_of(journal, "ocr") == []  # the journey that never was is cleared, not retried forever
        listed = (await http.get("/v1/services", headers=AUTH)).json()["services"]
        assert [(s["service"], s["healthy"]) for s in listed] == [("ocr", True)]


# -- validation, without a Temporal server: nothing here needs a journey -------------------------


@pytest.fixture
def journal(tmp_path: Path) -> Engine:
    engine = open_journal(f"sqlite:///{tmp_path / 'journal.db'}")
    migrate(engine)
    return engine


@pytest.fixture
async def http(journal: Engine, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a client to a port nothing listens on: no waiters, so no call reaches Temporal."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    recovery = RecoveryClient(await Client.connect(dead, lazy=True), load_playbook(), "nowhere", journal)
    async with app_of(recovery, tmp_path) as client:
        yield client


async def test_a_service_is_reported_down_then_up_and_listed(http: httpx.AsyncClient, journal: Engine) -> None:
    assert (await http.get("/v1/services", headers=AUTH)).json() == {"services": []}
    assert is_healthy(journal, "ocr")  # never reported: healthy
    response = await http.put("/v1/services/ocr", json={"healthy": False}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert (response.json()["healthy"], response.json()["journeys_woken"]) == (False, 0)
    assert not is_healthy(journal, "ocr")
    await http.put("/v1/services/liveness.v2", json={"healthy": True}, headers=AUTH)
    listed = (await http.get("/v1/services", headers=AUTH)).json()["services"]
    assert [(s["service"], s["healthy"]) for s in listed] == [("liveness.v2", True), ("ocr", False)]
    down = (await http.get("/v1/services", params={"healthy": "false"}, headers=AUTH)).json()["services"]
    assert [s["service"] for s in down] == ["ocr"]
    response = await http.get("/v1/services", params={"healthy": "maybe"}, headers=AUTH)
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "healthy", response.text
    assert (await http.put("/v1/services/ocr", json={"healthy": True}, headers=AUTH)).status_code == 200
    assert is_healthy(journal, "ocr")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/services/ocr", {}, "healthy"),
        ("/v1/services/ocr", {"healthy": "yes"}, "healthy"),
        ("/v1/services/ocr", {"healthy": 1}, "healthy"),
        ("/v1/services/ocr", {"healthy": True, "down": True}, "down"),
        ("/v1/services/ocr", ["healthy"], None),
        ("/v1/services/-ocr", {"healthy": True}, "service"),
        ("/v1/services/o%20cr", {"healthy": True}, "service"),
        ("/v1/services/" + "o" * 65, {"healthy": True}, "service"),
    ],
)
async def test_a_bad_service_or_body_is_422_naming_it_and_nothing_is_stored(
    http: httpx.AsyncClient, journal: Engine, path: str, body: object, field: str | None
) -> None:
    response = await http.put(path, json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    if field is not None:
        assert field in [d["field"] for d in response.json()["detail"]], response.text
    assert (await http.get("/v1/services", headers=AUTH)).json() == {"services": []}


async def test_services_need_the_bearer_token(http: httpx.AsyncClient) -> None:
    for response in (
        await http.put("/v1/services/ocr", json={"healthy": False}),
        await http.get("/v1/services"),
        await http.put("/v1/services/ocr", json={"healthy": False}, headers={"Authorization": "Bearer wrong"}),
    ):
        assert response.status_code == 401, response.text
    assert (await http.get("/v1/services", headers=AUTH)).json() == {"services": []}
