"""Metrics: scrape the worker's and the API's Prometheus endpoints and see the product's counters move."""

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from journal.store import migrate, open_journal
from starters.api import create_app
from starters.client import RecoveryClient
from tests.harness import SAMARKAND, zone_where_local_hour_is
from tests.workers.processes import WorkerProcess, free_port, wait_until_started, worker_env
from workflows.events import OnboardingEvent
from workflows.journey import workflow_id_for
from workflows.journey_state import JourneyOutcome, OutcomeKind
from workflows.playbook import Playbook

pytestmark = pytest.mark.timeout(120)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over the series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (sample, series), value in samples.items() if sample == name and wanted <= series)


async def scrape_until(url: str, ready: Callable[[Samples], bool], timeout_s: float = 15.0) -> Samples:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as http:
        while True:
            response = await http.get(url)
            assert response.status_code == 200
            samples = parse(response.text)
            if ready(samples):
                return samples
            if time.monotonic() > deadline:
                return samples  # the caller's assertions say what is missing
            await asyncio.sleep(0.3)


def event(customer_id: str, type_: str, at: datetime, zone: str) -> OnboardingEvent:
    return OnboardingEvent(
        event_id=f"{customer_id}:{type_}",
        customer_id=customer_id,
        type=type_,
        occurred_at=at,
        profile={"timezone": zone, "locale": "en", "location": SAMARKAND},
    )


async def test_worker_metrics_count_journeys_nudges_and_outcomes(
    dev_server_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path
) -> None:
    task_queue = f"metrics-{uuid.uuid4().hex[:8]}"
    settings = Settings(_env_file=None, data_dir=tmp_path, task_queue=task_queue)
    journal = open_journal(settings.journal_database_url)
    migrate(journal)
    client = RecoveryClient(dev_server_env.client, default_playbook, task_queue, journal)
    port = free_port()
    address = dev_server_env.client.service_client.config.target_host
    worker = WorkerProcess(
        "metrics",
        tmp_path / "worker.log",
        worker_env(address, dev_server_env.client.namespace, tmp_path, task_queue, RECOVERY_METRICS_PORT=str(port)),
    ).start()
    customer_id = f"c-metrics-{uuid.uuid4().hex[:8]}"
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        await wait_until_started([worker])
        ours = {"task_queue": task_queue}
        before = await scrape_until(url, lambda s: True)
        assert total(before, "onboarding_journeys_started_total", **ours) == 0

        # Verified the phone 2.5 hours ago, in daytime where they live: a push nudge at once; then they finish.
        now = datetime.now(UTC)
        zone = zone_where_local_hour_is(now, 10)
        await client.record_event(
            event(customer_id, "onboarding.phone_verified", now - timedelta(hours=2, minutes=30), zone)
        )
        sent = await scrape_until(url, lambda s: total(s, "onboarding_messages_total", action="sent", **ours) >= 1)
        assert total(sent, "onboarding_journeys_started_total", **ours) == 1
        assert (
            total(sent, "onboarding_messages_total", action="sent", reason="push", stage="phone_verified", **ours) == 1
        )
        await client.record_event(event(customer_id, "onboarding.completed", datetime.now(UTC), zone))
        handle = dev_server_env.client.get_workflow_handle(workflow_id_for(customer_id), result_type=JourneyOutcome)
        assert (await asyncio.wait_for(handle.result(), timeout=20)).kind is OutcomeKind.COMPLETED

        after = await scrape_until(
            url,
            lambda s: (
                total(s, "onboarding_journeys_ended_total", **ours) >= 1
                and total(s, "temporal_workflow_completed_total", **ours) >= 1
            ),  # the SDK's may come a moment later
        )
        assert total(after, "onboarding_journeys_ended_total", outcome="completed", **ours) == 1
        assert total(after, "onboarding_journeys_started_total", group="treatment", **ours) == 1
        assert total(after, "onboarding_messages_total", action="sent", **ours) == 1
        # The SDK's own runtime metrics are served alongside.
        assert any(name.startswith("temporal_") for name, _ in after), sorted({n for n, _ in after})[:20]
        assert total(after, "temporal_workflow_completed_total", **ours) >= 1
        # Funnel facts only: no customer id in any label.
        assert not any(customer_id in value for _, series in after for _, value in series)
    finally:
        assert worker.stop() == 0
        try:
            await dev_server_env.client.get_workflow_handle(workflow_id_for(customer_id)).terminate("test finished")
        except RPCError:
            pass


async def test_a_second_worker_on_a_busy_metrics_port_says_so(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    port = free_port()
    address = dev_server_env.client.service_client.config.target_host
    env = worker_env(
        address,
        dev_server_env.client.namespace,
        tmp_path,
        f"busy-{uuid.uuid4().hex[:8]}",
        RECOVERY_METRICS_PORT=str(port),
    )
    first = WorkerProcess("first", tmp_path / "first.log", env).start()
    try:
        await wait_until_started([first])
        second = WorkerProcess("second", tmp_path / "second.log", env).start()
        assert second.process is not None
        assert second.process.wait(timeout=60) == 1
        text = second.log_path.read_text()
        assert f"error: RECOVERY_METRICS_PORT: cannot serve metrics on 127.0.0.1:{port}" in text
        assert "Traceback" not in text
    finally:
        assert first.stop() == 0


async def test_api_metrics_count_requests_by_route_template(
    dev_server_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None, data_dir=tmp_path, api_token="t0ken", task_queue=f"api-metrics-{uuid.uuid4().hex[:8]}"
    )
    app = create_app(settings, recovery=RecoveryClient(dev_server_env.client, default_playbook, settings.task_queue))
    customer_id = f"c-api-metrics-{uuid.uuid4().hex[:8]}"
    auth = {"Authorization": "Bearer t0ken"}
    accepted = {"route": "/v1/events", "method": "POST", "status": "202"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        try:
            before = parse((await http.get("/metrics")).text)
            body = event(customer_id, "onboarding.phone_verified", datetime.now(UTC), "Etc/UTC").model_dump(mode="json")
            assert (await http.post("/v1/events", json=body, headers=auth)).status_code == 202
            assert (await http.get(f"/v1/journeys/c-nobody-{uuid.uuid4().hex[:6]}", headers=auth)).status_code == 404
            assert (await http.post("/v1/events", json=body)).status_code == 401
            response = await http.get("/metrics")  # open, like /healthz
            assert response.status_code == 200
            after = parse(response.text)
        finally:
            try:
                await dev_server_env.client.get_workflow_handle(workflow_id_for(customer_id)).terminate("test finished")
            except RPCError:
                pass
    assert (
        total(after, "onboarding_api_requests_total", **accepted)
        == total(before, "onboarding_api_requests_total", **accepted) + 1
    )
    assert total(after, "onboarding_api_requests_total", route="/v1/events", status="401") >= 1
    assert total(after, "onboarding_api_requests_total", route="/v1/journeys/{customer_id}", status="404") >= 1
    latency = "onboarding_api_request_duration_seconds_count"
    assert (
        total(after, latency, route="/v1/events", method="POST")
        >= total(before, latency, route="/v1/events", method="POST") + 2
    )
    assert customer_id not in response.text and "c-nobody" not in response.text


async def test_worker_metrics_listen_on_loopback_unless_told_otherwise(
    dev_server_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Metrics name task queues and hosts: by default only this machine reads them (127.0.0.2 is
    loopback too, but not the address bound, so it is refused where 0.0.0.0 would answer)."""
    assert Settings(_env_file=None).metrics_host == "127.0.0.1"
    port = free_port()
    address = dev_server_env.client.service_client.config.target_host
    env = worker_env(
        address,
        dev_server_env.client.namespace,
        tmp_path,
        f"bind-{uuid.uuid4().hex[:8]}",
        RECOVERY_METRICS_PORT=str(port),
    )
    worker = WorkerProcess("bind", tmp_path / "bind.log", env).start()
    try:
        await wait_until_started([worker])
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.2:{port}/metrics")
    finally:
        assert worker.stop() == 0
