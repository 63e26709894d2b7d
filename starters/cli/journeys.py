"""`recovery journey`: one customer's journey (stage, status, the timeline of events and messages)."""

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from core.deps import JourneyNotFound
from starters.cli.common import TemporalAddress, console, fail, run, settings_from
from starters.client import RecoveryClient
from workflows.holdout import RecoveryGroup
from workflows.journey_view import JourneyView

app = typer.Typer()


@app.command()
def journey(
    customer: str,
    as_json: Annotated[bool, typer.Option("--json", help="the raw journey view")] = False,
    temporal_address: TemporalAddress = None,
) -> None:
    """Show one customer's journey: stage, status, and the timeline of events and messages."""

    async def show() -> None:
        client = await RecoveryClient.connect(settings_from(temporal_address))
        try:
            view = await client.journey(customer)
        except JourneyNotFound as exc:
            fail(str(exc))
        if as_json:
            console.print_json(view.model_dump_json())
        else:
            console.print(render_journey(view))

    run(show())


def _at(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def render_journey(view: JourneyView) -> Group:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("customer", view.customer_id)
    head.add_row("workflow", view.workflow_id)
    head.add_row("status", view.status.value)
    holdout = view.recovery_group is RecoveryGroup.HOLDOUT
    head.add_row("group", "holdout (watched, never messaged: the control group)" if holdout else "treatment")
    head.add_row("stage", f"{view.stage.value} (since {_at(view.stage_since)})")
    head.add_row("nudges", f"{view.nudges_sent} sent, {view.attempts_at_stage} at this stage")
    if view.drop_off_stage:
        head.add_row("dropped off at", view.drop_off_stage.value)
    if view.opted_out:
        head.add_row("opted out of", ", ".join(c.value for c in view.opted_out))
    if view.next_action:
        head.add_row("next", f"{view.next_action} at {_at(view.next_action_at)}")
    if view.open_task:
        task = view.open_task
        who = f", claimed by {task.claimed_by}" if task.claimed_by else ""
        head.add_row(
            "human task", f"{task.task_id} {task.kind.value} ({task.reason.value}{who}), due {_at(task.due_at)}"
        )
    if view.outcome:
        o = view.outcome
        head.add_row("outcome", f"{o.kind.value} at {o.stage.value} ({o.reason}); preceded by {o.preceded_by}")
    head.add_row("playbook", view.playbook_version)

    timeline = Table(title="timeline", show_lines=False, header_style="bold")
    timeline.add_column("when (UTC)")
    timeline.add_column("what")
    timeline.add_column("detail")
    rows: list[tuple[datetime, str, str]] = []
    for event in view.events:
        rows.append((event.occurred_at, f"event {event.type.value}", f"{event.effect.value} {event.detail}".strip()))
    for message in view.messages:
        rows.append((message.sent_at, f"{message.channel.value} {message.kind.value} {message.attempt}", message.text))
    for decision in view.decisions:
        if decision.action.value != "sent":
            rows.append((decision.at, decision.action.value, f"{decision.reason} {decision.detail}".strip()))
    for when, what, detail in sorted(rows, key=lambda r: r[0]):
        timeline.add_row(_at(when), what, detail)
    return Group(head, Text(""), timeline)
