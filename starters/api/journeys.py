"""`/v1/journeys`: the whole journey of one customer (the workflow's `view` query), finding journeys
(from the journal), and closing one (the journey's `close_journey` Update)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from core.deps import JourneyNotFound, within
from journal.listing import DEFAULT_LIMIT, MAX_LIMIT, BadCursor, JourneyPage, decode_cursor
from starters.api.auth import ERRORS, Recovery
from starters.api.errors import Problem, RequestRejected
from starters.api.journey_views import CustomerIdInPath, journey_view
from starters.operator_controls import JournalMissing
from workflows.events import CUSTOMER_ID_PATTERN
from workflows.funnel import Stage
from workflows.journey import workflow_id_for
from workflows.journey_controls import OPERATOR_PATTERN, CloseJourney, CloseRefused
from workflows.journey_state import JourneyOutcome, JourneyStatus
from workflows.journey_view import JourneyView

router = APIRouter(prefix="/v1")  # prefixed here: the route keeps its full path (metrics label routes by it)


@router.get(
    "/journeys/{customer_id}",
    response_model=JourneyView,
    responses={**ERRORS, 404: {"description": "no journey for this customer"}},
    summary="The whole journey of one customer",
)
async def get_journey(customer_id: CustomerIdInPath, request: Request, recovery: Recovery) -> JourneyView:
    return await journey_view(request, recovery.journey(customer_id), "journey", customer_id, "journey query")


# -- operators' controls: finding journeys, closing one ---------------------------------------------

_LIST_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    422: {"description": "a bad filter or cursor: `field` names the parameter", "model": RequestRejected},
}


@router.get(
    "/journeys",
    response_model=JourneyPage,
    responses=_LIST_ERRORS,
    summary="Find journeys: newest first, paged, from the journal",
)
async def find_journeys(
    recovery: Recovery,
    status_: Annotated[JourneyStatus | None, Query(alias="status", description="the journey's status")] = None,
    stage: Annotated[Stage | None, Query(description="the stage the customer is at")] = None,
    since: Annotated[
        datetime | None, Query(description="journeys started at or after this time (ISO 8601; UTC when no zone)")
    ] = None,
    customer_id: Annotated[
        str | None, Query(pattern=CUSTOMER_ID_PATTERN, description="one customer's journeys")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="journeys per page")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=600,
            description="`next` of the previous page, as it was given (any other value is refused: 422)",
        ),
    ] = None,
) -> JourneyPage:
    """Journeys from the journal (one read, no query to any journey), newest started first. Each page's
    `next` is the cursor of the following one, null on the last: paging through gives every journey once.
    The journal lags a journey by a moment (it is written at milestones)."""
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except BadCursor as err:
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("query", "cursor"), "msg": str(err)}]
            ) from None
    try:
        return await recovery.list_journeys(
            status=status_.value if status_ else None,
            stage=stage.value if stage else None,
            since=since,
            customer_id=customer_id,
            limit=limit,
            cursor=cursor,
        )
    except JournalMissing as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(err)) from None


class CloseRequest(CloseJourney):
    model_config = ConfigDict(extra="forbid")

    by: Annotated[
        str,
        Field(
            pattern=OPERATOR_PATTERN,
            description="who closes it (an operator id: 1-64 letters, digits, '_', '.', '@', ':', '-')",
        ),
    ] = "api"


class ClosedJourney(BaseModel):
    customer_id: str
    workflow_id: str
    outcome: JourneyOutcome


@router.post(
    "/journeys/{customer_id}/close",
    response_model=ClosedJourney,
    responses={
        **ERRORS,
        404: {"description": "no journey for this customer", "model": Problem},
        409: {"description": "the journey has ended already (or has received no event yet)", "model": Problem},
        422: {"description": "a bad body (no reason, a malformed `by`, an unknown field)", "model": RequestRejected},
        504: {"description": "no answer from Temporal in time (is a worker running?)"},
    },
    summary="Close a journey now, with a reason",
)
async def close_journey(
    customer_id: CustomerIdInPath, body: CloseRequest, request: Request, recovery: Recovery
) -> ClosedJourney:
    """Ends the customer's journey at once with status and outcome `closed`: recorded in the journey (an
    `ended` decision with who and why), its journal row and the report; its view stays readable. An
    event that occurred after the close starts a new journey, as after any end but completion."""
    try:
        outcome = await within(request, recovery.close_journey(customer_id, body.reason, body.by), "close")
    except JourneyNotFound as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    except CloseRefused as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    return ClosedJourney(customer_id=customer_id, workflow_id=workflow_id_for(customer_id), outcome=outcome)
