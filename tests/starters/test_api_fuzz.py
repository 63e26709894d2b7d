"""Schemathesis against the API's own OpenAPI document, on the real stack: the API under uvicorn on a
real socket, a worker, and the real Temporal dev server. Every operation, valid and invalid inputs;
a server error, an undocumented status code or a body off its documented schema fails the run, and
so does a workflow task failure in any journey the fuzzing created.

CI runs a few hundred examples in total, the same each time; `RECOVERY_FUZZ_EXAMPLES=<n per operation
and mode>` runs more, and new ones each time.
"""

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok
from temporalio.api.enums.v1 import EventType as HistoryEventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from core.temporal_client import connect
from starters.api import create_app
from workers.worker import build_worker

TOKEN = "fuzz-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = int(os.environ.get("RECOVERY_FUZZ_EXAMPLES", "15"))  # per operation and mode (valid, invalid)
REPEATABLE = "RECOVERY_FUZZ_EXAMPLES" not in os.environ  # CI runs the same examples each time; a deep run explores


@dataclass
class Stack:
    base_url: str
    settings: Settings


def _serve(server: uvicorn.Server, settings: Settings, sock: socket.socket, failed: list[BaseException]) -> None:
    """The API and a worker on their own event loop: the fuzzing calls block the test's thread."""

    async def main() -> None:
        client = await connect(settings)
        async with build_worker(client, settings):
            await server.serve(sockets=[sock])

    try:
        asyncio.run(main())
    except BaseException as err:  # reported by the fixture, which would otherwise wait for a start that never comes
        failed.append(err)


@pytest.fixture(scope="module")
def stack(dev_server_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = Path(tmp_path_factory.mktemp("fuzz"))  # payload keys: RECOVERY_PAYLOAD_KEYS, set by tests/conftest.py
    settings = Settings(
        temporal_address=dev_server_env.client.service_client.config.target_host,
        namespace=dev_server_env.client.namespace,
        task_queue=f"fuzz-{uuid.uuid4().hex[:8]}",
        api_token=TOKEN,
        data_dir=data_dir,
        # One client address sends thousands of requests, some with wrong tokens (schemathesis checks that
        # auth is enforced): the throttle of wrong tokens, tested on its own, must not turn them all into 429s.
        sign_in_lockout_after=1000,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_config=None, lifespan="on"))
    failed: list[BaseException] = []
    thread = threading.Thread(target=_serve, args=(server, settings, sock, failed), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert not failed and thread.is_alive() and time.monotonic() < deadline, f"the stack did not start: {failed!r}"
        time.sleep(0.05)
    try:
        yield Stack(f"http://127.0.0.1:{sock.getsockname()[1]}", settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def api_schema(stack: Stack) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{stack.base_url}/openapi.json")
    schema.config.update(base_url=stack.base_url, headers=dict(AUTH), request_timeout=30)
    return schema


def _within_the_doors_window(case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    """A valid event's occurred_at lies from 2000 to a day ahead of the server's now: a range JSON Schema
    cannot state (the document says it in words), so valid cases get a time inside it."""
    items = case.body if isinstance(case.body, list) else [case.body]
    for offset, item in enumerate(items):
        if isinstance(item, dict) and isinstance(item.get("occurred_at"), str):
            item["occurred_at"] = (datetime.now(UTC) - timedelta(minutes=offset)).isoformat()
    return case


def _with_the_acting_agent(case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    """agent_id may be left out only with a console session (the session names the agent), which the
    document cannot tie to the body: the fuzzer sends the bearer token alone, so valid cases name one."""
    if isinstance(case.body, dict) and case.body.get("agent_id") is None:
        case.body["agent_id"] = "agent-fuzz"
    return case


def _a_cursor_handed_out(case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    """A cursor is the `next` of a page the listing handed out (the document says so in words): valid
    cases start from the first page."""
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
    return case


# Rules of valid input the document states in words only; invalid cases are left as generated.
_VALID_ALSO: dict[str, Callable[[schemathesis.Case[Any]], schemathesis.Case[Any]]] = {
    "POST /v1/events": _within_the_doors_window,
    "POST /v1/tasks/{task_id}/claim": _with_the_acting_agent,
    "POST /v1/tasks/{task_id}/release": _with_the_acting_agent,
    "POST /v1/tasks/{task_id}/complete": _with_the_acting_agent,
    "GET /v1/journeys": _a_cursor_handed_out,
}


def _fuzz(operation: schemathesis.APIOperation[Any, Any, Any, Any], mode: schemathesis.GenerationMode) -> str | None:
    """One operation in one mode; the first failure's report (shrunk to a small example), or None."""
    cases = operation.as_strategy(generation_mode=mode)
    if mode is schemathesis.GenerationMode.POSITIVE and operation.label in _VALID_ALSO:
        cases = cases.map(_VALID_ALSO[operation.label])

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=REPEATABLE,
        database=None,
    )
    def run(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate()

    try:
        run()
    except Unsatisfiable:  # an operation with no input (GET /healthz) has no invalid form
        assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    except (AssertionError, BaseExceptionGroup) as err:  # failed checks: schemathesis's Failure, FailureGroup
        return f"{mode.value} {operation.label}: {err}"
    return None


def _fuzz_all(api_schema: schemathesis.BaseSchema) -> list[str]:
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result  # a document schemathesis cannot read fails here
        operations.append(result.ok())
    assert len(operations) >= 9, [o.label for o in operations]
    return [
        failure
        for operation in operations
        for mode in schemathesis.GenerationMode
        if (failure := _fuzz(operation, mode)) is not None
    ]


async def _workflow_task_failures(client: Client, task_queue: str) -> tuple[int, dict[str, str]]:
    """Runs on the stack's task queue, once each has finished its first workflow task; those whose
    history holds a WorkflowTaskFailed, with the first failure's message."""
    runs = [w async for w in client.list_workflows(f"TaskQueue = '{task_queue}'")]
    failures: dict[str, str] = {}
    for run in runs:
        handle = client.get_workflow_handle(run.id, run_id=run.run_id)
        deadline = time.monotonic() + 30
        while True:
            events = (await handle.fetch_history()).events
            failed = [e for e in events if e.event_type == HistoryEventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
            if failed:
                failures[f"{run.id}/{run.run_id}"] = failed[0].workflow_task_failed_event_attributes.failure.message
                break
            if (
                any(e.event_type == HistoryEventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in events)
                or time.monotonic() > deadline
            ):
                break
            await asyncio.sleep(0.2)
    return len(runs), failures


@pytest.mark.timeout(max(180, EXAMPLES * 10))  # about 0.4 s an example on 2 cores (the chart is drawn each time)
async def test_fuzzing_the_api_keeps_its_document_and_its_journeys(
    stack: Stack, api_schema: schemathesis.BaseSchema, dev_server_env: WorkflowEnvironment
) -> None:
    """All operations, valid and invalid inputs: no 5xx, only documented status codes, bodies as documented;
    then no workflow task failed in any journey the fuzzing created."""
    failures = await asyncio.to_thread(_fuzz_all, api_schema)  # requests block: the worker's loop is another thread's
    assert not failures, "\n\n".join(failures)

    runs, failed = await _workflow_task_failures(dev_server_env.client, stack.settings.task_queue)
    print(f"fuzzing created {runs} journey runs; {len(failed)} with a workflow task failure")
    assert runs > 0, "no valid event reached a journey: the fuzzing tested nothing behind the door"
    assert not failed, failed
