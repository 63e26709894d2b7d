"""The processes: `recovery up` (the whole system here), `recovery worker`, `recovery api` and
`recovery migrate` (the journal's schema: run once per deploy, before the others)."""

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from core.logging import configure_logging
from starters.cli.common import (
    TemporalAddress,
    check_payload_keys,
    console,
    err_console,
    fail,
    journal_engine,
    run,
    settings_from,
)
from starters.embedded_stack import StackError, StackOptions, run_stack
from workflows.playbook import PlaybookError, load_playbook

app = typer.Typer()


@app.command()
def up(
    playbook: Annotated[Path, typer.Option(help="playbook new journeys pin")] = Path("playbooks/default.toml"),
    data_dir: Annotated[Path, typer.Option(help="database, outbox, logs")] = Path("var"),
    temporal_port: int = 7233,
    ui_port: int = 8233,
    api_port: int = 8000,
    api_token: Annotated[
        str | None, typer.Option(envvar="RECOVERY_API_TOKEN", help="default: one kept in the data folder")
    ] = None,
    metrics_port: Annotated[int | None, typer.Option(help="serve the worker's Prometheus metrics on this port")] = None,
) -> None:
    """Start the whole system here: Temporal dev server and Web UI, a worker, the HTTP API;
    a child that dies is restarted."""
    settings = settings_from()
    configure_logging(
        settings.log_format, settings.log_level
    )  # the supervisor's lines: restarts, a child that keeps dying
    try:
        load_playbook(playbook)
        code = run_stack(
            StackOptions(data_dir, playbook, temporal_port, ui_port, api_port, api_token, metrics_port=metrics_port)
        )
    except (StackError, PlaybookError) as exc:
        fail(str(exc))
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

    settings = settings_from(temporal_address, worker_role=role)
    configure_logging(settings.log_format, settings.log_level)
    try:
        run(run_worker(settings), settings.temporal_address)
    except MetricsPortError as exc:
        fail(str(exc))
    exit_after_clean_shutdown(settings)


@app.command()
def migrate() -> None:
    """Bring the journal database (RECOVERY_JOURNAL_URL) to the newest schema; a no-op when it is there."""
    from journal.store import migrate as migrate_journal

    settings = settings_from()
    configure_logging(settings.log_format, settings.log_level)
    engine = journal_engine(settings)
    where = engine.url.render_as_string(hide_password=True)
    try:
        migrate_journal(engine)
    except Exception as exc:  # unreachable database, bad credentials: say which, not a traceback
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        err_console.print(
            "[red]error:[/red]",
            Text(f"journal migration failed ({where}): {type(exc).__name__}: {cause}"),
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    console.print(Text(f"journal schema is current: {where}"), soft_wrap=True)


@app.command()
def api(host: str = "127.0.0.1", port: int = 8000, temporal_address: TemporalAddress = None) -> None:
    """Serve the HTTP API against any Temporal (settings from RECOVERY_* variables)."""
    from starters.api.app import serve

    settings = settings_from(temporal_address)
    configure_logging(settings.log_format, settings.log_level)
    check_payload_keys(settings)
    serve(settings, host, port)
