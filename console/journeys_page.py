"""The console's journeys page and the close form, for supervisors only: find journeys (from the
journal, the same listing as `GET /v1/journeys`) with a search box for a customer id and the same
filters, each linking to the journey; close one from its page, with a reason (the journey's Update)."""

import asyncio
import re
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.audit import record_action
from console.context import (
    PREFIX,
    ConsoleError,
    Form,
    PageSession,
    SignedIn,
    base,
    journal_for,
    journeys_for,
    redirect,
    render,
    temporal,
)
from core.deps import JourneyNotFound
from journal.listing import BadCursor
from workflows.events import CUSTOMER_ID_PATTERN
from workflows.funnel import Stage
from workflows.journey import workflow_id_for
from workflows.journey_controls import MAX_CLOSE_REASON, CloseRefused
from workflows.journey_state import JourneyStatus

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE_SIZE = 50


def supervisor_only(session: SignedIn, what: str) -> None:
    if not session.agent.is_supervisor:
        raise ConsoleError(403, f"Only a supervisor can {what}.")


def _choice(value: str | None, allowed: list[str], name: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise ConsoleError(422, f"Unknown {name}: choose one from the list.")
    return value


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError:
        raise ConsoleError(422, "Started since: a date as YYYY-MM-DD.") from None


@router.get("/journeys")
async def journeys_page(
    request: Request,
    session: PageSession,
    customer: str | None = None,
    status: str | None = None,
    stage: str | None = None,
    since: str | None = None,
    cursor: str | None = None,
) -> Response:
    supervisor_only(session, "list journeys")
    customer = (customer or "").strip() or None
    if customer is not None and not re.fullmatch(CUSTOMER_ID_PATTERN, customer):
        raise ConsoleError(422, "That is not a customer id.")
    statuses, stages = [s.value for s in JourneyStatus], [s.value for s in Stage]
    chosen: dict[str, Any] = {
        "customer": customer,
        "status": _choice(status, statuses, "status"),
        "stage": _choice(stage, stages, "stage"),
        "since": since or None,
    }
    try:
        page = await journeys_for(request).list_journeys(
            status=chosen["status"],
            stage=chosen["stage"],
            since=_since(since),
            customer_id=customer,
            limit=PAGE_SIZE,
            cursor=cursor or None,
        )
    except BadCursor:
        raise ConsoleError(422, "That page link is not valid any more: start from the first page.") from None
    filters = {k: v for k, v in chosen.items() if v}
    next_link = f"{PREFIX}/journeys?{urlencode({**filters, 'cursor': page.next})}" if page.next else None
    return render(
        request,
        "journeys.html",
        base(session, page=page, chosen=chosen, statuses=statuses, stages=stages, next_link=next_link),
    )


@router.post("/journeys/{customer_id}/close")
async def close_journey(request: Request, signed: Form, customer_id: str) -> Response:
    """A supervisor closes the journey with a reason; refusals (an ended journey) show on its page."""
    supervisor_only(signed.session, "close a journey")
    me, journal = signed.session.agent.username, journal_for(request)
    reason = signed.text("reason")
    if not reason:
        raise ConsoleError(422, "Say why the journey is closed.")
    if len(reason) > MAX_CLOSE_REASON:
        raise ConsoleError(422, f"The reason is too long: at most {MAX_CLOSE_REASON} characters.")
    audit = {"customer_id": customer_id, "workflow_id": workflow_id_for(customer_id)}
    try:
        await temporal(request, journeys_for(request).close_journey(customer_id, reason, me), "Closing the journey")
    except JourneyNotFound:
        raise ConsoleError(404, f"No journey for customer {customer_id}.") from None
    except CloseRefused as err:
        await asyncio.to_thread(record_action, journal, me, "close_journey_refused", detail=str(err), **audit)
        raise ConsoleError(409, str(err)) from None
    await asyncio.to_thread(record_action, journal, me, "close_journey", detail=reason, **audit)
    return redirect(f"{PREFIX}/journeys/{quote(customer_id, safe='')}?done=close")
