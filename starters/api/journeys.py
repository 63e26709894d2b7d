"""`GET /v1/journeys/{customer_id}`: the whole journey of one customer, from the workflow's `view` query."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from temporalio.client import WorkflowQueryFailedError

from core.deps import JourneyNotFound, within
from starters.api.auth import ERRORS, Recovery
from workflows.events import CUSTOMER_ID_PATTERN
from workflows.journey_view import JourneyView

router = APIRouter(prefix="/v1")  # prefixed here: the route keeps its full path (metrics label routes by it)


CustomerIdInPath = Annotated[str, Path(pattern=CUSTOMER_ID_PATTERN, description="as sent in the customer's events")]


@router.get(
    "/journeys/{customer_id}",
    response_model=JourneyView,
    responses={**ERRORS, 404: {"description": "no journey for this customer"}},
    summary="The whole journey of one customer",
)
async def get_journey(customer_id: CustomerIdInPath, request: Request, recovery: Recovery) -> JourneyView:
    try:
        return await within(request, recovery.journey(customer_id), "journey query")
    except JourneyNotFound as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    except WorkflowQueryFailedError as err:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"journey of customer {customer_id} has no view: {err.message}"
        ) from None
