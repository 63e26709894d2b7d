"""`/v1/services`: the health of the services in the onboarding flow (OCR, biometrics, ...), as ops report it.

`PUT /v1/services/{service}` with `{"healthy": false}` holds the nudges of customers whose error
came from that service (deferred as `service_unhealthy`); `{"healthy": true}` releases them at once:
the journeys waiting for it are signalled and send within seconds (starters/service_health.py).
"""

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from core.deps import journal_of
from journal.services import ServiceStatus, service_statuses
from starters.api.auth import ERRORS, Recovery
from starters.api.errors import RequestRejected
from starters.service_health import report_service_health
from workflows.events import SERVICE_PATTERN

router = APIRouter(prefix="/v1")  # prefixed here: the route keeps its full path (metrics label routes by it)

ServiceInPath = Annotated[
    str,
    Path(pattern=SERVICE_PATTERN, description="as named in onboarding.error events: letters, digits, '_', '.', '-'"),
]


class HealthUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    healthy: StrictBool = Field(description="false: nudges for its outage wait; true: they go out now")


class ServiceHealthOut(BaseModel):
    service: str
    healthy: bool
    updated_at: datetime


class HealthReported(ServiceHealthOut):
    journeys_woken: int = Field(description="journeys waiting for the service, told it is healthy: they look now")
    journeys_unreached: int = Field(description="waiting journeys Temporal did not take the signal for (retry)")


class ServiceList(BaseModel):
    services: list[ServiceHealthOut] = Field(description="every service ever reported; one not listed is healthy")


def _out(status: ServiceStatus) -> ServiceHealthOut:
    return ServiceHealthOut(service=status.service, healthy=status.healthy, updated_at=status.updated_at)


@router.put(
    "/services/{service}",
    response_model=HealthReported,
    responses={
        **ERRORS,
        422: {"description": 'not a service name, or not {"healthy": true|false}', "model": RequestRejected},
    },
    summary="Report a service healthy or not; healthy wakes the journeys whose nudge waits for it",
)
async def put_service(
    service: ServiceInPath, body: HealthUpdate, request: Request, recovery: Recovery
) -> HealthReported:
    journal = journal_of(request)
    report = await report_service_health(recovery.temporal, journal, service, body.healthy, datetime.now(UTC))
    return HealthReported(
        **_out(report.status).model_dump(), journeys_woken=report.woken, journeys_unreached=report.unreached
    )


@router.get(
    "/services",
    response_model=ServiceList,
    responses={**ERRORS, 422: {"description": "healthy is not true or false", "model": RequestRejected}},
    summary="The services reported so far; ?healthy=false: the ones down now",
)
async def list_services(
    request: Request,
    healthy: Annotated[
        bool | None, Query(description="only the services reported healthy (true) or not (false)")
    ] = None,
) -> ServiceList:
    statuses = await asyncio.to_thread(service_statuses, journal_of(request))
    return ServiceList(services=[_out(s) for s in statuses if healthy is None or s.healthy is healthy])
