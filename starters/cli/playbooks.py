"""`recovery playbook check`: a playbook edited without a deploy is checked before journeys pin it."""

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from starters.cli.common import console, err_console
from workflows.playbook import PlaybookError, load_playbook

app = typer.Typer(help="Playbooks: what new journeys pin.", no_args_is_help=True)


@app.command("check")
def check(
    files: Annotated[list[Path], typer.Argument(help="playbook files (TOML)", show_default=False)],
) -> None:
    """Check playbooks as `recovery up` and the worker load them: fields, durations, placeholders, and
    copy in every declared locale (naming stage, reason and locale when one is missing)."""
    failed = False
    for path in files:
        try:
            playbook = load_playbook(path)
        except PlaybookError as exc:
            err_console.print("[red]error:[/red]", Text(str(exc)), soft_wrap=True)
            failed = True
            continue
        locales = ", ".join(playbook.locales) or f"{playbook.default_locale} (none declared)"
        console.print(Text(f"{path}: valid, version {playbook.version}, locales {locales}"), soft_wrap=True)
    if failed:
        raise typer.Exit(1)
