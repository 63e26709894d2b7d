"""An early-life journey on the real dev server: its search attribute values in visibility (what the Web
UI filters by), its retention call in the console's inbox, claimed and completed there like any task."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.testing import WorkflowEnvironment

from console.accounts import add_agent
from core.deps import JourneyNotFound
from starters.api import create_app
from tests.console.conftest import PASSWORDS, ROLES, Console
from tests.harness import Bench, bench_settings, eventually, running_bench
from tests.starters.test_cli import recovery
from workflows.early_life_input import early_life_workflow_id
from workflows.journey import workflow_id_for
from workflows.playbook import Escalation, Playbook, TaskKind


@pytest.fixture
async def early_console(
    dev_server_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path
) -> AsyncIterator[Console]:
    """Dormant after 2 s without activity, then straight to a retention call (no nudges)."""
    early = default_playbook.early_life.model_copy(
        update={
            "dormant_after": timedelta(seconds=2),
            "period": timedelta(minutes=10),
            "nudges": 0,
            "nudge_spacing": [],
            "escalation": Escalation(kind="human_task", after=timedelta(seconds=1), task_kind=TaskKind.RETENTION_CALL),
        }
    )
    playbook = default_playbook.model_copy(update={"early_life": early})
    async with running_bench(dev_server_env, playbook, bench_settings(tmp_path)) as bench:
        journal = bench.client.journal
        assert journal is not None
        for username, password in PASSWORDS.items():
            add_agent(journal, username, password, ROLES[username])
        app = Console(bench, create_app(bench.settings, recovery=bench.client))
        app.app.state.console.feed.ttl_seconds = 0  # type: ignore[attr-defined]
        yield app
        for http in app.clients:
            await http.aclose()


async def count(bench: Bench, query: str) -> int:
    return len([w async for w in bench.env.client.list_workflows(query)])


async def test_a_retention_call_is_in_visibility_and_the_inbox_and_is_worked_there(early_console: Console) -> None:
    bench = early_console.bench
    workflow_id = early_life_workflow_id(bench.customer_id)
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.completed")
    mine = f"WorkflowType = 'EarlyLifeJourney' AND WorkflowId = '{workflow_id}'"

    async def calling() -> bool:
        return await count(bench, f"{mine} AND JourneyStatus = 'awaiting_agent' AND HumanTaskState = 'open'") == 1

    await eventually(calling, timeout=20)
    assert await count(bench, f"{mine} AND DropOffStage = 'dormancy' AND RecoveryGroup = 'treatment'") == 1
    task_id = f"{bench.customer_id}:early-task-1"
    ana = await early_console.signed_in("ana")

    async def listed() -> bool:
        return task_id in (await ana.page("/console/inbox")).text

    await eventually(listed, timeout=10)
    page = await ana.page(f"/console/tasks/{task_id}")
    assert page.status_code == 200 and "Retention call" in page.text and "Gone quiet after activation" in page.text
    assert "Where the customer stopped" in page.text, "the onboarding journey's glance, while Temporal keeps it"

    # A dormancy comes days after activation: by then the namespace's retention has deleted the ended
    # onboarding journey. The retention call's page and actions do not need it.
    await bench.env.client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=bench.env.client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id_for(bench.customer_id)),
        )
    )

    async def onboarding_gone() -> bool:
        try:
            await bench.view()
        except JourneyNotFound:
            return True
        return False

    await eventually(onboarding_gone, timeout=20)
    page = await ana.page(f"/console/tasks/{task_id}")
    assert page.status_code == 200, page.text
    assert "Retention call" in page.text and "no longer keeps it" in page.text
    assert "Where the customer stopped" not in page.text
    assert (await ana.act(task_id, "claim")).status_code == 303
    claimed = await ana.page(f"/console/tasks/{task_id}")
    assert "Talked on the call" in claimed.text and "next activity ends the dormancy" in claimed.text
    done = await ana.act(task_id, "complete", outcome="unreachable", note="no answer")
    assert done.status_code == 303, done.text
    view = await bench.early_life()
    assert view.tasks[-1].state.value == "completed" and view.tasks[-1].completed_by == "ana"

    async def worked() -> bool:
        return await count(bench, f"{mine} AND HumanTaskState = 'none' AND JourneyStatus = 'nudging'") == 1

    await eventually(worked, timeout=20)

    api = create_app(bench.settings.model_copy(update={"api_token": "t0ken"}), recovery=bench.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://api") as http:
        auth = {"Authorization": "Bearer t0ken"}
        got = await http.get(f"/v1/early-life/{bench.customer_id}", headers=auth)
        assert got.status_code == 200 and got.json()["tasks"][-1]["outcome"] == "unreachable"
        missing = await http.get("/v1/early-life/nobody-here", headers=auth)
        assert missing.status_code == 404 and "no early-life journey" in missing.text

    code, out, err = await recovery(bench, "early-life", bench.customer_id)
    assert code == 0, err
    assert "retention call" not in out and "task_completed" in out and "nudging" in out
    code, _, err = await recovery(bench, "early-life", "nobody-here")
    assert code != 0 and "no early-life journey" in err
