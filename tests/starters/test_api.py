"""The HTTP API, run for real: the app in-process over ASGI against the real dev server and worker,
and once under uvicorn on a real socket."""

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from console.accounts import Role, add_agent
from console.throttle import ADDRESS_FACTOR
from core.settings import Settings
from starters.api import create_app
from starters.client import RecoveryClient
from tests.console.conftest import csrf_token
from tests.harness import Bench, eventually
from tests.serving import served, speaking_from
from workflows.journey import workflow_id_for
from workflows.playbook import load_playbook

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_ids = itertools.count(1)


def now() -> datetime:
    return datetime.now(UTC)


def event(customer_id: str, type_: str, at: datetime | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"api-e-{next(_ids)}-{customer_id}",
        "customer_id": customer_id,
        "type": type_,
        "occurred_at": (at or now()).isoformat(),
        "profile": {"timezone": "Asia/Tashkent", "locale": "en", "location": {"lat": 41.31, "lon": 69.28}},
    }
    body.update(fields)
    return body


class Api:
    """The app in-process, and the customers a test creates (ended by the bench afterwards)."""

    def __init__(self, bench: Bench, http: httpx.AsyncClient) -> None:
        self.bench, self.http = bench, http

    def customer(self, name: str) -> str:
        customer_id = f"{self.bench.customer_id}-{name}"
        self.bench.customers.add(customer_id)
        return customer_id

    async def post_events(self, body: Any) -> httpx.Response:
        return await self.http.post("/v1/events", json=body, headers=AUTH)

    async def journey(self, customer_id: str) -> httpx.Response:
        return await self.http.get(f"/v1/journeys/{customer_id}", headers=AUTH)

    async def status_becomes(self, customer_id: str, wanted: str) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        async def reached() -> bool:
            response = await self.journey(customer_id)
            seen.update(response.json())
            return response.status_code == 200 and seen["status"] == wanted

        await eventually(reached, timeout=10)
        return seen


@pytest.fixture
async def api(live_bench: Bench) -> AsyncIterator[Api]:
    settings = live_bench.settings.model_copy(update={"api_token": TOKEN})
    app = create_app(settings, recovery=live_bench.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield Api(live_bench, http)


# -- auth -----------------------------------------------------------------------------------------


async def test_v1_needs_the_bearer_token(api: Api) -> None:
    customer_id = api.customer("auth")
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        for response in (
            await api.http.post("/v1/events", json=event(customer_id, "onboarding.started"), headers=headers),
            await api.http.get(f"/v1/journeys/{customer_id}", headers=headers),
            await api.http.get("/v1/tasks", headers=headers),
        ):
            assert response.status_code == 401, (headers, response.text)
            assert "bearer token" in response.json()["detail"]
            assert response.headers["www-authenticate"] == "Bearer"
    assert (await api.journey(customer_id)).status_code == 404  # nothing was recorded without the token


async def test_without_a_configured_token_v1_answers_503_and_healthz_still_works(live_bench: Bench) -> None:
    app = create_app(live_bench.settings.model_copy(update={"api_token": None}), recovery=live_bench.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        response = await http.get("/v1/tasks", headers={"Authorization": "Bearer anything"})
        assert response.status_code == 503
        assert response.json() == {"detail": "RECOVERY_API_TOKEN is not set"}
        assert (await http.get("/healthz")).status_code == 200


async def test_healthz_needs_no_token_and_reports_temporal(api: Api) -> None:
    response = await api.http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "temporal": "reachable"}


async def test_healthz_is_degraded_when_temporal_is_unreachable() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    client = await Client.connect(dead, lazy=True)
    app = create_app(Settings(api_token=TOKEN), recovery=RecoveryClient(client, load_playbook(), "nowhere"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        response = await http.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "temporal": "unreachable"}


# -- events ---------------------------------------------------------------------------------------


async def test_one_event_and_a_batch_are_accepted(api: Api) -> None:
    one, two = api.customer("one"), api.customer("two")
    sent = event(one, "onboarding.phone_verified")
    response = await api.post_events(sent)
    assert response.status_code == 202, response.text
    assert response.json() == {
        "accepted": 1,
        "received": 1,
        "events": [{"index": 0, "event_id": sent["event_id"], "status": "recorded"}],
        "journeys": [{"customer_id": one, "workflow_id": workflow_id_for(one), "accepted": 1, "note": "recorded"}],
    }

    start = now() - timedelta(minutes=5)
    batch = [
        event(two, "onboarding.phone_verified", start + timedelta(minutes=1)),
        event(one, "onboarding.document_uploaded"),
        event(two, "onboarding.started", start),  # out of order: the journey sorts by occurred_at
    ]
    response = await api.post_events(batch)
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["accepted"], body["received"]) == (3, 3)
    assert [(j["customer_id"], j["accepted"]) for j in body["journeys"]] == [(two, 2), (one, 1)]

    view = (await api.journey(two)).json()
    assert view["stage"] == "phone_verified"
    assert [e["type"] for e in view["events"]] == ["onboarding.started", "onboarding.phone_verified"]
    assert (await api.journey(one)).json()["stage"] == "document_uploaded"


INVALID: dict[str, tuple[dict[str, Any], str, str | None]] = {
    "unknown type": ({"type": "onboarding.teleported"}, "type", "teleported"),
    "naive timestamp": ({"occurred_at": "2026-11-22T10:00:00"}, "occurred_at", "2026-11-22T10:00:00"),
    "empty customer_id": ({"customer_id": ""}, "customer_id", None),
    "rejection without reason": ({"type": "onboarding.document_rejected", "attributes": {}}, "attributes.reason", None),
    "bad timezone": ({"profile": {"timezone": "Mars/Olympus_Mons"}}, "profile.timezone", "Olympus"),
    "extra field": ({"phone": "+998901234567"}, "phone", "998901234567"),
}


@pytest.mark.parametrize("case", list(INVALID))
async def test_a_batch_with_one_bad_event_is_rejected_whole(api: Api, case: str) -> None:
    change, field, secret = INVALID[case]
    good, bad = api.customer("good"), api.customer("bad")
    response = await api.post_events(
        [event(good, "onboarding.phone_verified"), {**event(bad, "onboarding.phone_verified"), **change}]
    )
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, field)], errors
    assert all(e["message"] for e in errors)
    if secret:
        assert secret not in response.text  # input values never come back: they may be personal data
    for customer_id in (good, bad):
        response = await api.journey(customer_id)
        assert response.status_code == 404
        assert response.json() == {"detail": f"no journey for customer {customer_id}"}


async def test_malformed_bodies_are_422(api: Api) -> None:
    customer_id = api.customer("malformed")
    headers = {**AUTH, "Content-Type": "application/json"}
    cases = {
        "not json": b"{not json",
        "empty batch": b"[]",
        "a number": b"42",
        "too many": httpx.Request("POST", "/", json=[event(customer_id, "onboarding.started")] * 501).content,
    }
    for name, content in cases.items():
        response = await api.http.post("/v1/events", content=content, headers=headers)
        assert response.status_code == 422, (name, response.text)
        assert response.json()["detail"][0]["message"], name
    assert (await api.journey(customer_id)).status_code == 404


async def test_the_same_event_twice_is_recorded_once_and_answered_as_a_duplicate(api: Api) -> None:
    customer_id = api.customer("twice")
    once = event(customer_id, "onboarding.phone_verified")
    statuses = []
    for _ in range(2):
        response = await api.post_events(once)
        assert response.status_code == 202, response.text
        statuses.append((response.json()["accepted"], response.json()["events"][0]["status"]))
    assert statuses == [(1, "recorded"), (0, "duplicate")]
    view = (await api.journey(customer_id)).json()
    assert [e["event_id"] for e in view["events"]] == [once["event_id"]]
    assert view["duplicates_ignored"] == 0, "a duplicate known to the intake costs no signal"


# -- journeys -------------------------------------------------------------------------------------


async def test_journey_404_and_200(api: Api) -> None:
    unknown = api.customer("nobody")
    response = await api.journey(unknown)
    assert response.status_code == 404
    assert response.json() == {"detail": f"no journey for customer {unknown}"}

    customer_id = api.customer("known")
    await api.post_events(event(customer_id, "onboarding.document_approved"))
    response = await api.journey(customer_id)
    assert response.status_code == 200
    view = response.json()
    assert (view["customer_id"], view["workflow_id"]) == (customer_id, workflow_id_for(customer_id))
    assert (view["stage"], view["status"], view["timezone"]) == ("document_approved", "active", "Asia/Tashkent")


# -- human tasks ----------------------------------------------------------------------------------


async def test_agents_claim_and_complete_a_task_through_the_api(api: Api) -> None:
    customer_id = api.customer("help")
    start = now() - timedelta(minutes=2)
    response = await api.post_events(
        [
            event(customer_id, "onboarding.phone_verified", start),
            event(customer_id, "onboarding.help_requested", start + timedelta(minutes=1)),
        ]
    )
    assert response.status_code == 202, response.text
    task_id = f"{customer_id}:task-1"
    listed: list[dict[str, Any]] = []

    async def in_the_inbox() -> bool:
        response = await api.http.get("/v1/tasks", params={"state": "open"}, headers=AUTH)
        assert response.status_code == 200, response.text
        listed[:] = [t for t in response.json() if t["customer_id"] == customer_id]
        return bool(listed)

    await eventually(in_the_inbox)
    assert listed[0]["task"]["task_id"] == task_id
    assert (listed[0]["task"]["state"], listed[0]["task"]["reason"], listed[0]["stage"]) == (
        "open",
        "help_requested",
        "phone_verified",
    )

    claim = await api.http.post(f"/v1/tasks/{task_id}/claim", json={"agent_id": "agent-ann"}, headers=AUTH)
    assert claim.status_code == 200, claim.text
    assert (claim.json()["state"], claim.json()["claimed_by"]) == ("claimed", "agent-ann")

    stolen = await api.http.post(f"/v1/tasks/{task_id}/claim", json={"agent_id": "agent-bob"}, headers=AUTH)
    assert stolen.status_code == 409
    assert stolen.json() == {"detail": f"task {task_id} is claimed by another agent (agent-ann)"}
    not_bobs = await api.http.post(f"/v1/tasks/{task_id}/release", json={"agent_id": "agent-bob"}, headers=AUTH)
    assert not_bobs.status_code == 409

    async def listed_as_claimed() -> bool:
        response = await api.http.get("/v1/tasks", params={"state": "claimed"}, headers=AUTH)
        return any(t["task"]["task_id"] == task_id for t in response.json())

    await eventually(listed_as_claimed)

    bogus = await api.http.post(
        f"/v1/tasks/{task_id}/complete", json={"agent_id": "agent-ann", "outcome": "bogus"}, headers=AUTH
    )
    assert bogus.status_code == 422
    assert [(e["location"], e["field"]) for e in bogus.json()["detail"]] == [("body", "outcome")]
    assert "bogus" not in bogus.text
    bad_agent = await api.http.post(f"/v1/tasks/{task_id}/claim", json={"agent_id": "has space"}, headers=AUTH)
    assert bad_agent.status_code == 422
    assert (await api.http.get("/v1/tasks", params={"state": "completed"}, headers=AUTH)).status_code == 422

    done = await api.http.post(
        f"/v1/tasks/{task_id}/complete",
        json={"agent_id": "agent-ann", "outcome": "activated_in_store", "note": "came to the Chilanzar store"},
        headers=AUTH,
    )
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["outcome"], done.json()["completed_by"]) == (
        "completed",
        "activated_in_store",
        "agent-ann",
    )
    view = await api.status_becomes(customer_id, "completed")
    assert (view["outcome"]["assisted"], view["outcome"]["preceded_by"]) == (True, "human_task")

    again = await api.http.post(
        f"/v1/tasks/{task_id}/complete", json={"agent_id": "agent-ann", "outcome": "unreachable"}, headers=AUTH
    )
    assert again.status_code == 409
    unknown = await api.http.post("/v1/tasks/not-a-task/claim", json={"agent_id": "agent-ann"}, headers=AUTH)
    assert unknown.status_code == 409
    assert "not a task id" in unknown.json()["detail"]


async def test_a_signed_in_console_agent_acts_as_themselves_not_as_the_body_says(api: Api) -> None:
    """With a console session, the API takes the acting agent from it; agent_id cannot name another."""
    journal = api.bench.client.journal
    assert journal is not None
    add_agent(journal, "agent-cid", "cid-long-password", Role.AGENT)
    form = await api.http.get("/console/sign-in")
    signed_in = await api.http.post(
        "/console/sign-in",
        data={"csrf_token": csrf_token(form.text), "username": "agent-cid", "password": "cid-long-password"},
    )
    assert signed_in.status_code == 303, signed_in.text
    session = {**AUTH, "Cookie": f"console_session={signed_in.cookies['console_session']}"}
    customer_id = api.customer("principal")
    start = now() - timedelta(minutes=2)
    response = await api.post_events(
        [
            event(customer_id, "onboarding.phone_verified", start),
            event(customer_id, "onboarding.help_requested", start + timedelta(minutes=1)),
        ]
    )
    assert response.status_code == 202, response.text
    task_id = f"{customer_id}:task-1"

    async def opened() -> bool:
        tasks: list[Any] = (await api.journey(customer_id)).json().get("tasks", [])
        return tasks != []

    await eventually(opened)
    posing = await api.http.post(f"/v1/tasks/{task_id}/claim", json={"agent_id": "agent-eve"}, headers=session)
    assert posing.status_code == 403, posing.text
    claim = await api.http.post(f"/v1/tasks/{task_id}/claim", json={}, headers=session)
    assert claim.status_code == 200, claim.text
    assert claim.json()["claimed_by"] == "agent-cid"
    # The bearer token alone acts for the app backend: agent_id is required, and taken as given.
    api.http.cookies.clear()
    missing = await api.http.post(f"/v1/tasks/{task_id}/release", json={}, headers=AUTH)
    assert (missing.status_code, [(e["location"], e["field"]) for e in missing.json()["detail"]]) == (
        422,
        [("body", "agent_id")],
    )
    released = await api.http.post(f"/v1/tasks/{task_id}/release", json={"agent_id": "agent-cid"}, headers=AUTH)
    assert released.status_code == 200, released.text


# -- end states, through the API only -------------------------------------------------------------


async def test_completed_through_events(api: Api) -> None:
    customer_id = api.customer("done")
    start = now() - timedelta(minutes=30)
    funnel = ["started", "phone_verified", "document_uploaded", "document_approved", "biometric_passed", "completed"]
    batch = [event(customer_id, f"onboarding.{step}", start + timedelta(minutes=i)) for i, step in enumerate(funnel)]
    assert (await api.post_events(batch)).status_code == 202
    view = await api.status_becomes(customer_id, "completed")
    assert view["stage"] == "completed"

    late = await api.post_events(event(customer_id, "onboarding.help_requested"))
    assert late.status_code == 202
    assert late.json()["journeys"][0]["note"] in ("recorded", "journey already ended; event ignored")


async def test_abandoned_after_the_recovery_window(api: Api) -> None:
    customer_id = api.customer("gone")
    assert (
        await api.post_events(event(customer_id, "onboarding.phone_verified", now() - timedelta(hours=49)))
    ).status_code == 202
    view = await api.status_becomes(customer_id, "abandoned")
    assert view["outcome"]["kind"] == "abandoned"


async def test_opted_out_of_all_channels(api: Api) -> None:
    customer_id = api.customer("quiet")
    long_ago = now() - timedelta(hours=49)
    batch = [
        event(customer_id, "customer.opted_out", long_ago, attributes={"channel": "all"}),
        event(customer_id, "onboarding.started", long_ago + timedelta(minutes=1)),
    ]
    assert (await api.post_events(batch)).status_code == 202
    view = await api.status_becomes(customer_id, "opted_out")
    assert sorted(view["opted_out"]) == ["push", "sms"]
    assert view["outcome"]["kind"] == "opted_out"


# -- on a real socket -----------------------------------------------------------------------------


async def test_served_by_uvicorn_on_a_real_port(dev_server_env: WorkflowEnvironment, tmp_path: Any) -> None:
    address = dev_server_env.client.service_client.config.target_host
    settings = Settings(
        temporal_address=address, namespace=dev_server_env.client.namespace, api_token=TOKEN, data_dir=tmp_path
    )
    app = create_app(settings)  # no client given: the lifespan connects on startup
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            health = await http.get("/healthz")
            assert (health.status_code, health.json()) == (200, {"status": "ok", "temporal": "reachable"})
            openapi = (await http.get("/openapi.json")).json()
            assert openapi["info"]["title"] == "onboarding-recovery"
            assert {
                "/v1/events",
                "/v1/journeys/{customer_id}",
                "/v1/tasks",
                "/v1/tasks/{task_id}/complete",
                "/healthz",
            } <= set(openapi["paths"])
            assert "requestBody" in openapi["paths"]["/v1/events"]["post"]
            assert (await http.get("/docs")).status_code == 200
            assert (await http.get("/v1/journeys/c-nobody-here")).status_code == 401
            missing = await http.get("/v1/journeys/c-nobody-here", headers=AUTH)
            assert (missing.status_code, missing.json()) == (404, {"detail": "no journey for customer c-nobody-here"})
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    assert not thread.is_alive()


# -- wrong bearer tokens, throttled per client address ---------------------------------------------


async def test_wrong_bearer_tokens_from_one_address_get_429_with_retry_after(live_bench: Bench) -> None:
    settings = live_bench.settings.model_copy(update={"api_token": TOKEN})
    app = create_app(settings, recovery=live_bench.client)
    clock = [datetime.now(UTC)]
    app.state.sign_in_throttle.clock = lambda: clock[0]
    guesser, backend = speaking_from("203.0.113.50"), speaking_from("198.51.100.50")
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        statuses = []
        for attempt in range(20):
            response = await http.get("/v1/report", headers={**guesser, "Authorization": f"Bearer guess-{attempt}"})
            statuses.append(response.status_code)
        threshold = settings.sign_in_lockout_after * ADDRESS_FACTOR // 2  # wrong tokens before the first delay
        assert statuses[:threshold] == [401] * threshold and statuses[threshold:] == [429] * (20 - threshold), statuses
        throttled = await http.get("/v1/report", headers={**guesser, **AUTH})  # not even checked while it waits
        assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
        assert "too many wrong bearer tokens" in throttled.json()["detail"]
        assert (
            await http.get("/v1/report", headers={**backend, **AUTH})
        ).status_code == 200  # other addresses are not held up
        for attempt in range(20):  # a guesser who keeps going is locked out
            await http.get("/v1/report", headers={**guesser, "Authorization": f"Bearer more-{attempt}"})
        locked = await http.get("/v1/report", headers={**guesser, **AUTH})
        assert (locked.status_code, locked.headers["Retry-After"]) == (429, str(settings.sign_in_lockout_seconds))
        clock[0] += timedelta(seconds=settings.sign_in_lockout_seconds + 1)
        assert (await http.get("/v1/report", headers={**guesser, **AUTH})).status_code == 200
