"""The console's erase form, for supervisors only: a customer erased everywhere (the right to erasure) by
the same code as `DELETE /v1/customers/{customer_id}`, once the supervisor has typed the customer id again.

The erasure deletes every console audit line that names the customer (journal/erasure.py erases
`agent_actions` by its `customer_id` and `task_id`), so its own audit line, written after it, names the
customer by the sha256 of the id only; so does the line of an erasure that found nothing (the customer
may have been erased already). A refused attempt (a wrong confirmation) names the customer, as a refused
close does: nothing was erased, and a later erasure removes that line too.
"""

import asyncio
import re

from fastapi import APIRouter, Request
from fastapi.responses import Response
from temporalio.service import RPCError

from console.audit import record_action
from console.context import PREFIX, ConsoleError, Form, base, journal_for, journeys_for, render
from console.journeys_page import supervisor_only
from core.deps import settings_of, temporal_failure
from journal.erasure import customer_hash
from workflows.events import CUSTOMER_ID_PATTERN

router = APIRouter(prefix=PREFIX, include_in_schema=False)
CONFIRM_FIELD = "confirm_customer_id"


@router.post("/journeys/{customer_id}/erase")
async def erase_customer(request: Request, signed: Form, customer_id: str) -> Response:
    """From the journey page."""
    return await _erase(request, signed, customer_id)


@router.post("/customers/erase")
async def erase_customer_by_id(request: Request, signed: Form) -> Response:
    """From the journeys page, for a customer whose journeys Temporal no longer keeps (the namespace's
    retention deleted them, and with them the journey page): erasure is asked for long after onboarding."""
    return await _erase(request, signed, signed.text("customer_id"))


async def _erase(request: Request, signed: Form, customer_id: str) -> Response:
    """Erases the customer when the confirmation repeats their id exactly; shows what was erased."""
    supervisor_only(signed.session, "erase a customer")
    me, journal = signed.session.agent.username, journal_for(request)
    if not re.fullmatch(CUSTOMER_ID_PATTERN, customer_id):
        raise ConsoleError(422, "That is not a customer id.")
    if signed.text(CONFIRM_FIELD) != customer_id:
        await asyncio.to_thread(
            record_action, journal, me, "erase_customer_refused", customer_id=customer_id, detail="confirmation differs"
        )
        raise ConsoleError(422, "The confirmation does not repeat the customer id exactly: nothing was erased.")
    hashed = f"customer sha256 {customer_hash(customer_id)}"
    try:
        erasure = await journeys_for(request).erase_customer(customer_id, me, settings_of(request))
    except RPCError as err:
        status_code, message = temporal_failure(err)
        raise ConsoleError(status_code, f"{message}: run the erasure again to finish it.") from None
    if erasure is None:
        await asyncio.to_thread(record_action, journal, me, "erase_customer_found_nothing", detail=hashed)
        raise ConsoleError(404, f"Nothing is known of customer {customer_id}: never seen, or already erased.")
    await asyncio.to_thread(record_action, journal, me, "erase_customer", detail=hashed)
    rows = sorted(erasure.erased.journal_rows_deleted.items())
    return render(request, "erased.html", base(signed.session, customer_id=customer_id, erasure=erasure, rows=rows))
