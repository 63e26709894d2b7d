"""`recovery tasks`: the live human tasks, and an agent's claim, release and complete."""

from collections.abc import Sequence
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from journal.tasks import TaskSummary
from starters.cli.common import TemporalAddress, console, fail, run, settings_from
from starters.client import RecoveryClient
from workflows.human_tasks import TaskOutcome, TaskRefused

app = typer.Typer(help="Human tasks for support agents.", no_args_is_help=True)


@app.command("list")
def tasks_list(
    state: Annotated[list[str] | None, typer.Option(help="open and/or claimed (repeatable)")] = None,
    temporal_address: TemporalAddress = None,
) -> None:
    """Live human tasks, soonest due first."""

    async def show() -> None:
        client = await RecoveryClient.connect(settings_from(temporal_address))
        summaries = await client.list_tasks(tuple(state or ("open", "claimed")))
        console.print(render_tasks(summaries) if summaries else "no live tasks")

    run(show())


def render_tasks(summaries: Sequence[TaskSummary]) -> Table:
    """The task id is what an agent copies into `claim`: never cut, whatever the terminal's width; the
    other columns fold onto more lines when it is narrow."""
    table = Table(header_style="bold")
    widest = max((len(s.task.task_id) for s in summaries), default=4)
    table.add_column("task", no_wrap=True, min_width=widest)
    for name in ("kind", "reason", "stage", "state", "agent", "due (UTC)"):
        table.add_column(name, overflow="fold")
    for s in summaries:
        t = s.task
        table.add_row(
            t.task_id,
            t.kind.value,
            t.reason.value,
            s.stage,
            t.state.value,
            t.claimed_by or "",
            t.due_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table


def _task_action(
    action: str,
    task_id: str,
    agent: str,
    outcome: TaskOutcome | None = None,
    note: str = "",
    temporal_address: str | None = None,
) -> None:
    async def act() -> None:
        client = await RecoveryClient.connect(settings_from(temporal_address))
        try:
            if action == "claim":
                task = await client.claim_task(task_id, agent)
            elif action == "release":
                task = await client.release_task(task_id, agent)
            else:
                assert outcome is not None
                task = await client.complete_task(task_id, agent, outcome, note)
        except (TaskRefused, ValidationError) as exc:
            fail(str(exc))
        console.print(f"{task.task_id}: {task.state.value}" + (f" ({task.outcome.value})" if task.outcome else ""))

    run(act())


@app.command("claim")
def tasks_claim(
    task_id: str, agent: Annotated[str, typer.Option(help="agent id")], temporal_address: TemporalAddress = None
) -> None:
    """Claim a task: it is yours to work."""
    _task_action("claim", task_id, agent, temporal_address=temporal_address)


@app.command("release")
def tasks_release(
    task_id: str, agent: Annotated[str, typer.Option(help="agent id")], temporal_address: TemporalAddress = None
) -> None:
    """Give a claimed task back to the inbox."""
    _task_action("release", task_id, agent, temporal_address=temporal_address)


@app.command("complete")
def tasks_complete(
    task_id: str,
    agent: Annotated[str, typer.Option(help="agent id")],
    outcome: Annotated[TaskOutcome, typer.Option(help="what came of it")],
    note: str = "",
    temporal_address: TemporalAddress = None,
) -> None:
    """Complete a claimed task with its outcome; the journey acts on it."""
    _task_action("complete", task_id, agent, outcome, note, temporal_address)
