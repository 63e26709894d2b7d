"""The agents' inbox lists tasks from the journal: no Temporal query or visibility listing per refresh
(each query is a billed action), and an agent's own claim or completion shows at once even while the
journal has not caught up with it yet."""

from typing import Any

import pytest
from temporalio.client import Client, Interceptor, ListWorkflowsInput, OutboundInterceptor, QueryWorkflowInput

from console.task_feed import TaskFeed
from journal.tasks import TaskSummary
from starters.client import RecoveryClient
from tests.harness import Bench, eventually
from workflows.human_tasks import TaskOutcome, TaskState


class CountingCalls(Interceptor):
    """Counts what would cost a billed query or a visibility listing."""

    def __init__(self) -> None:
        self.queries = 0
        self.listings = 0

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        counter = self

        class Counting(OutboundInterceptor):
            async def query_workflow(self, input: QueryWorkflowInput) -> Any:
                counter.queries += 1
                return await super().query_workflow(input)

            def list_workflows(self, input: ListWorkflowsInput) -> Any:
                counter.listings += 1
                return super().list_workflows(input)

        return Counting(next)


@pytest.fixture
def counted(bench: Bench) -> tuple[RecoveryClient, CountingCalls]:
    """The bench's client, with every query and visibility listing it makes counted."""
    calls = CountingCalls()
    config = bench.env.client.config()
    config["interceptors"] = [calls]
    temporal = Client(**config)
    return RecoveryClient(temporal, bench.client.playbook, bench.settings.task_queue, bench.client.journal), calls


def mine(summaries: list[TaskSummary], bench: Bench) -> list[TaskSummary]:
    return [s for s in summaries if s.customer_id == bench.customer_id]


async def test_tasks_are_listed_from_the_journal_and_an_agents_own_action_shows_at_once(
    bench: Bench, counted: tuple[RecoveryClient, CountingCalls]
) -> None:
    inbox, calls = counted
    feed = TaskFeed(ttl_seconds=0)
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.help_requested")
    task_id = f"{bench.customer_id}:task-1"

    async def listed(state: TaskState) -> bool:
        return [s.task.state for s in mine(await inbox.list_tasks((state.value,)), bench)] == [state]

    await eventually(lambda: listed(TaskState.OPEN))
    [opened] = mine(await feed.live_tasks(inbox), bench)
    assert (opened.task.task_id, opened.task.reason.value, opened.task.kind.value) == (
        task_id,
        "help_requested",
        "help_request",
    )
    assert (opened.stage, opened.timezone, opened.workflow_id) == (
        "phone_verified",
        bench.timezone,
        f"onboarding-{bench.customer_id}",
    )
    assert opened.task.due_at > opened.task.opened_at

    claimed = await bench.client.claim_task(task_id, "agent-ana")
    feed.record(claimed)
    [shown] = mine(await feed.live_tasks(inbox), bench)
    assert (shown.task.state, shown.task.claimed_by) == (TaskState.CLAIMED, "agent-ana"), (
        "the agent's own claim, before the journal has it"
    )
    await eventually(lambda: listed(TaskState.CLAIMED))
    assert not mine(await inbox.list_tasks(("open",)), bench)

    done = await bench.client.complete_task(task_id, "agent-ana", TaskOutcome.VERIFIED_ON_CALL)
    feed.record(done)
    assert not mine(await feed.live_tasks(inbox), bench), "completed: off the inbox at once"

    async def gone() -> bool:
        return not mine(await inbox.list_tasks(("open", "claimed")), bench)

    await eventually(gone)
    assert (calls.queries, calls.listings) == (0, 0), "the inbox asked Temporal nothing"
    await inbox.journey(bench.customer_id)
    assert calls.queries == 1, "and the count does see a query"
