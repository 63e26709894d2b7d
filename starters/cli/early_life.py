"""`recovery early-life <customer>`: a customer's early-life journey after activation (its `view` query)."""

from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from starters.cli.common import TemporalAddress
from starters.cli.views import moment_text, show_view
from workflows.early_life_view import EarlyLifeView

app = typer.Typer()


@app.command("early-life")
def early_life(
    customer: str,
    as_json: Annotated[bool, typer.Option("--json", help="the raw early-life view")] = False,
    temporal_address: TemporalAddress = None,
) -> None:
    """Show a customer's early life after activation: activity, dormancy, nudges, retention calls, outcome."""
    show_view(temporal_address, lambda client: client.early_life(customer), render_early_life, as_json=as_json)


def render_early_life(view: EarlyLifeView) -> Group:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("customer", view.customer_id)
    head.add_row("workflow", view.workflow_id)
    head.add_row("status", view.status)
    holdout = view.group == "holdout"
    head.add_row("group", "holdout (watched, never messaged: the control group)" if holdout else "treatment")
    head.add_row("activated", f"{moment_text(view.activated_at)}; watched until {moment_text(view.period_ends_at)}")
    kind = f" ({view.last_activity_kind})" if view.last_activity_kind else ""
    head.add_row("last activity", f"{moment_text(view.last_activity_at)}{kind}, {view.activity_events} event(s)")
    head.add_row("dormant since", moment_text(view.dormant_since) if view.dormant_since else "-")
    head.add_row("nudges", f"{view.nudges} ({view.messages_sent} message(s) sent), {view.dormancies} dormancy(ies)")
    if view.re_engaged_at:
        head.add_row("re-engaged", moment_text(view.re_engaged_at))
    if view.opted_out:
        head.add_row("opted out of", ", ".join(view.opted_out))
    if view.open_task:
        task = view.open_task
        who = f", claimed by {task.claimed_by}" if task.claimed_by else ""
        head.add_row("retention call", f"{task.task_id} ({task.state.value}{who}), due {moment_text(task.due_at)}")
    if view.next_action:
        head.add_row("next", f"{view.next_action} at {moment_text(view.next_action_at)}")
    if view.outcome:
        head.add_row("outcome", f"{view.outcome} at {moment_text(view.ended_at)}")
    head.add_row("playbook", view.playbook_version)
    timeline = Table(title="Decisions", show_lines=False)
    for column in ("at", "what", "why", "detail"):
        timeline.add_column(column)
    for decision in view.decisions:
        timeline.add_row(moment_text(decision.at), decision.action, decision.reason, decision.detail)
    return Group(head, Text(""), timeline)
