from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.harness import Bench, bench_settings, running_bench
from workflows.playbook import DEFAULT_PLAYBOOK, load_playbook


@pytest.fixture
async def outage_bench(dev_server_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Bench]:
    """The live bench on the demo playbook (waits in seconds), no holdout, and a service recheck far longer
    than any test: a nudge held for an outage goes out in time only if the report of health wakes its journey."""
    demo = load_playbook(DEFAULT_PLAYBOOK.parent / "demo.toml")
    playbook = demo.model_copy(
        update={
            "holdout_share": 0.0,
            "guardrails": demo.guardrails.model_copy(update={"service_recheck": timedelta(hours=1)}),
        }
    )
    async with running_bench(dev_server_env, playbook, bench_settings(tmp_path)) as bench:
        yield bench
