"""`recovery`: run the system and talk to journeys from a terminal."""

import asyncio
import getpass
import json
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine

from activities.service_health import write_service_status
from console.accounts import AccountError, Role, add_agent, check_password, check_username, list_agents, remove_agent
from starters.client import JourneyNotFound, RecoveryClient
from starters.embedded_stack import StackError, StackOptions, run_stack
from starters.journey_render import render_journey
from core.logging import configure_logging
from core.payload_codec import PayloadKeyError
from core.settings import Settings, settings_error_text
from core.temporal_client import payload_keys
from workflows.events import IncomingEvent
from workflows.human_tasks import TaskOutcome, TaskRefused
from workflows.playbook import PlaybookError, load_playbook

app = typer.Typer(help="Onboarding drop-off recovery: durable journeys on Temporal.", no_args_is_help=True)
tasks_app = typer.Typer(help="Human tasks for support agents.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")
agents_app = typer.Typer(help="Accounts of the agents' console (kept in the journal database).", no_args_is_help=True)
app.add_typer(agents_app, name="agents")
console = Console()
err_console = Console(stderr=True)


def _fail(message: str) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def _settings(temporal_address: str | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with the command's options on top; a bad one is a one-line error."""
    given = {key: value for key, value in {"temporal_address": temporal_address, **overrides}.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        err_console.print("[red]error:[/red]", Text(f"bad RECOVERY_* setting: {settings_error_text(exc)}"), soft_wrap=True)
        raise typer.Exit(1) from None


def _check_payload_keys(settings: Settings) -> None:
    """Keys are needed before anything talks to Temporal: missing or broken ones are a one-line error."""
    try:
        payload_keys(settings)
    except PayloadKeyError as exc:
        _fail(f"bad payload keys: {exc}")


def _run(coro: Any, temporal_address: str | None = None) -> Any:
    """Runs a command's coroutine; Temporal out of reach, or no payload keys, is a one-line error, not a traceback."""
    try:
        return asyncio.run(coro)
    except PayloadKeyError as exc:
        _fail(f"bad payload keys: {exc}")
    except RuntimeError as exc:
        if "client connect" not in str(exc):
            raise
        where = f" at {temporal_address}" if temporal_address else ""
        cause = " ".join(str(exc).split())
        err_console.print("[red]error:[/red]", Text(f"cannot reach Temporal{where}: {cause}. Is `recovery up` running?"), soft_wrap=True)
        raise typer.Exit(1) from None


TemporalAddress = Annotated[str | None, typer.Option(help="Temporal frontend host:port [env RECOVERY_TEMPORAL_ADDRESS]")]


@app.command()
def up(
    playbook: Annotated[Path, typer.Option(help="playbook new journeys pin")] = Path("playbooks/default.toml"),
    data_dir: Annotated[Path, typer.Option(help="database, outbox, logs")] = Path("var"),
    temporal_port: int = 7233,
    ui_port: int = 8233,
    api_port: int = 8000,
    api_token: Annotated[str | None, typer.Option(envvar="RECOVERY_API_TOKEN", help="default: one kept in the data folder")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="serve the worker's Prometheus metrics on this port")] = None,
) -> None:
    """Start the whole system here: Temporal dev server and Web UI, a worker, the HTTP API; a child that dies is restarted."""
    settings = _settings()
    configure_logging(settings.log_format, settings.log_level)  # the supervisor's lines: restarts, a child that keeps dying
    try:
        load_playbook(playbook)
        code = run_stack(StackOptions(data_dir, playbook, temporal_port, ui_port, api_port, api_token, metrics_port=metrics_port))
    except (StackError, PlaybookError) as exc:
        _fail(str(exc))
    raise typer.Exit(code)


@app.command()
def worker(
    temporal_address: TemporalAddress = None,
    role: Annotated[
        str | None,
        typer.Option(help="all, journeys (no deliveries) or messaging (deliveries only) [env RECOVERY_WORKER_ROLE]"),
    ] = None,
) -> None:
    """Run a worker against any Temporal (settings from RECOVERY_* variables)."""
    from workers.metrics import MetricsPortError
    from workers.worker import exit_after_clean_shutdown, run_worker

    settings = _settings(temporal_address, worker_role=role)
    configure_logging(settings.log_format, settings.log_level)
    try:
        _run(run_worker(settings), settings.temporal_address)
    except MetricsPortError as exc:
        _fail(str(exc))
    exit_after_clean_shutdown(settings)


@app.command()
def migrate() -> None:
    """Bring the journal database (RECOVERY_JOURNAL_URL) to the newest schema; a no-op when it is there."""
    from journal.store import migrate as migrate_journal
    from journal.store import open_journal

    settings = _settings()
    configure_logging(settings.log_format, settings.log_level)
    engine = open_journal(settings.journal_database_url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        migrate_journal(engine)
    except Exception as exc:  # unreachable database, bad credentials: say which, not a traceback
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        err_console.print("[red]error:[/red]", Text(f"journal migration failed ({where}): {type(exc).__name__}: {cause}"), soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(Text(f"journal schema is current: {where}"), soft_wrap=True)


@app.command()
def api(host: str = "127.0.0.1", port: int = 8000, temporal_address: TemporalAddress = None) -> None:
    """Serve the HTTP API against any Temporal (settings from RECOVERY_* variables)."""
    from starters.api import serve

    settings = _settings(temporal_address)
    configure_logging(settings.log_format, settings.log_level)
    _check_payload_keys(settings)
    serve(settings, host, port)


def _parse_attributes(pairs: list[str]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            _fail(f"--attr takes key=value, got {pair!r}")
        attributes[key] = value
    return attributes


@app.command()
def event(
    customer: Annotated[str | None, typer.Option(help="customer id")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="e.g. onboarding.phone_verified")] = None,
    attr: Annotated[list[str] | None, typer.Option(help="attribute key=value, e.g. reason=blur (repeatable)")] = None,
    event_id: Annotated[str | None, typer.Option(help="default: a new id")] = None,
    occurred_at: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"], help="default: now (UTC)")] = None,
    timezone_: Annotated[str | None, typer.Option("--timezone", help="customer's IANA time zone")] = None,
    locale: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    file: Annotated[Path | None, typer.Option(help="a JSON file with one event or a list of events")] = None,
    temporal_address: TemporalAddress = None,
) -> None:
    """Record onboarding events, as the app backend would."""
    if file is not None:
        raw = json.loads(file.read_text())
        items = raw if isinstance(raw, list) else [raw]
    else:
        if not customer or not type_:
            _fail("give --customer and --type, or --file")
        when = occurred_at or datetime.now(timezone.utc)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        profile: dict[str, Any] = {k: v for k, v in {"timezone": timezone_, "locale": locale}.items() if v}
        if lat is not None and lon is not None:
            profile["location"] = {"lat": lat, "lon": lon}
        items = [
            {
                "event_id": event_id or f"cli-{uuid.uuid4().hex[:12]}",
                "customer_id": customer,
                "type": type_,
                "occurred_at": when.isoformat(),
                "attributes": _parse_attributes(attr or []),
                "profile": profile or None,
            }
        ]
    events = []
    for index, item in enumerate(items):
        try:
            events.append(IncomingEvent.model_validate(item))  # the door's rules, before anything is sent
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors())
            _fail(f"event {index} is invalid, nothing was sent: {problems}")

    async def send() -> None:
        client = await RecoveryClient.connect(_settings(temporal_address))
        for receipt in await client.record_events(events):
            console.print(f"{receipt.event_id} -> {receipt.workflow_id}: {receipt.note}")

    _run(send())


@app.command()
def journey(
    customer: str,
    as_json: Annotated[bool, typer.Option("--json", help="the raw journey view")] = False,
    temporal_address: TemporalAddress = None,
) -> None:
    """Show one customer's journey: stage, status, and the timeline of events and messages."""

    async def show() -> None:
        client = await RecoveryClient.connect(_settings(temporal_address))
        try:
            view = await client.journey(customer)
        except JourneyNotFound as exc:
            _fail(str(exc))
        if as_json:
            console.print_json(view.model_dump_json())
        else:
            console.print(render_journey(view))

    _run(show())


@tasks_app.command("list")
def tasks_list(
    state: Annotated[list[str] | None, typer.Option(help="open and/or claimed (repeatable)")] = None,
    temporal_address: TemporalAddress = None,
) -> None:
    """Live human tasks, soonest due first."""

    async def show() -> None:
        client = await RecoveryClient.connect(_settings(temporal_address))
        summaries = await client.list_tasks(tuple(state or ("open", "claimed")))
        table = Table("task", "kind", "reason", "stage", "state", "agent", "due (UTC)", header_style="bold")
        for s in summaries:
            t = s.task
            table.add_row(t.task_id, t.kind.value, t.reason.value, s.stage, t.state.value, t.claimed_by or "", t.due_at.strftime("%Y-%m-%d %H:%M"))
        console.print(table if summaries else "no live tasks")

    _run(show())


def _task_action(action: str, task_id: str, agent: str, outcome: TaskOutcome | None = None, note: str = "", temporal_address: str | None = None) -> None:
    async def act() -> None:
        client = await RecoveryClient.connect(_settings(temporal_address))
        try:
            if action == "claim":
                task = await client.claim_task(task_id, agent)
            elif action == "release":
                task = await client.release_task(task_id, agent)
            else:
                assert outcome is not None
                task = await client.complete_task(task_id, agent, outcome, note)
        except (TaskRefused, ValidationError) as exc:
            _fail(str(exc))
        console.print(f"{task.task_id}: {task.state.value}" + (f" ({task.outcome.value})" if task.outcome else ""))

    _run(act())


@tasks_app.command("claim")
def tasks_claim(task_id: str, agent: Annotated[str, typer.Option(help="agent id")], temporal_address: TemporalAddress = None) -> None:
    """Claim a task: it is yours to work."""
    _task_action("claim", task_id, agent, temporal_address=temporal_address)


@tasks_app.command("release")
def tasks_release(task_id: str, agent: Annotated[str, typer.Option(help="agent id")], temporal_address: TemporalAddress = None) -> None:
    """Give a claimed task back to the inbox."""
    _task_action("release", task_id, agent, temporal_address=temporal_address)


@tasks_app.command("complete")
def tasks_complete(
    task_id: str,
    agent: Annotated[str, typer.Option(help="agent id")],
    outcome: Annotated[TaskOutcome, typer.Option(help="what came of it")],
    note: str = "",
    temporal_address: TemporalAddress = None,
) -> None:
    """Complete a claimed task with its outcome; the journey acts on it."""
    _task_action("complete", task_id, agent, outcome, note, temporal_address)


def _agents_journal() -> Engine:
    from journal.store import migrate, open_journal

    engine = open_journal(_settings().journal_database_url)
    migrate(engine)
    return engine


def _read_password() -> str:
    """One line from stdin: typed without echo on a terminal, or piped in by a script."""
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n")


@agents_app.command("add")
def agents_add(
    username: Annotated[str, typer.Argument(help="the agent's sign-in name, also their agent id in journeys")],
    role: Annotated[Role, typer.Option(help="agent, or supervisor (can also release and reassign others' tasks)")] = Role.AGENT,
) -> None:
    """Add a console account; the password is read from stdin (e.g. `printf '%s\\n' "$PW" | recovery agents add ana`)."""
    password = _read_password()
    try:
        check_username(username)
        check_password(password)
        add_agent(_agents_journal(), username, password, role)
    except AccountError as exc:
        _fail(str(exc))
    console.print(f"agent {username} added ({role.value})")


@agents_app.command("remove")
def agents_remove(username: str) -> None:
    """Remove a console account and end its sessions; what the agent did stays in the audit log."""
    try:
        remove_agent(_agents_journal(), username)
    except AccountError as exc:
        _fail(str(exc))
    console.print(f"agent {username} removed")


@agents_app.command("list")
def agents_list() -> None:
    """Console accounts and their roles."""
    agents = list_agents(_agents_journal())
    table = Table("username", "role", "created (UTC)", header_style="bold")
    for agent in agents:
        table.add_row(agent.username, agent.role.value, agent.created_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table if agents else "no agents: add one with `recovery agents add USERNAME`")


@app.command()
def report(
    since: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z"], help="journeys started from (UTC)")] = None,
    until: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z"], help="... up to (default: now)")] = None,
    playbook_version: Annotated[str | None, typer.Option(help="only journeys that pinned this playbook version")] = None,
    dormancy_days: int = 30,
    chart: Annotated[Path | None, typer.Option(help="also write the funnel and recovery chart (.png or .svg)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
) -> None:
    """The recovery report from the journal: completion, funnel, friction, recovery, uplift, guardrails."""
    from journal.store import migrate, open_journal
    from journal.report import report_from_journal
    from starters.report_render import render_report

    settings = _settings()
    engine = open_journal(settings.journal_database_url)
    migrate(engine)
    until_utc = (until or datetime.now(timezone.utc)).replace(tzinfo=(until.tzinfo if until and until.tzinfo else timezone.utc))
    since_utc = since.replace(tzinfo=since.tzinfo or timezone.utc) if since else None
    result = report_from_journal(engine, since=since_utc, until=until_utc, playbook_version=playbook_version, dormancy_days=dormancy_days)
    if as_json:
        console.print_json(result.model_dump_json())
    else:
        console.print(render_report(result))
    if chart is not None:
        from journal.chart import write_chart

        if chart.suffix.lower() not in (".png", ".svg"):
            _fail("--chart takes a .png or .svg file name")
        write_chart(result, chart)
        err_console.print(f"chart written to {chart}")


@app.command("service-status")
def service_status(
    service: Annotated[str, typer.Argument(help="the service named in onboarding.error events, e.g. ocr")],
    status: Annotated[str, typer.Argument(help="up or down")],
    data_dir: Annotated[Path, typer.Option(envvar="RECOVERY_DATA_DIR")] = Path("var"),
) -> None:
    """Mark a service of the onboarding flow up or down (embedded status file): nudges for its outage wait."""
    if status not in ("up", "down"):
        _fail("status is 'up' or 'down'")
    write_service_status(data_dir / "service_status.json", service, status)
    console.print(f"{service}: {status}")


@app.command()
def simulate(
    customers: Annotated[int, typer.Option(min=1, help="synthetic customers in the cohort")] = 200,
    seed: Annotated[int, typer.Option(help="same seed, same cohort (customers, holdout and, timing aside, the same summary); a seed runs once per system")] = 7,
    api_url: Annotated[str, typer.Option(help="the HTTP API of `recovery up`")] = "http://127.0.0.1:8000",
    api_token: Annotated[str | None, typer.Option(envvar="RECOVERY_API_TOKEN", help="default: <data-dir>/api-token")] = None,
    data_dir: Annotated[Path, typer.Option(envvar="RECOVERY_DATA_DIR", help="the folder of `recovery up`: its outbox is the customers' phones")] = Path("var"),
    playbook: Annotated[Path | None, typer.Option(help="the playbook `recovery up` runs (holdout share, message sequence: the true uplift); default: the one of --data-dir's running stack, else playbooks/demo.toml")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="HTTP requests in flight at most")] = 50,
    start_rate: Annotated[float, typer.Option(min=0.01, help="customers starting per second (more than the system keeps up with and journeys see drop-offs that did not happen)")] = 3.0,
    drop_started: Annotated[float, typer.Option(help="P(stall before phone verification)", rich_help_panel="Cohort")] = 0.08,
    drop_phone_verified: Annotated[float, typer.Option(help="P(stall before the document upload)", rich_help_panel="Cohort")] = 0.12,
    reject_document: Annotated[float, typer.Option(help="P(document rejected at upload, customer stops)", rich_help_panel="Cohort")] = 0.20,
    drop_document_approved: Annotated[float, typer.Option(help="P(stall before the selfie)", rich_help_panel="Cohort")] = 0.10,
    fail_biometric: Annotated[float, typer.Option(help="P(selfie fails, customer stops)", rich_help_panel="Cohort")] = 0.08,
    drop_biometric_passed: Annotated[float, typer.Option(help="P(stall before activation)", rich_help_panel="Cohort")] = 0.05,
    natural_return: Annotated[float, typer.Option(help="P(a stalled customer comes back alone, 10-22 s after stopping, with no message; in both groups)", rich_help_panel="Cohort")] = 0.15,
    respond_nudge: Annotated[str, typer.Option(help="P(respond) to nudge 1,2,3", rich_help_panel="Cohort")] = "0.25,0.15,0.10",
    respond_sms: Annotated[float, typer.Option(help="P(activate in store after the SMS offer)", rich_help_panel="Cohort")] = 0.20,
    opt_out: Annotated[float, typer.Option(help="P(opt out) on each message", rich_help_panel="Cohort")] = 0.02,
    agent_outcomes: Annotated[str, typer.Option(help="weights of the agents' task outcomes", rich_help_panel="Cohort")] = (
        "verified_on_call=0.5,customer_will_retry=0.2,activated_in_store=0.2,unreachable=0.1"
    ),
    timeout: Annotated[float, typer.Option(min=1, help="give up on journeys not ended after this many seconds")] = 900.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Drive a synthetic cohort through the running system over the HTTP API (customers and agents),
    then summarise how their journeys ended, with the true uplift over the holdout (from the cohort's own
    draws) next to the one the journeys give. Meant for `recovery up --playbook playbooks/demo.toml`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from starters.simulate import (
        SimulationConfig,
        SimulationError,
        parse_agent_outcomes,
        parse_probabilities,
        resolve_playbook,
        resolve_token,
        summary_table,
        uplift_table,
    )
    from starters.simulate import simulate as run_simulation
    from starters.simulate_cohort import CohortParams
    from workflows.funnel import Stage

    try:
        params = CohortParams(
            customers=customers,
            seed=seed,
            stall={
                Stage.STARTED: drop_started,
                Stage.PHONE_VERIFIED: drop_phone_verified,
                Stage.DOCUMENT_REJECTED: reject_document,
                Stage.DOCUMENT_APPROVED: drop_document_approved,
                Stage.BIOMETRIC_FAILED: fail_biometric,
                Stage.BIOMETRIC_PASSED: drop_biometric_passed,
            },
            natural_return=natural_return,
            respond_nudge=parse_probabilities(respond_nudge, 3, "--respond-nudge"),  # type: ignore[arg-type]
            respond_sms=respond_sms,
            opt_out=opt_out,
            agent_outcomes=parse_agent_outcomes(agent_outcomes),
            start_rate=start_rate,
        )
        config = SimulationConfig(
            params=params, api_url=api_url, api_token=resolve_token(api_token, data_dir), data_dir=data_dir,
            concurrency=concurrency, timeout=timeout, playbook=load_playbook(resolve_playbook(playbook, data_dir)),
        )
    except (ValueError, SimulationError) as exc:  # PlaybookError is a ValueError
        _fail(str(exc))

    progress = Progress(
        TextColumn("journeys ended"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console, transient=as_json,
    )
    bar = progress.add_task("ended", total=customers)

    def note(message: str) -> None:
        progress.console.print(f"[yellow]note:[/yellow] {message}")

    with progress:
        try:
            result = asyncio.run(run_simulation(config, progress=lambda done, total: progress.update(bar, completed=done), note=note))
        except SimulationError as exc:
            progress.stop()
            _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))  # plain: never wrapped to the terminal's width
    else:
        share = 100 * result.needing_help / len(result.plans)
        title = f"seed {result.seed}: {len(result.plans)} customers in {result.elapsed_s:.0f}s"
        console.print(summary_table(result.summary, title=title))
        console.print(f"{result.needing_help} of {len(result.plans)} ({share:.0f}%) would never have activated without help.")
        console.print(
            f"{result.holdout} were in the holdout (watched, never messaged: the control group); "
            f"{result.holdout_completed} of them completed"
            + (f"; {result.holdout_messaged} received a message (they must not)." if result.holdout_messaged else ".")
        )
        if result.agent_outcomes:
            console.print("agents completed tasks: " + ", ".join(f"{k} {v}" for k, v in sorted(result.agent_outcomes.items())))
        console.print(uplift_table(
            result.true_uplift, result.observed_uplift,
            title=f"uplift over the holdout, by first drop-off stage (playbook {result.playbook_version})",
        ))
        console.print(
            "true uplift (from the cohort's own draws): each customer's completion if treated minus if held out, "
            "averaged over those who dropped off; the journeys' figure is treated minus holdout completion, as "
            "`recovery report` shows it (its other rows count every drop-off at a stage, not the first)."
        )
    if result.timed_out or result.interrupted:
        err_console.print(f"[red]{'interrupted' if result.interrupted else 'timed out'}:[/red] {result.summary.not_ended} journeys had not ended")
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
