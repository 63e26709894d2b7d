"""`recovery journey`: one customer's journey (stage, status, the timeline of events and messages);
`recovery journeys list|close`: find journeys in the journal, close one."""

from datetime import UTC, datetime
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Group
from rich.table import Table
from rich.text import Text

from core.deps import JourneyNotFound
from journal.listing import DEFAULT_LIMIT, MAX_LIMIT, BadCursor, JourneyPage, list_journeys
from starters.cli.common import TemporalAddress, console, fail, journal_engine, journal_errors, run, settings_from
from starters.cli.views import moment_text, show_view
from starters.client import RecoveryClient
from workflows.funnel import Stage
from workflows.holdout import RecoveryGroup
from workflows.journey import workflow_id_for
from workflows.journey_controls import CloseRefused
from workflows.journey_state import JourneyStatus
from workflows.journey_view import JourneyView

app = typer.Typer()


@app.command()
def journey(
    customer: str,
    as_json: Annotated[bool, typer.Option("--json", help="the raw journey view")] = False,
    temporal_address: TemporalAddress = None,
) -> None:
    """Show one customer's journey: stage, status, and the timeline of events and messages."""
    show_view(temporal_address, lambda client: client.journey(customer), render_journey, as_json=as_json)


def render_journey(view: JourneyView) -> Group:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("customer", view.customer_id)
    head.add_row("workflow", view.workflow_id)
    head.add_row("status", view.status.value)
    holdout = view.recovery_group is RecoveryGroup.HOLDOUT
    head.add_row("group", "holdout (watched, never messaged: the control group)" if holdout else "treatment")
    head.add_row("stage", f"{view.stage.value} (since {moment_text(view.stage_since)})")
    head.add_row("nudges", f"{view.nudges_sent} sent, {view.attempts_at_stage} at this stage")
    if view.drop_off_stage:
        head.add_row("dropped off at", view.drop_off_stage.value)
    if view.opted_out:
        head.add_row("opted out of", ", ".join(c.value for c in view.opted_out))
    if view.next_action:
        head.add_row("next", f"{view.next_action} at {moment_text(view.next_action_at)}")
    if view.open_task:
        task = view.open_task
        who = f", claimed by {task.claimed_by}" if task.claimed_by else ""
        head.add_row(
            "human task", f"{task.task_id} {task.kind.value} ({task.reason.value}{who}), due {moment_text(task.due_at)}"
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
        timeline.add_row(moment_text(when), what, detail)
    return Group(head, Text(""), timeline)


# -- `recovery journeys`: find journeys (from the journal) and close one ---------------------------

journeys_app = typer.Typer(help="Find journeys and close one (operators' controls).", no_args_is_help=True)


def _short(moment: datetime | None) -> str:
    return moment.strftime("%m-%d %H:%M") if moment else "-"


def render_journeys(page: JourneyPage, width: int) -> Table:
    """At 80 columns: customer (long ids fold, never cut), status, stage, group, started, nudges; from
    100 columns also when the journal last heard of it (its end, for an ended one)."""
    table = Table(box=None, header_style="bold underline", padding=(0, 1, 0, 0), pad_edge=False)
    table.add_column("customer", overflow="fold", min_width=10)
    for name in ("status", "stage", "group", "started"):
        table.add_column(name, no_wrap=True)
    wide = width >= 100
    if wide:
        table.add_column("updated", no_wrap=True)
    table.add_column("nudges", justify="right", no_wrap=True)
    for j in page.journeys:
        updated = [_short(j.ended_at or j.updated_at)] if wide else []
        table.add_row(j.customer_id, j.status, j.stage, j.group, _short(j.started_at), *updated, str(j.nudges))
    return table


@journeys_app.command("list")
def journeys_list(
    status: Annotated[JourneyStatus | None, typer.Option(help="only journeys with this status")] = None,
    stage: Annotated[Stage | None, typer.Option(help="only journeys at this stage")] = None,
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z"], help="started from (UTC)")
    ] = None,
    customer: Annotated[str | None, typer.Option(help="one customer's journeys")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="journeys per page")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, typer.Option(help="the next page, as the previous one named it")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the page as JSON")] = False,
) -> None:
    """Journeys from the journal, newest started first (times in UTC; 'updated' is the end of an ended one)."""
    engine = journal_engine()
    try:
        with journal_errors(engine):
            page = list_journeys(
                engine,
                status=status.value if status else None,
                stage=stage.value if stage else None,
                since=since.replace(tzinfo=since.tzinfo or UTC) if since else None,
                customer_id=customer,
                limit=limit,
                cursor=cursor,
            )
    except BadCursor as exc:
        fail(f"--cursor: {exc}")
    if as_json:
        console.print_json(page.model_dump_json())
        return
    console.print(render_journeys(page, console.width) if page.journeys else "no journeys")
    if page.next:
        console.print(f"more: --cursor {page.next}", soft_wrap=True)


@journeys_app.command("close")
def journeys_close(
    customer: str,
    reason: Annotated[str, typer.Option(help="why: shown in the journey and the journal")],
    by: Annotated[str, typer.Option(help="who closes it (an operator id)")] = "cli",
    temporal_address: TemporalAddress = None,
) -> None:
    """Close a customer's running journey now, with a reason: status and outcome 'closed'."""

    async def act() -> None:
        client = await RecoveryClient.connect(settings_from(temporal_address))
        try:
            outcome = await client.close_journey(customer, reason, by)
        except (JourneyNotFound, CloseRefused) as exc:
            fail(str(exc))
        except ValidationError as exc:
            fail("; ".join(f"--{e['loc'][0]}: {e['msg']}" for e in exc.errors(include_url=False)))
        console.print(f"{workflow_id_for(customer)}: closed at {outcome.stage.value} ({outcome.reason})")

    run(act(), temporal_address)
