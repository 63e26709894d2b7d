"""`recovery service-status`: mark a service of the onboarding flow up or down, so nudges for its outage wait."""

from pathlib import Path
from typing import Annotated

import typer

from activities.service_health import write_service_status
from starters.cli.common import console, fail

app = typer.Typer()


@app.command("service-status")
def service_status(
    service: Annotated[str, typer.Argument(help="the service named in onboarding.error events, e.g. ocr")],
    status: Annotated[str, typer.Argument(help="up or down")],
    data_dir: Annotated[Path, typer.Option(envvar="RECOVERY_DATA_DIR")] = Path("var"),
) -> None:
    """Mark a service of the onboarding flow up or down (embedded status file): nudges for its outage wait."""
    if status not in ("up", "down"):
        fail("status is 'up' or 'down'")
    write_service_status(data_dir / "service_status.json", service, status)
    console.print(f"{service}: {status}")
