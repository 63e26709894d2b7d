"""What the bench sections share: the dev server, worker and API processes, RSS and CPU from /proc,
percentiles, verdicts and progress lines.

Both sides of every comparison run on the one dev server this module starts, with the project's data
converter (pydantic payloads sealed by the encryption codec) under a fixed, public bench key.
"""

import asyncio
import base64
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from core.payload_codec import parse_payload_keys
from core.temporal_client import data_converter_for
from journal.store import migrate, open_journal
from workflows.playbook import Playbook, load_playbook
from workflows.search_attributes import ALL_KEYS

BENCH_PAYLOAD_KEYS = f"bench-1:{base64.b64encode(bytes(range(32))).decode()}"  # public: the bench holds no real data
DEV_SERVER = Path(sys.executable).parent / "temporal"
DEMO_PLAYBOOK = Path(__file__).resolve().parent.parent / "playbooks" / "demo.toml"
_started = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - _started:6.1f}s] {text}", flush=True)


def converter() -> DataConverter:
    return data_converter_for(parse_payload_keys(BENCH_PAYLOAD_KEYS))


async def start_server() -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(DEV_SERVER),
        search_attributes=ALL_KEYS,
        data_converter=converter(),
        dev_server_extra_args=["--log-level", "error"],
    )


def server_address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


# -- processes -------------------------------------------------------------------------------------


def _proc_stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def child_pid(name: str) -> int | None:
    """A direct child of this process by command name (the dev server the SDK spawned)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name and int(_proc_stat(int(entry.name))[1]) == os.getpid():
                    return int(entry.name)
            except (OSError, ValueError, IndexError):
                continue
    return None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def cpu_seconds(pid: int) -> float:
    fields = _proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def settle(pids: Sequence[int], quiet_share: float = 0.05, limit: float = 90.0) -> float:
    """Waits until the processes use under `quiet_share` of a core (a worker still catching up skews the
    next figure); returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        before = sum(cpu_seconds(pid) for pid in pids)
        await asyncio.sleep(1.0)
        if sum(cpu_seconds(pid) for pid in pids) - before < quiet_share:
            break
    return time.monotonic() - began


def process_env(address: str, data_dir: Path, task_queue: str, playbook: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOVERY_")}
    env.update(
        RECOVERY_ENV_FILE=os.devnull,
        RECOVERY_TEMPORAL_ADDRESS=address,
        RECOVERY_DATA_DIR=str(data_dir),
        RECOVERY_TASK_QUEUE=task_queue,
        RECOVERY_PAYLOAD_KEYS=BENCH_PAYLOAD_KEYS,
        RECOVERY_LOG_FORMAT="json",
        RECOVERY_LOG_LEVEL="INFO",
        RECOVERY_API_TOKEN="bench-token",
    )
    if playbook is not None:
        env["RECOVERY_PLAYBOOK"] = str(playbook)
    return env


@dataclass
class Child:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@asynccontextmanager
async def child(
    args: list[str], env: dict[str, str], log: Path, ready: str, timeout: float = 60.0
) -> AsyncIterator[Child]:
    """A process of the project (or the raw baseline), ready once `ready` shows in its log; SIGTERM after."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
        )
    try:
        deadline = time.monotonic() + timeout
        while ready not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(args)} did not start: see {log}")
            await asyncio.sleep(0.1)
        yield Child(process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 20)
        except subprocess.TimeoutExpired:
            process.kill()


def project_worker(address: str, data_dir: Path, task_queue: str) -> AbstractAsyncContextManager[Child]:
    return child(
        ["-m", "workers.worker"],
        process_env(address, data_dir, task_queue),
        data_dir / f"worker-{task_queue}.log",
        "worker_started",
    )


def raw_worker(address: str, data_dir: Path, task_queue: str) -> AbstractAsyncContextManager[Child]:
    return child(
        ["-m", "bench.raw", address, task_queue],
        process_env(address, data_dir, task_queue),
        data_dir / f"raw-worker-{task_queue}.log",
        "raw_worker_started",
    )


@asynccontextmanager
async def api(address: str, data_dir: Path, task_queue: str) -> AsyncIterator[str]:
    """The real HTTP API (`recovery api`, uvicorn) on a free port; its base URL once /healthz answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = ["-m", "starters.cli", "api", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    async with child(args, process_env(address, data_dir, task_queue), data_dir / "api.log", "") as served:
        deadline = time.monotonic() + 60
        while not await healthy(url):
            if served.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start: see {served.log}")
            await asyncio.sleep(0.2)
        yield url


async def healthy(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{url}/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


def journal(data_dir: Path) -> Engine:
    """The journal the project's processes in `data_dir` share (SQLite), migrated."""
    engine = open_journal(f"sqlite:///{(data_dir / 'journal.db').resolve()}")
    migrate(engine)
    return engine


# -- the customers and the playbook the sections use -----------------------------------------------


def zone_where_local_hour_is(now: datetime, local_hour: int) -> str:
    """A fixed-offset IANA zone where `now` reads `local_hour` o'clock (Etc/GMT signs are inverted)."""
    offset = (local_hour - now.astimezone(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def daytime_zone() -> str:
    """Noon there now: a nudge due within the next hours is never deferred by quiet hours."""
    return zone_where_local_hour_is(datetime.now(UTC), 12)


def demo_playbook(**stage_a: object) -> Playbook:
    """playbooks/demo.toml (seconds for hours), every customer messaged, stage A changed by `stage_a`."""
    playbook = load_playbook(DEMO_PLAYBOOK)
    stages = dict(playbook.stages)
    a = next(stage for stage in stages if stage.value == "phone_verified")
    stages[a] = stages[a].model_copy(update=stage_a)
    return playbook.model_copy(update={"holdout_share": 0.0, "stages": stages, "version": f"bench-{playbook.version}"})


def lasting_guardrails(playbook: Playbook, life: timedelta) -> Playbook:
    guardrails = playbook.guardrails.model_copy(update={"recovery_window": life, "max_lifetime": life})
    return playbook.model_copy(update={"guardrails": guardrails})


# -- figures -------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else math.inf


def verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'MISS'}: {text}"


@dataclass
class Figure:
    """One line of the summary: what was measured, our figure, the baseline's, and the verdict."""

    section: str
    name: str
    ours: str
    baseline: str
    ratio: str
    verdict: str
