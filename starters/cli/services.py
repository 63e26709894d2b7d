"""`recovery service-status`: mark a service of the onboarding flow up or down for every process.

The same path as `PUT /v1/services/{service}` (starters/service_health.py): the journal keeps the
health, and `up` wakes the journeys whose nudge waits for the service, so they send now.
"""

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from core.logging import configure_logging
from core.temporal_client import connect
from starters.cli.common import (
    TemporalAddress,
    check_payload_keys,
    console,
    fail,
    journal_engine,
    journal_errors,
    run,
    settings_from,
)
from starters.service_health import report_service_health
from workflows.events import SERVICE_PATTERN

app = typer.Typer()


@app.command("service-status")
def service_status(
    service: Annotated[str, typer.Argument(help="the service named in onboarding.error events, e.g. ocr")],
    status: Annotated[str, typer.Argument(help="up or down")],
    data_dir: Annotated[Path | None, typer.Option(help="[env RECOVERY_DATA_DIR]")] = None,
    temporal_address: TemporalAddress = None,
) -> None:
    """Mark a service of the onboarding flow up or down: nudges for its outage wait, and go out once it is up."""
    if status not in ("up", "down"):
        fail("status is 'up' or 'down'")
    if not re.fullmatch(SERVICE_PATTERN, service):
        fail("service must be a service name: letters, digits, '_', '.', '-', at most 64")
    settings = settings_from(temporal_address, data_dir=data_dir)
    configure_logging(settings.log_format, "WARNING")  # the answer is the printed line; stderr only for trouble
    check_payload_keys(settings)
    journal = journal_engine(settings)

    async def report() -> None:
        temporal = await connect(settings)
        with journal_errors(journal):
            done = await report_service_health(temporal, journal, service, status == "up", datetime.now(UTC))
        woken = f" ({done.woken} waiting {'journey' if done.woken == 1 else 'journeys'} woken)" if done.woken else ""
        unreached = f"; {done.unreached} not reached, they look again at their next recheck" if done.unreached else ""
        console.print(f"{service}: {status}{woken}{unreached}")

    run(report(), settings.temporal_address)
