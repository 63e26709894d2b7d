"""`/v1/early-life/{customer_id}`: a customer's early-life journey after activation (its `view` query)."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from temporalio.client import WorkflowQueryFailedError

from core.deps import JourneyNotFound, within
from starters.api.auth import ERRORS, Recovery
from workflows.early_life_view import EarlyLifeView
from workflows.events import CUSTOMER_ID_PATTERN

router = APIRouter(prefix="/v1")  # prefixed here: the route keeps its full path (metrics label routes by it)

CustomerIdInPath = Annotated[str, Path(pattern=CUSTOMER_ID_PATTERN, description="as sent in the customer's events")]


@router.get(
    "/early-life/{customer_id}",
    response_model=EarlyLifeView,
    responses={**ERRORS, 404: {"description": "no early-life journey for this customer (not activated yet)"}},
    summary="A customer's early-life journey: activity, dormancy, nudges, retention calls, outcome",
)
async def get_early_life(customer_id: CustomerIdInPath, request: Request, recovery: Recovery) -> EarlyLifeView:
    try:
        return await within(request, recovery.early_life(customer_id), "early-life query")
    except JourneyNotFound as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    except WorkflowQueryFailedError as err:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"early-life journey of customer {customer_id} has no view: {err.message}"
        ) from None
