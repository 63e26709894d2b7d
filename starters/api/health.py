"""`GET /healthz`: liveness, and whether Temporal answers its health check."""

import asyncio
from datetime import timedelta
from typing import Literal

import structlog
from fastapi import Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from starters.client import RecoveryClient

log = structlog.get_logger(__name__)
HEALTH_TIMEOUT_S = 3.0


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    temporal: Literal["reachable", "unreachable"]


async def healthz(request: Request) -> JSONResponse:
    client: RecoveryClient | None = request.app.state.recovery
    reachable = False
    if client is not None:
        try:
            reachable = await asyncio.wait_for(
                client.temporal.service_client.check_health(timeout=timedelta(seconds=HEALTH_TIMEOUT_S)),
                timeout=HEALTH_TIMEOUT_S + 1,
            )
        except Exception as err:  # anything short of an answer means unreachable
            log.warning("temporal_health_check_failed", error=type(err).__name__)
    health = (
        Health(status="ok", temporal="reachable") if reachable else Health(status="degraded", temporal="unreachable")
    )
    return JSONResponse(
        health.model_dump(), status_code=status.HTTP_200_OK if reachable else status.HTTP_503_SERVICE_UNAVAILABLE
    )
