"""`/v1/early-life/{customer_id}`: a customer's early-life journey after activation (its `view` query)."""

from fastapi import APIRouter, Request

from starters.api.auth import ERRORS, Recovery
from starters.api.journey_views import CustomerIdInPath, journey_view
from workflows.early_life_view import EarlyLifeView

router = APIRouter(prefix="/v1")  # prefixed here: the route keeps its full path (metrics label routes by it)


@router.get(
    "/early-life/{customer_id}",
    response_model=EarlyLifeView,
    responses={**ERRORS, 404: {"description": "no early-life journey for this customer (not activated yet)"}},
    summary="A customer's early-life journey: activity, dormancy, nudges, retention calls, outcome",
)
async def get_early_life(customer_id: CustomerIdInPath, request: Request, recovery: Recovery) -> EarlyLifeView:
    return await journey_view(
        request, recovery.early_life(customer_id), "early-life journey", customer_id, "early-life query"
    )
