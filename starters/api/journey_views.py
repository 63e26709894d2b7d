"""What the API's journey routers share: the customer id in the path, and a journey's `view` query
answered over HTTP (onboarding's and early life's alike): 404 when there is no such journey, 409 when
it has no view, 504 when no worker answers in time (`within`)."""

from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import HTTPException, Path, Request, status
from temporalio.client import WorkflowQueryFailedError

from core.deps import JourneyNotFound, within
from workflows.events import CUSTOMER_ID_PATTERN

V = TypeVar("V")

CustomerIdInPath = Annotated[str, Path(pattern=CUSTOMER_ID_PATTERN, description="as sent in the customer's events")]


async def journey_view(request: Request, query: Awaitable[V], journey: str, customer_id: str, what: str) -> V:
    """`journey` names the journey in the 409's detail ("journey", "early-life journey"); `what` the call
    in the 504's."""
    try:
        return await within(request, query, what)
    except JourneyNotFound as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    except WorkflowQueryFailedError as err:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"{journey} of customer {customer_id} has no view: {err.message}"
        ) from None
