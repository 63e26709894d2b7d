"""`recovery event`: record onboarding events as the app backend would, through the same door as the API."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from journal.store import utc
from starters.cli.common import TemporalAddress, console, fail, journal_errors, run, settings_from
from starters.client import EventsRejected, RecoveryClient, admit_events

app = typer.Typer()


def _parse_attributes(pairs: list[str]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--attr takes key=value, got {pair!r}")
        attributes[key] = value
    return attributes


@app.command()
def event(
    customer: Annotated[str | None, typer.Option(help="customer id")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="e.g. onboarding.phone_verified")] = None,
    attr: Annotated[list[str] | None, typer.Option(help="attribute key=value, e.g. reason=blur (repeatable)")] = None,
    event_id: Annotated[str | None, typer.Option(help="default: a new id")] = None,
    occurred_at: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"], help="default: now (UTC)")
    ] = None,
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
            fail("give --customer and --type, or --file")
        when = utc(occurred_at or datetime.now(UTC))
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
    try:
        events = admit_events(items, datetime.now(UTC))  # the door's rules, before anything is sent
    except EventsRejected as rejected:
        index, exc = rejected.failures[0]
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors())
        fail(f"event {index} is invalid, nothing was sent: {problems}")

    async def send() -> None:
        client = await RecoveryClient.connect(settings_from(temporal_address))
        with journal_errors(client.journal):
            receipts = await client.record_events(events)
        for receipt in receipts:
            console.print(f"{receipt.event_id} -> {receipt.workflow_id}: {receipt.note}")

    run(send())
