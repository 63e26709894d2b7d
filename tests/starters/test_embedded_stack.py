"""`recovery up` as a user runs it: it starts every part, serves the API, and leaves nothing behind."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

RECOVERY = str(Path(sys.executable).parent / "recovery")
PROJECT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc: what must be gone once `recovery up` stops."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


class Stack:
    def __init__(self, data_dir: Path) -> None:
        self.ports = {"--temporal-port": free_port(), "--ui-port": free_port(), "--api-port": free_port()}
        self.data_dir = data_dir
        self.process: subprocess.Popen[str] | None = None

    def args(self) -> list[str]:
        flags = [str(x) for pair in self.ports.items() for x in pair]
        return [
            RECOVERY,
            "up",
            "--playbook",
            str(PROJECT / "playbooks" / "demo.toml"),
            "--data-dir",
            str(self.data_dir),
            *flags,
        ]

    def start(self) -> subprocess.Popen[str]:
        env = {**os.environ, "RECOVERY_LOG_FORMAT": "json"}
        env.pop("RECOVERY_API_TOKEN", None)
        self.process = subprocess.Popen(
            self.args(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        return self.process

    def api(self, path: str) -> str:
        return f"http://127.0.0.1:{self.ports['--api-port']}{path}"

    def wait_healthy(self, timeout_s: float = 90) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, (
                self.process.stdout.read() if self.process and self.process.stdout else ""
            )
            try:
                response = httpx.get(self.api("/healthz"), timeout=2)
                if response.status_code == 200:
                    health: dict[str, str] = response.json()
                    return health
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError("recovery up never became healthy")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path / "var")
    yield stack
    if stack.process is not None and stack.process.poll() is None:
        for pid in descendants(stack.process.pid):
            os.kill(pid, signal.SIGKILL)
        stack.process.kill()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_up_serves_the_api_and_stops_every_child(stack: Stack, stop_signal: signal.Signals) -> None:
    process = stack.start()
    assert stack.wait_healthy() == {"status": "ok", "temporal": "reachable"}
    token = (stack.data_dir / "api-token").read_text().strip()
    event = {
        "event_id": "e-1",
        "customer_id": "c-up",
        "type": "onboarding.phone_verified",
        "occurred_at": "2026-11-22T10:00:00Z",
    }
    response = httpx.post(stack.api("/v1/events"), json=event, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 202, response.text
    children = descendants(process.pid)
    assert len(children) >= 3, "the dev server, a worker and the API"
    process.send_signal(stop_signal)
    assert process.wait(timeout=60) == 0
    output = process.stdout.read() if process.stdout else ""
    assert "Temporal Web UI" in output and "HTTP API" in output
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in children if alive(pid)], "nothing is left running"


def test_a_second_up_on_the_same_data_folder_or_a_busy_port_fails_clearly(stack: Stack) -> None:
    stack.start()
    stack.wait_healthy()
    second = subprocess.run(stack.args(), capture_output=True, text=True, timeout=60)
    assert second.returncode == 1 and "already running with data folder" in second.stderr
    elsewhere = Stack(stack.data_dir.parent / "other")
    elsewhere.ports["--api-port"] = stack.ports["--api-port"]
    busy = subprocess.run(elsewhere.args(), capture_output=True, text=True, timeout=60)
    assert busy.returncode == 1 and f"port {stack.ports['--api-port']}" in busy.stderr and "--api-port" in busy.stderr


def test_press_ctrl_c_is_said_once_the_api_answers(stack: Stack) -> None:
    """A user who sees "Press Ctrl-C to stop." tries the API at once: it must answer by then."""
    process = stack.start()
    assert process.stdout is not None
    said: list[str] = []
    for line in process.stdout:  # pytest-timeout bounds a stack that never says it
        said.append(line)
        if line.strip() == "Press Ctrl-C to stop.":
            break
    else:
        raise AssertionError("recovery up ended without saying how to stop it:\n" + "".join(said))
    response = httpx.get(stack.api("/healthz"), timeout=2)  # no retry: it answers already
    assert response.status_code == 200
    assert any(line.startswith("HTTP API") for line in said)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
