"""High intent, end to end on the time-skipping server: a second failed selfie goes to a person at once,
and our own error as a customer's first event is nudged with the error copy once the service is healthy."""

import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.harness import Bench, bench_settings, running_bench
from workflows.playbook import Playbook


@contextmanager
def status_endpoint(healthy: dict[str, bool]) -> Iterator[str]:
    """The service status endpoint the worker asks (`GET {url}/{service}` -> `{"healthy": bool}`), on real
    HTTP; a service the dict does not name is unknown (404: healthy)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            service = self.path.rsplit("/", 1)[-1]
            status = 200 if service in healthy else 404
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"healthy": healthy.get(service, True)}).encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def health() -> dict[str, bool]:
    return {}


@pytest.fixture
async def bench(
    time_skipping_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path, health: dict[str, bool]
) -> AsyncIterator[Bench]:
    """The usual bench, its worker reading service health from `health` through the status endpoint."""
    with status_endpoint(health) as url:
        settings = bench_settings(tmp_path, service_status_url=url)
        async with running_bench(time_skipping_env, default_playbook, settings) as bench:
            yield bench


async def test_second_failed_selfie_opens_a_video_call_at_once(bench: Bench) -> None:
    await bench.send("onboarding.document_approved")
    await bench.send("onboarding.biometric_failed")
    await bench.skip(minutes=30)
    assert (await bench.view()).open_task is None, "the first failure is nudged, not called"
    await bench.send("onboarding.biometric_failed")
    await bench.skip(minutes=1)
    view = await bench.view()
    task = view.open_task
    assert task is not None
    assert (task.kind, task.reason, task.stage, task.detail) == (
        "video_call",
        "repeated_biometric_failure",
        "biometric_failed",
        "2 failed selfies",
    )
    assert [(n["kind"], n["task_id"]) for n in bench.staff_notifications()] == [("task_opened", task.task_id)]
    assert bench.outbox() == [], "no nudge before the task"
    await bench.skip(hours=6)
    assert bench.outbox() == [], "nor while an agent has the customer"
    view = await bench.view()
    assert (view.status, view.open_task is not None) == ("awaiting_agent", True)


async def test_our_error_as_the_first_event_is_nudged_with_the_error_copy_once_the_service_is_healthy(
    bench: Bench, health: dict[str, bool]
) -> None:
    health["ocr"] = False
    await bench.send("onboarding.error", error="service_unavailable", service="ocr")
    await bench.skip(hours=2)
    assert bench.outbox() == [], "the service is still down"
    view = await bench.view()
    assert (view.stage, view.attempts_at_stage) == ("started", 0)
    assert ("deferred", "service_unhealthy") in [(d.action, d.reason) for d in view.suppressed]
    health["ocr"] = True
    await bench.skip(minutes=31)  # the next look at the service
    [nudge] = bench.outbox()
    assert (nudge["stage"], nudge["attempt"], nudge["channel"]) == ("started", 1, "push")
    assert nudge["text"] == (
        "Sorry: our phone number verification service failed, not you. It works again, continue where you left off."
    )
    assert nudge["deep_link"] == "app://onboarding/phone"
    await bench.send("onboarding.phone_verified")
    view = await bench.view()
    assert (view.stage, view.attempts_at_stage, view.nudges_sent) == ("phone_verified", 0, 1)
