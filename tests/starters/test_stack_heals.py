"""`recovery up` heals: a child killed with SIGKILL is started again and the journeys carry on.

Real processes throughout: the stack as a user starts it, its children found in /proc and killed
the way a crash would kill them, the API asked over HTTP until a deadline.
"""

import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.starters.test_embedded_stack import Stack, alive, descendants

CHILDREN: dict[str, Callable[[list[str]], bool]] = {
    "temporal": lambda argv: Path(argv[0]).name == "temporal" and "start-dev" in argv,
    "worker": lambda argv: argv[1:3] == ["-m", "workers.worker"],
    "api": lambda argv: argv[1:4] == ["-m", "starters.cli", "api"],
}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path / "var")
    yield stack
    if stack.process is not None and stack.process.poll() is None:
        for pid in descendants(stack.process.pid):
            os.kill(pid, signal.SIGKILL)
        stack.process.kill()


def child_pid(stack: Stack, name: str) -> int | None:
    """The live process of one child of the stack (by its command line), if there is one."""
    assert stack.process is not None
    for pid in descendants(stack.process.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if len(argv) > 1 and CHILDREN[name](argv) and alive(pid):
            return pid
    return None


def wait_for(what: str, check: Callable[[], Any], stack: Stack, timeout_s: float = 60) -> Any:
    """Polls `check` until it returns something truthy; the stack must stay up meanwhile."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert stack.process is not None
        if stack.process.poll() is not None:
            output = stack.process.stdout.read() if stack.process.stdout else ""
            raise AssertionError(
                f"recovery up exited with {stack.process.returncode} while waiting for {what}:\n{output[-4000:]}"
            )
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout_s:.0f}s")


def event(customer_id: str, event_type: str) -> dict[str, Any]:
    return {
        "event_id": f"e-{uuid.uuid4().hex[:12]}",
        "customer_id": customer_id,
        "type": event_type,
        "occurred_at": datetime.now(UTC).isoformat(),
    }


def headers(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {(stack.data_dir / 'api-token').read_text().strip()}"}


def post_event(stack: Stack, body: dict[str, Any]) -> bool:
    """True once the API recorded the event (it answers 503 while Temporal is away)."""
    try:
        response = httpx.post(stack.api("/v1/events"), json=body, headers=headers(stack), timeout=10)
    except httpx.HTTPError:
        return False
    assert response.status_code in (202, 503), response.text
    return response.status_code == 202


def stage_of(stack: Stack, customer_id: str) -> str | None:
    """The journey's stage from its view (a query: a worker must be polling), None while it does not answer."""
    try:
        response = httpx.get(stack.api(f"/v1/journeys/{customer_id}"), headers=headers(stack), timeout=10)
    except httpx.HTTPError:
        return None
    return str(response.json()["stage"]) if response.status_code == 200 else None


def stop(stack: Stack) -> str:
    """Stops the stack as a service manager would; it must exit 0 and leave nothing running. Its output."""
    assert stack.process is not None
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=60) == 0
    output = stack.process.stdout.read() if stack.process.stdout else ""
    deadline = time.monotonic() + 10
    while processes_of(stack.data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_of(stack.data_dir), "nothing is left running"
    return output


def test_a_killed_worker_is_restarted_and_events_reach_their_journey(stack: Stack) -> None:
    stack.start()
    stack.wait_healthy()
    customer = f"c-heal-{uuid.uuid4().hex[:6]}"
    assert post_event(stack, event(customer, "onboarding.phone_verified"))
    assert wait_for("journey view", lambda: stage_of(stack, customer) == "phone_verified", stack)
    killed = child_pid(stack, "worker")
    assert killed is not None

    os.kill(killed, signal.SIGKILL)

    restarted = wait_for("new worker", lambda: (pid := child_pid(stack, "worker")) != killed and pid, stack)
    assert wait_for("event accepted", lambda: post_event(stack, event(customer, "onboarding.document_uploaded")), stack)
    assert wait_for("journey view after the restart", lambda: stage_of(stack, customer) == "document_uploaded", stack)
    assert child_pid(stack, "worker") == restarted
    output = stop(stack)
    assert "child_died" in output and '"child": "worker"' in output and "child_restarted" in output


def test_a_killed_dev_server_comes_back_on_the_same_database(stack: Stack) -> None:
    stack.start()
    stack.wait_healthy()
    customer = f"c-heal-{uuid.uuid4().hex[:6]}"
    assert post_event(stack, event(customer, "onboarding.phone_verified"))
    assert wait_for("journey view", lambda: stage_of(stack, customer) == "phone_verified", stack)
    killed = child_pid(stack, "temporal")
    assert killed is not None

    os.kill(killed, signal.SIGKILL)

    wait_for("new dev server", lambda: (pid := child_pid(stack, "temporal")) != killed and pid, stack)
    assert wait_for(
        "journey from before the kill", lambda: stage_of(stack, customer) == "phone_verified", stack, timeout_s=90
    )
    assert wait_for("event accepted", lambda: post_event(stack, event(customer, "onboarding.document_uploaded")), stack)
    assert wait_for("journey view after the restart", lambda: stage_of(stack, customer) == "document_uploaded", stack)
    output = stop(stack)
    assert '"child": "temporal"' in output and "temporal_ready" in output


def test_a_child_that_keeps_dying_stops_the_stack_saying_which(stack: Stack) -> None:
    with (
        socket.socket() as busy
    ):  # the worker's metrics port is taken (on every interface, as it binds): each start fails
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        stack.ports["--metrics-port"] = busy.getsockname()[1]
        process = stack.start()
        code = process.wait(timeout=120)
    output = process.stdout.read() if process.stdout else ""
    assert code != 0, output[-4000:]
    said = " ".join(output.split())  # the error line may be wrapped at the terminal's width
    assert "the worker died 5 times within 60s" in said and "stopped everything" in said, output[-4000:]
    assert '"child_keeps_dying"' in output and '"child": "worker"' in output, output[-4000:]
    assert output.count('"child_died"') >= 4, output[-4000:]
    assert not processes_of(stack.data_dir), "nothing is left running"


def processes_of(data_dir: Path) -> list[int]:
    """Live processes started for this data folder.

    The dev server names it on its command line, the worker and API have it in their environment.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if str(data_dir.resolve()).encode() in seen and alive(int(entry.name)):
            found.append(int(entry.name))
    return found
