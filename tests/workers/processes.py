"""Real `recovery worker` processes for tests: started with RECOVERY_* variables, JSON logs to a file each."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starters.embedded_stack import stop_process
from tests.payload_keys import TEST_PAYLOAD_KEYS

RECOVERY = Path(sys.executable).parent / "recovery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class WorkerProcess:
    name: str
    log_path: Path
    env: dict[str, str]
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        log = open(self.log_path, "wb")  # noqa: SIM115 (closed below, once the child holds its own copy)
        self.process = subprocess.Popen(
            [str(RECOVERY), "worker", *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def stop(self, timeout_s: float = 20.0) -> int:
        assert self.process is not None
        return stop_process(self.process, timeout_s)

    def assert_running(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"worker {self.name} exited with {self.process.returncode}:\n{self.log_path.read_text()[-3000:]}"
            )

    def log_lines(self) -> list[dict[str, Any]]:
        """The worker's JSON log lines (anything else it printed is skipped)."""
        lines = []
        for raw in self.log_path.read_text(encoding="utf-8").splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
        return lines

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.log_lines() if line.get("event") == name]


def worker_env(address: str, namespace: str, data_dir: Path, task_queue: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECOVERY_")}
    env.update(
        RECOVERY_ENV_FILE=os.devnull,
        RECOVERY_TEMPORAL_ADDRESS=address,
        RECOVERY_NAMESPACE=namespace,
        RECOVERY_TASK_QUEUE=task_queue,
        RECOVERY_DATA_DIR=str(data_dir),
        RECOVERY_PAYLOAD_KEYS=TEST_PAYLOAD_KEYS,
        RECOVERY_LOG_FORMAT="json",
        RECOVERY_LOG_LEVEL="INFO",
        **extra,
    )
    return env


async def wait_until_started(workers: list[WorkerProcess], timeout_s: float = 45.0) -> dict[str, str]:
    """Until each worker logs `worker_started` (it polls its task queues from then on): name -> identity."""
    deadline = time.monotonic() + timeout_s
    while True:
        started = {}
        for worker in workers:
            worker.assert_running()
            lines = worker.events("worker_started")
            if lines:
                started[worker.name] = str(lines[0]["identity"])
        if len(started) == len(workers):
            return started
        if time.monotonic() > deadline:
            raise AssertionError(f"only {sorted(started)} of {[w.name for w in workers]} started in {timeout_s:.0f}s")
        await asyncio.sleep(0.2)
