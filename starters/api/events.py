"""`POST /v1/events`: one event or a batch, validated whole before any is recorded.

The body is read in chunks and refused (413) as soon as it passes the limit, so a huge body is never
buffered; errors name the batch index and the field, never the value sent.
"""

import json
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError

from starters.api.auth import ERRORS, Recovery
from starters.api.body import body_within
from starters.api.errors import JSON, BatchRejected, FieldError, Problem, event_errors, unprocessable
from starters.client import EventReceipt, EventsRejected, ReceiptStatus
from workflows.events import IncomingEvent

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1")  # prefixed here: the route keeps its full path (metrics label routes by it)

MAX_BATCH = 500
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_NUMBER_DIGITS = 40  # no field takes a longer number; Python refuses to parse past 4,300 digits anyway


class JourneyReceipt(BaseModel):
    customer_id: str
    workflow_id: str
    accepted: int = Field(description="new events of this batch handed to the journey")
    note: str = Field(description="'recorded' when all were; otherwise what happened to the others")


class EventStatus(BaseModel):
    index: int = Field(description="position in the batch (0 for a single event)")
    event_id: str
    status: ReceiptStatus = Field(
        description="recorded: new, handed to its journey; duplicate: this event_id was recorded before with the same "
        "content (nothing done); conflict: this event_id was recorded before with other content (refused); ignored: "
        "older than the customer's ended journey, or after a completed onboarding"
    )


class EventsAccepted(BaseModel):
    accepted: int = Field(
        description="new events handed to their journeys (duplicates, conflicts and ignored events not counted)"
    )
    received: int = Field(description="events in the request")
    events: list[EventStatus] = Field(description="one per event, in the order sent")
    journeys: list[JourneyReceipt]


EventsBody = IncomingEvent | Annotated[list[IncomingEvent], Field(min_length=1, max_length=MAX_BATCH)]


class _LongNumber:
    """A number too long for any field: the field's own check refuses it, naming index and field."""


def _number(text: str) -> int | _LongNumber:
    return _LongNumber() if len(text) > MAX_NUMBER_DIGITS else int(text)


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventsAccepted,
    responses={
        **ERRORS,
        413: {"description": f"the body is over {MAX_BODY_BYTES} bytes; nothing was recorded", "model": Problem},
        415: {"description": f"the body is not {JSON}; nothing was recorded", "model": Problem},
        422: {"description": "the batch was rejected whole; nothing was recorded", "model": BatchRejected},
        503: {
            "description": "RECOVERY_API_TOKEN is not set, or Temporal or the journal is unavailable: "
            "retry, events are idempotent on event_id",
            "model": Problem,
        },
    },
    summary="Record one onboarding event or a batch of up to 500",
)
async def post_events(request: Request, recovery: Recovery) -> Any:
    """Body (`application/json`, at most 8 MiB): one event object, or a JSON list of them. All are
    validated before any is recorded. Sending an `event_id` again is harmless: with the same content
    it is a `duplicate`, with other content a `conflict`, and neither is recorded twice."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != JSON:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"send the events as {JSON}")
    raw = await body_within(request, MAX_BODY_BYTES)
    if raw is None:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes; send smaller batches"
        )
    try:
        body = json.loads(raw, parse_int=_number)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f" (line {err.lineno}, column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        return unprocessable([FieldError(message=f"body is not valid JSON{where}")])
    except (RecursionError, ValueError):
        return unprocessable([FieldError(message="body is nested too deeply or holds a number too long to read")])
    items = body if isinstance(body, list) else [body]
    if not items:
        return unprocessable([FieldError(message="an empty batch: send at least one event")])
    if len(items) > MAX_BATCH:
        return unprocessable(
            [FieldError(message=f"a batch holds at most {MAX_BATCH} events; this one has {len(items)}")]
        )

    try:
        events = await recovery.admit(items)
    except EventsRejected as rejected:
        errors = [error for index, err in rejected.failures for error in event_errors(index, err)]
        log.info("events_rejected", received=len(items), invalid_events=len(rejected.failures), errors=len(errors))
        return unprocessable(errors)

    try:
        receipts = await recovery.record_events(events)
    except (RPCError, SQLAlchemyError) as err:
        log.warning("events_not_recorded", received=len(events), error=type(err).__name__)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Temporal or the journal did not take the batch (part of it may be recorded): "
            "retry it, events are idempotent on event_id",
        ) from None
    result = _summarise(receipts)
    log.info(
        "events_accepted",
        received=result.received,
        accepted=result.accepted,
        customers={j.customer_id: j.accepted for j in result.journeys},
    )
    return result


def _summarise(receipts: list[EventReceipt]) -> EventsAccepted:
    """Receipts in the order sent: one status per event, and a line per customer."""
    by_customer: dict[str, list[EventReceipt]] = {}
    for receipt in receipts:
        by_customer.setdefault(receipt.customer_id, []).append(receipt)
    journeys = []
    for customer_id, mine in by_customer.items():
        accepted = sum(r.accepted for r in mine)
        notes = list(dict.fromkeys(r.note for r in mine if not r.accepted))
        if not notes:
            note = next((r.note for r in mine if r.note != "recorded"), "recorded")
        elif accepted == 0:
            note = "; ".join(notes)
        else:
            note = f"{accepted} recorded, {len(mine) - accepted} not: " + "; ".join(notes)
        journeys.append(
            JourneyReceipt(customer_id=customer_id, workflow_id=mine[0].workflow_id, accepted=accepted, note=note)
        )
    return EventsAccepted(
        accepted=sum(r.accepted for r in receipts),
        received=len(receipts),
        events=[EventStatus(index=i, event_id=r.event_id, status=r.status) for i, r in enumerate(receipts)],
        journeys=journeys,
    )
