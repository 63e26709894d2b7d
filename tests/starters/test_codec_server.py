"""Personal data is encrypted in Temporal's history, and readable through the codec server only with
credentials; keys rotate under running journeys. Against the real dev server and the `temporal` CLI."""

import asyncio
import base64
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from console.accounts import add_agent
from core.payload_codec import ENCODING, KEY_ID_METADATA
from starters.api import create_app
from tests.console.conftest import PASSWORDS, ROLES, Console
from tests.harness import SAMARKAND, Bench, bench_settings, eventually, recovery_client
from tests.payload_keys import TEST_KEY_1, TEST_KEY_2, converter_for_tests
from tests.temporal_binaries import DEV_SERVER
from workers.worker import build_worker
from workflows.journey import workflow_id_for
from workflows.journey_state import JourneyOutcome
from workflows.playbook import Playbook

TOKEN = "codec-t0ken"
UI = "http://localhost:8233"  # the settings' default Web UI: its origin may call /codec with credentials
COORDINATES = (str(SAMARKAND["lat"]), str(SAMARKAND["lon"]))


def _payloads(node: Any) -> Iterator[dict[str, Any]]:
    """Every payload object (metadata and data) in a history as the CLI prints it."""
    if isinstance(node, dict):
        if "metadata" in node and "data" in node:
            yield node
            return
        for value in node.values():
            yield from _payloads(value)
    elif isinstance(node, list):
        for value in node:
            yield from _payloads(value)


def _readable(text: str) -> str:
    """The history as the CLI printed it, plus every payload's data base64-decoded: what a reader gets."""
    decoded = [
        base64.b64decode(p["data"]).decode("utf-8", errors="replace")
        for p in _payloads(json.loads(text))
        if isinstance(p["data"], str)
    ]
    return "\n".join([text, *decoded])


async def _show(address: str, workflow_id: str) -> str:
    result = await asyncio.to_thread(
        subprocess.run,
        [str(DEV_SERVER), "workflow", "show", "--workflow-id", workflow_id, "--address", address, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
async def codec_console(live_bench: Bench) -> AsyncIterator[Console]:
    journal = live_bench.client.journal
    assert journal is not None
    add_agent(journal, "ana", PASSWORDS["ana"], ROLES["ana"])
    app = create_app(live_bench.settings.model_copy(update={"api_token": TOKEN}), recovery=live_bench.client)
    console = Console(live_bench, app)
    yield console
    for http in console.clients:
        await http.aclose()


async def test_history_is_sealed_and_the_codec_server_opens_it_with_credentials(
    live_bench: Bench, codec_console: Console
) -> None:
    # Verified the phone 2.5 hours ago, in daytime where they live (Samarkand's coordinates): a push nudge at once.
    await live_bench.send(
        "onboarding.phone_verified", occurred_at=await live_bench.now() - timedelta(hours=2, minutes=30)
    )

    async def nudged() -> bool:
        return bool(live_bench.outbox())

    await eventually(nudged, timeout=20)
    nudge_text = live_bench.outbox()[0]["text"]
    address = live_bench.env.client.service_client.config.target_host

    history = await _show(address, workflow_id_for(live_bench.customer_id))
    readable = _readable(history)
    assert nudge_text not in readable
    for coordinate in COORDINATES:
        assert coordinate not in readable
    payloads = list(_payloads(json.loads(history)))
    sealed = [p for p in payloads if base64.b64decode(p["metadata"].get("encoding", "")) == ENCODING]
    assert sealed, "no encrypted payload in the history"

    body = {"payloads": payloads}
    anonymous = codec_console.client("nobody")
    refused = await anonymous.http.post("/codec/decode", json=body, headers={"Origin": UI, "X-Namespace": "default"})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == UI  # the UI sees the 401, not a CORS failure
    assert (
        await anonymous.http.post("/codec/decode", json=body, headers={"Authorization": "Bearer wrong"})
    ).status_code == 401
    preflight = await anonymous.http.options(
        "/codec/decode",
        headers={
            "Origin": UI,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        },
    )
    assert preflight.headers["access-control-allow-origin"] == UI
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "x-namespace" in preflight.headers["access-control-allow-headers"]
    stranger = await anonymous.http.options(
        "/codec/decode", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in stranger.headers

    agent = await codec_console.signed_in("ana")  # the session cookie, as the Web UI sends it with credentials
    for answer in (
        await agent.http.post("/codec/decode", json=body, headers={"Origin": UI, "X-Namespace": "default"}),
        await anonymous.http.post("/codec/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"}),
    ):
        assert answer.status_code == 200, answer.text
        opened = _readable(json.dumps(answer.json()))
        assert nudge_text in opened
        for coordinate in COORDINATES:
            assert coordinate in opened

    # encode, then decode: the UI's round trip for a signal typed by an operator
    plain = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(b'"hello"').decode(),
    }
    encoded = (await agent.http.post("/codec/encode", json={"payloads": [plain]})).json()["payloads"]
    assert base64.b64decode(encoded[0]["metadata"]["encoding"]) == ENCODING
    decoded = (await agent.http.post("/codec/decode", json={"payloads": encoded})).json()["payloads"]
    assert base64.b64decode(decoded[0]["data"]) == b'"hello"'


async def test_journeys_started_under_key_1_finish_under_key_2(
    dev_server_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Any
) -> None:
    settings = bench_settings(tmp_path)
    key_1_client = dev_server_env.client  # the suite's converter: TEST_KEY_1 alone
    customers = [f"rotate-{settings.task_queue}-{n}" for n in range(3)]
    async with build_worker(key_1_client, settings):
        bench = Bench(dev_server_env, recovery_client(dev_server_env, default_playbook, settings), settings)
        for customer_id in customers:
            await bench.send("onboarding.phone_verified", customer_id=customer_id)
        for customer_id in customers:
            await bench.view(customer_id)  # each journey has run a workflow task under key 1

    # The rotation: key 2 first (it encrypts), key 1 kept for the histories that need it; the worker restarts.
    rotated_config = key_1_client.config()
    rotated_config["data_converter"] = converter_for_tests(f"{TEST_KEY_2},{TEST_KEY_1}")
    rotated = Client(**rotated_config)
    async with build_worker(rotated, settings):
        rotated_env = WorkflowEnvironment.from_client(rotated)
        bench = Bench(rotated_env, recovery_client(rotated_env, default_playbook, settings), settings)
        for customer_id in customers:
            await bench.send("onboarding.document_uploaded", customer_id=customer_id)
            await bench.send("onboarding.completed", customer_id=customer_id)
        for customer_id in customers:
            outcome = await rotated.get_workflow_handle(
                workflow_id_for(customer_id), result_type=JourneyOutcome
            ).result()
            assert outcome.kind == "completed"

    for customer_id in customers:
        history = await rotated.get_workflow_handle(workflow_id_for(customer_id)).fetch_history()
        key_ids = [
            payload.metadata[KEY_ID_METADATA].decode() for event in history.events for payload in _event_payloads(event)
        ]
        assert key_ids[0] == "test-1" and key_ids[-1] == "test-2", key_ids  # started under key 1, ended under key 2
        assert set(key_ids) == {"test-1", "test-2"}


def _event_payloads(event: Any) -> Iterator[Any]:
    """Payloads of the events that carry the journey's data: its input, signals, activities, result."""
    for attributes, field in (
        ("workflow_execution_started_event_attributes", "input"),
        ("workflow_execution_signaled_event_attributes", "input"),
        ("activity_task_scheduled_event_attributes", "input"),
        ("workflow_execution_completed_event_attributes", "result"),
    ):
        if event.HasField(attributes):
            yield from getattr(getattr(event, attributes), field).payloads
