"""`/v1/customers/{customer_id}/contact`: the contact directory, write-only through the API; and
`DELETE /v1/customers/{customer_id}`: the customer erased everywhere (starters/erasure.py).

`PUT` stores a customer's phone number (E.164) and push token in the journal's contact directory,
outside Temporal; `GET` answers only which channels can reach the customer, never a value. The
delivery activities read the values at send time (activities/contacts.py).
"""

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from journal.contacts import E164, contact_of, save_contact
from journal.erasure import latest_erasure
from starters.api.auth import ERRORS, Recovery
from starters.api.errors import RequestRejected
from starters.api.journey_views import CustomerIdInPath
from starters.erasure import Erasure, ErasureTarget, erase_customer
from workflows.human_tasks import AGENT_ID_PATTERN

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1")  # prefixed here: the route keeps its full path (metrics label routes by it)

Phone = Annotated[
    str, Field(pattern=E164.pattern, description="E.164: '+', the country code and the number, e.g. +998901234567")
]
PushToken = Annotated[str, Field(min_length=1, max_length=4096, description="the app's push registration token")]


class ContactUpdate(BaseModel):
    """The values given are stored; a value sent as null is removed; a value left out stays as it was."""

    model_config = ConfigDict(extra="forbid")

    phone: Phone | None = None
    push_token: PushToken | None = None


class ContactChannels(BaseModel):
    channels: list[str] = Field(description="the channels that can reach the customer: push, sms")


def _journal(recovery: Recovery) -> Any:
    if recovery.journal is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no journal configured: the directory lives there")
    return recovery.journal


@router.put(
    "/customers/{customer_id}/contact",
    response_model=ContactChannels,
    responses={
        **ERRORS,
        422: {
            "description": "not a valid contact (phone in E.164, push token 1-4096 characters)",
            "model": RequestRejected,
        },
    },
    summary="Store how to reach a customer (write-only: the values are never read back)",
)
async def put_contact(customer_id: CustomerIdInPath, body: ContactUpdate, recovery: Recovery) -> ContactChannels:
    given = body.model_dump(exclude_unset=True)
    saved = await asyncio.to_thread(save_contact, _journal(recovery), customer_id, datetime.now(UTC), given)
    log.info("contact_saved", customer_id=customer_id, channels=saved.channels)
    return ContactChannels(channels=saved.channels)


@router.get(
    "/customers/{customer_id}/contact",
    response_model=ContactChannels,
    responses={**ERRORS, 404: {"description": "the directory has no contact for this customer"}},
    summary="Which channels can reach a customer (never the values)",
)
async def get_contact(customer_id: CustomerIdInPath, recovery: Recovery) -> ContactChannels:
    contact = await asyncio.to_thread(contact_of, _journal(recovery), customer_id)
    if contact is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no contact for customer {customer_id}")
    return ContactChannels(channels=contact.channels)


Actor = Annotated[
    str,
    Query(
        pattern=AGENT_ID_PATTERN,
        description="who asks for the erasure (kept in the erasure record): 1-64 letters, digits, '_', '.', '@', '-'",
    ),
]


@router.delete(
    "/customers/{customer_id}",
    response_model=Erasure,
    responses={
        **ERRORS,
        202: {"description": "erased; Temporal is still deleting the histories in the background", "model": Erasure},
        404: {"description": "nothing is known of this customer (never seen, or already erased: `detail` says when)"},
        422: {"description": "a malformed customer id or actor", "model": RequestRejected},
    },
    summary="Erase a customer: journeys ended and deleted from Temporal, journal rows, contact and outbox lines",
)
async def erase(
    customer_id: CustomerIdInPath, actor: Actor, request: Request, response: Response, recovery: Recovery
) -> Erasure:
    """200 when everything is gone; 202 when Temporal is still deleting the histories in the background."""
    journal = _journal(recovery)
    target = ErasureTarget.of(request.app.state.settings, journal)
    erasure = await erase_customer(recovery.temporal, target, customer_id, actor)
    if erasure is None:
        earlier = await asyncio.to_thread(latest_erasure, journal, customer_id)
        when = f": erased at {earlier.erased_at.isoformat()}" if earlier else ""
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"nothing is known of customer {customer_id}{when}")
    response.status_code = status.HTTP_200_OK if erasure.temporal_done else status.HTTP_202_ACCEPTED
    return erasure
