"""`recovery report`: the recovery report from the journal, as a person reads it in a terminal, as JSON,
or as a chart."""

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from journal.figures import Duration
from journal.report import INTERVENTIONS, RecoveryReport
from journal.store import utc
from journal.time_spans import readable_hours
from starters.cli.common import console, err_console, fail, journal_engine, journal_errors

app = typer.Typer()


@app.command()
def report(
    since: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z"], help="journeys started from (UTC)")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z"], help="... up to (default: now)")
    ] = None,
    playbook_version: Annotated[
        str | None, typer.Option(help="only journeys that pinned this playbook version")
    ] = None,
    dormancy_days: int = 30,
    chart: Annotated[Path | None, typer.Option(help="also write the funnel and recovery chart (.png or .svg)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
) -> None:
    """The recovery report from the journal: completion, funnel, friction, recovery, uplift, guardrails."""
    from journal.early_life_report import early_life_lines
    from journal.report import report_from_journal

    engine = journal_engine()
    until_utc, since_utc = utc(until or datetime.now(UTC)), utc(since)
    with journal_errors(engine):
        result = report_from_journal(
            engine, since=since_utc, until=until_utc, playbook_version=playbook_version, dormancy_days=dormancy_days
        )
    if as_json:
        console.print_json(result.model_dump_json())
    else:
        console.print(render_report(result))
        if result.early_life is not None:
            console.print(Text("\n".join(early_life_lines(result.early_life))))
    if chart is not None:
        from journal.chart import write_chart

        if chart.suffix.lower() not in (".png", ".svg"):
            fail("--chart takes a .png or .svg file name")
        write_chart(result, chart)
        err_console.print(f"chart written to {chart}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_time_to_completion(durations: Mapping[str, Duration]) -> Table:
    """Seconds on the demo playbook, hours or days on a real one: each figure in the unit that fits it."""
    table = Table("customers", "n", "median", "p90", title="Time to completion", header_style="bold")
    for name, d in durations.items():
        table.add_row(name, str(d.customers), readable_hours(d.median_hours), readable_hours(d.p90_hours))
    return table


def render_report(report: RecoveryReport) -> Group:
    scope = f"{report.since or 'beginning'} .. {report.until}" + (
        f", playbook {report.playbook_version}" if report.playbook_version else ""
    )
    head = Text.assemble(
        ("Recovery report ", "bold"),
        f"({scope})\n",
        f"journeys {report.journeys} (holdout {report.holdout_journeys}), "
        f"ended {report.ended} (closed by operators {report.closed}), completed {report.completed}: ",
        ("completion rate " + _pct(report.completion_rate), "bold"),
    )
    weeks = Table("cohort week", "started", "completed", "rate", title="Completion by cohort week", header_style="bold")
    for w in report.by_cohort_week:
        weeks.add_row(w.week, str(w.started), str(w.completed), _pct(w.completion_rate))

    funnel = Table("stage", "reached", "of started", title="Funnel", header_style="bold")
    for step in report.funnel:
        funnel.add_row(step.stage.value, str(step.reached), _pct(step.share_of_started))
    friction = Table(
        "stage", "drop-offs", "of journeys", title="Friction: where customers drop, most first", header_style="bold"
    )
    for f in report.friction:
        friction.add_row(f.stage.value, str(f.drop_offs), _pct(f.share_of_journeys))

    recovery = Table(
        "stage",
        "dropped",
        "recovered",
        "rate",
        *[k.replace("_", " ") for k in (*INTERVENTIONS, "none")],
        title="Recovery per stage (treated): what came last before completion",
        header_style="bold",
    )
    for r in report.recovery:
        recovery.add_row(
            r.stage.value,
            str(r.dropped),
            str(r.recovered),
            _pct(r.recovery_rate),
            *[str(r.by_intervention.get(k, 0)) for k in (*INTERVENTIONS, "none")],
        )

    durations = render_time_to_completion(report.time_to_completion)

    uplift = Table(
        "drop-off",
        "treated",
        "recovered",
        "holdout",
        "returned",
        "uplift",
        "95% CI",
        "verdict",
        title="Uplift over the holdout",
        header_style="bold",
    )
    for u in report.uplift:
        ci = "-" if u.ci_low is None else f"[{u.ci_low * 100:+.1f}, {u.ci_high * 100:+.1f}] pts"  # type: ignore[operator]
        uplift.add_row(
            u.stage,
            str(u.treated),
            _pct(u.treated_rate),
            str(u.holdout),
            _pct(u.holdout_rate),
            "-" if u.uplift is None else f"{u.uplift * 100:+.1f} pts",
            ci,
            u.verdict,
        )

    delivery = Table(
        "channel",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "pending",
        "delivery rate",
        title="Delivery per channel (the vendors' receipts)",
        header_style="bold",
    )
    for c in report.delivery:
        if not c.with_receipts:
            delivery.add_row(c.channel, str(c.sent), "-", "-", "-", "-", c.note)
            continue
        rate = _pct(c.delivery_rate) + (f" ({c.note})" if c.note else "")
        counts = (c.delivered, c.undelivered, c.failed, c.pending)
        delivery.add_row(c.channel, str(c.sent), *(str(n) for n in counts), rate)

    g = report.guardrails
    guard = Table.grid(padding=(0, 2))
    guard.add_column(style="bold")
    guard.add_column()
    guard.add_row("messages sent", str(g.messages_sent))
    guard.add_row("opt-outs per 1,000 messages", f"{_num(g.opt_outs_per_1000_messages)} ({g.opt_outs} opt-outs)")
    guard.add_row(
        "messages per recovered customer",
        f"{_num(g.messages_per_recovered_customer)} ({g.recovered_customers} recovered)",
    )
    guard.add_row("deferred by quiet hours", str(g.deferred_by_quiet_hours))
    dormant = (
        "-"
        if g.dormant_after_completion is None
        else f"{g.dormant_after_completion} of {g.completed_eligible_for_dormancy}"
    )
    guard.add_row(f"dormant {g.dormancy_days} days after completion", f"{dormant} ({g.dormancy_note})")
    return Group(
        head,
        weeks,
        funnel,
        friction,
        recovery,
        durations,
        uplift,
        delivery,
        Text("Guardrails", style="bold italic"),
        guard,
    )
