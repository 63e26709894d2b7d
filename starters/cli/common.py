"""What every `recovery` command shares: its consoles, one-line errors instead of tracebacks, settings
from the environment with the command's options on top, and the journal as `recovery migrate` left it."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from core.payload_codec import PayloadKeyError
from core.settings import Settings, settings_error_text
from core.temporal_client import payload_keys
from journal.store import open_journal

console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def settings_from(temporal_address: str | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with the command's options on top; a bad one is a one-line error."""
    given = {
        key: value for key, value in {"temporal_address": temporal_address, **overrides}.items() if value is not None
    }
    try:
        return Settings(**given)
    except ValidationError as exc:
        err_console.print(
            "[red]error:[/red]", Text(f"bad RECOVERY_* setting: {settings_error_text(exc)}"), soft_wrap=True
        )
        raise typer.Exit(1) from None


def check_payload_keys(settings: Settings) -> None:
    """Keys are needed before anything talks to Temporal: missing or broken ones are a one-line error."""
    try:
        payload_keys(settings)
    except PayloadKeyError as exc:
        fail(f"bad payload keys: {exc}")


def run(coro: Any, temporal_address: str | None = None) -> Any:
    """Runs a command's coroutine; Temporal out of reach, or no payload keys, is a one-line error, not a traceback."""
    try:
        return asyncio.run(coro)
    except PayloadKeyError as exc:
        fail(f"bad payload keys: {exc}")
    except RuntimeError as exc:
        if "client connect" not in str(exc):
            raise
        where = f" at {temporal_address}" if temporal_address else ""
        cause = " ".join(str(exc).split())
        err_console.print(
            "[red]error:[/red]",
            Text(f"cannot reach Temporal{where}: {cause}. Is `recovery up` running?"),
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


TemporalAddress = Annotated[
    str | None, typer.Option(help="Temporal frontend host:port [env RECOVERY_TEMPORAL_ADDRESS]")
]


def journal_engine(settings: Settings | None = None) -> Engine:
    """The journal of these settings, opened and not migrated: `recovery migrate` (or `recovery up`, or a
    worker at start) brings its schema, so no other command spends time on it."""
    return open_journal((settings or settings_from()).journal_database_url)


@contextmanager
def journal_errors(engine: Engine | None) -> Iterator[None]:
    """A journal out of reach or without its schema is a one-line error that says what to run."""
    try:
        yield
    except SQLAlchemyError as exc:
        where = engine.url.render_as_string(hide_password=True) if engine is not None else "RECOVERY_JOURNAL_URL"
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"the journal ({where}) cannot be read: {cause}; is its schema there (`recovery migrate`)?")
