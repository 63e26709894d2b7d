"""`recovery customers`: what an operator does to one customer as a whole; `erase` is the right to erasure."""

import getpass
import re
from typing import Annotated

import typer
from temporalio.service import RPCError

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
from starters.erasure import ErasureTarget, erase_customer
from workflows.events import CUSTOMER_ID_PATTERN
from workflows.human_tasks import AGENT_ID_PATTERN

app = typer.Typer(help="Operators' actions on one customer.", no_args_is_help=True)


def _default_actor() -> str:
    """The operator's login name, as an actor id (`cli-<user>`), when --actor is not given."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return "cli-" + re.sub(r"[^A-Za-z0-9_.@\-]", "_", user)[:60]


@app.command("erase")
def erase(
    customer: Annotated[str, typer.Argument(help="the customer id, as sent in their events")],
    yes: Annotated[bool, typer.Option("--yes", help="confirm: the erasure cannot be undone")] = False,
    actor: Annotated[
        str | None, typer.Option(help="who asks (kept in the erasure record); default cli-<your login name>")
    ] = None,
    temporal_address: TemporalAddress = None,
) -> None:
    """Erase a customer: end their journeys, delete them from Temporal, the journal, the contact directory
    and the outbox; an erasure record (the id's sha256, when, who) remains."""
    if not re.fullmatch(CUSTOMER_ID_PATTERN, customer):
        fail("customer id must be 1-128 characters: letters, digits, '_', '.', '-', starting with a letter or digit")
    who = actor or _default_actor()
    if not re.fullmatch(AGENT_ID_PATTERN, who):
        fail("--actor must be 1-64 characters: letters, digits, '_', '.', '@', '-'")
    if not yes:
        fail(f"erasing customer {customer} cannot be undone: add --yes to confirm")
    settings = settings_from(temporal_address)
    check_payload_keys(settings)
    journal = journal_engine(settings)

    async def act() -> None:
        client = await connect(settings)
        with journal_errors(journal):
            try:
                erasure = await erase_customer(client, ErasureTarget.of(settings, journal), customer, who)
            except RPCError as err:
                fail(f"Temporal answered {err.status.name if err.status else 'an error'}: run the erasure again")
        if erasure is None:
            fail(f"nothing is known of customer {customer} (never seen, or already erased)")
        counts = erasure.erased
        rows = ", ".join(f"{table} {n}" for table, n in sorted(counts.journal_rows_deleted.items())) or "none"
        console.print(f"customer {customer} erased by {who} at {erasure.erased_at:%Y-%m-%d %H:%M:%S} UTC")
        console.print(f"  journeys ended         {counts.journeys_ended}")
        console.print(f"  Temporal runs deleted  {counts.workflow_runs_deleted}")
        console.print(f"  outbox lines deleted   {counts.outbox_lines_deleted}")
        console.print(f"  journal rows deleted   {rows}")
        console.print(f"  erasure record         sha256 {erasure.customer_hash}")
        if not erasure.temporal_done:
            console.print("  Temporal deletes the histories in the background (within about 30 s by default)")

    run(act(), settings.temporal_address)
