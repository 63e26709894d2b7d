"""What fuzzing the API (test_api_fuzz.py) found, each pinned on its own: the OpenAPI document states
the rules and error shapes the API really uses, and unreadable bodies get one answer everywhere.
No Temporal server is needed: every request here is answered before a journey is asked."""

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from core.settings import Settings
from journal.store import migrate, open_journal
from starters.api import create_app
from starters.client import RecoveryClient
from workflows.funnel import EventType
from workflows.playbook import load_playbook

TOKEN = "d0c-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a client to a port nothing listens on: a request that reached Temporal would fail."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    recovery = RecoveryClient(await Client.connect(dead, lazy=True), load_playbook(), "nowhere")
    app = create_app(Settings(api_token=TOKEN, data_dir=tmp_path), recovery=recovery)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client


async def document(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    openapi: dict[str, Any] = response.json()
    return openapi


async def test_a_task_body_that_is_not_utf8_is_422_like_an_events_body(http: httpx.AsyncClient) -> None:
    """FastAPI answered 400 "There was an error parsing the body", a status the document never stated."""
    for path in (
        "/v1/tasks/c-1:task-1/claim",
        "/v1/tasks/c-1:task-1/release",
        "/v1/tasks/c-1:task-1/complete",
        "/v1/events",
    ):
        response = await http.post(
            path, content=b'{"agent_id": "\xff"}', headers={**AUTH, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, (path, response.text)
        assert "not valid JSON" in response.json()["detail"][0]["message"]


async def test_a_journey_is_asked_for_by_customer_id_only(http: httpx.AsyncClient) -> None:
    """The path took any text and asked Temporal for it; it now takes what customer_id takes, as documented."""
    response = await http.get("/v1/journeys/not%20an%20id", headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["location"] == "path"
    parameter = (await document(http))["paths"]["/v1/journeys/{customer_id}"]["get"]["parameters"][0]
    assert parameter["schema"]["pattern"].startswith("^[A-Za-z0-9]")


async def test_every_error_answer_is_documented_with_its_body(http: httpx.AsyncClient) -> None:
    """401, 404, 409, 503 had no body schema, 502 and 504 were missing, and 422 named FastAPI's
    HTTPValidationError, a shape the API never sends (it reshapes validation errors)."""
    spec = await document(http)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"401", "422", "502", "503"} <= set(responses), (method, path)
            for code, response in responses.items():
                if code[0] in "45":
                    assert response["content"]["application/json"]["schema"]["$ref"] in {
                        "#/components/schemas/Problem",
                        "#/components/schemas/RequestRejected",
                        "#/components/schemas/BatchRejected",
                    }, (method, path, code)
    assert "504" in spec["paths"]["/v1/journeys/{customer_id}"]["get"]["responses"]


async def test_each_event_type_documents_the_attributes_the_door_takes(http: httpx.AsyncClient) -> None:
    """The document said any attribute names; the door takes a few per type, and refused the rest."""
    event = (await document(http))["components"]["schemas"]["IncomingEvent"]
    by_type = {v["properties"]["type"]["const"]: v["properties"]["attributes"] for v in event["oneOf"]}
    assert set(by_type) == {t.value for t in EventType}
    assert (
        set(by_type["onboarding.document_rejected"]["properties"]),
        by_type["onboarding.document_rejected"]["required"],
    ) == (
        {"reason", "reason_detail", "reject_type"},
        ["reason"],
    )
    assert by_type["customer.opted_out"]["properties"]["channel"]["enum"] == ["push", "sms", "all"]
    assert (by_type["onboarding.started"]["properties"], by_type["onboarding.started"]["additionalProperties"]) == (
        {},
        False,
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"payloads": ["abc", ""]}',
        b"[]",
        b'{"payloads": [{"data": "ab!c"}]}',
        b'{"payloads": [{"metadata": {"encoding": 5}}]}',
        b"\xff",
    ],
)
async def test_the_codec_refuses_what_is_not_payloads(http: httpx.AsyncClient, body: bytes) -> None:
    """protobuf's parser, skipping unknown fields, read strings in the list as empty payloads and
    skipped characters outside base64: garbage was answered 200."""
    response = await http.post("/codec/decode", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("since", ["-1.0326474867790103e-225", "1700000000", "2026-11-01"])
async def test_report_times_are_date_times_not_numbers(http: httpx.AsyncClient, since: str) -> None:
    """pydantic read a number as a Unix time, so `since=-1e-225` was a report from 1970; the document says date-time."""
    for path in ("/v1/report", "/v1/report/chart.png"):
        response = await http.get(path, params={"since": since}, headers=AUTH)
        assert response.status_code == 422, (path, response.text)
        assert (response.json()["detail"][0]["location"], response.json()["detail"][0]["field"]) == ("query", "since")


@pytest.mark.parametrize(
    "query",
    [
        {"until": "0001-01-01T01:17:07Z"},
        {"since": "0001-01-01T00:00:00+14:00"},
        {"since": "9999-12-31T23:59:59-14:00", "until": "9999-12-31T23:59:59Z"},
    ],
)
async def test_a_report_over_any_date_time_is_answered_not_a_500(tmp_path: Path, query: dict[str, str]) -> None:
    """`until` in year 1 overflowed when the report subtracted the dormancy days: 500 (OverflowError)."""
    settings = Settings(api_token=TOKEN, data_dir=tmp_path)
    journal = open_journal(settings.journal_database_url)
    migrate(journal)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    recovery = RecoveryClient(await Client.connect(dead, lazy=True), load_playbook(), "nowhere", journal)
    app = create_app(settings, recovery=recovery)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        for path in ("/v1/report", "/v1/report/chart.png"):
            response = await http.get(path, params=query, headers=AUTH)
            assert response.status_code == 200, (path, response.text)
