"""A report of health that lands while a journey is checking the service: the check may have read the
status from before the report, so the journey looks once more instead of waiting for its next recheck.

The status endpoint (RECOVERY_SERVICE_STATUS_URL) holds its first answer ("down") until the test has
reported the service healthy, which is the race made to happen every time."""

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from starters.service_health import report_service_health
from tests.harness import Bench, bench_settings, running_bench
from workflows.playbook import Playbook


class SlowStatus:
    """The first question about a service is answered "down" once `release` is set; later ones "up"."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()
        self.questions: list[str] = []


@contextmanager
def slow_status_endpoint(status: SlowStatus) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status.questions.append(self.path)
            first = len(status.questions) == 1
            if first:
                status.asked.set()
                status.release.wait(timeout=4)  # the activity gives the endpoint 5 s
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"healthy": not first}).encode())

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
def status() -> SlowStatus:
    return SlowStatus()


@pytest.fixture
async def bench(
    time_skipping_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path, status: SlowStatus
) -> AsyncIterator[Bench]:
    with slow_status_endpoint(status) as url:
        async with running_bench(
            time_skipping_env, default_playbook, bench_settings(tmp_path, service_status_url=url)
        ) as b:
            yield b


async def test_healthy_reported_during_the_check_sends_now_not_at_the_next_recheck(
    bench: Bench, status: SlowStatus
) -> None:
    journal = bench.client.journal
    assert journal is not None
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.error", error="maintenance", service="ocr")
    to_the_nudge = asyncio.create_task(bench.skip(hours=1, minutes=1))  # the first nudge is due after 1 h
    assert await asyncio.to_thread(status.asked.wait, 10), "the journey never asked about ocr"
    report = await report_service_health(bench.env.client, journal, "ocr", True, await bench.now())
    assert report.woken == 1  # the check wrote the journey down as waiting before it asked
    status.release.set()
    await to_the_nudge
    await bench.skip(minutes=1)
    [nudge] = bench.outbox()
    assert "maintenance" in nudge["text"]
    assert status.questions == ["/ocr", "/ocr"], "asked again at once, not 30 minutes later"
    view = await bench.view()
    assert ("deferred", "service_unhealthy") not in [(d.action, d.reason) for d in view.suppressed]
