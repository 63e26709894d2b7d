"""Is the service behind a customer's error healthy again? A nudge for a known outage waits until it is.

Embedded default: the journal's service health (`journal/services.py`), set for every process by
`PUT /v1/services/{service}` or `recovery service-status`. In production, with
`RECOVERY_SERVICE_STATUS_URL`: an HTTP status endpoint answering `{"healthy": true}`.

Either way a journey that finds its service down is written down as waiting for it, so that when the
service is reported healthy it is signalled at once rather than at its next look (`service_recheck`).
The wait is written before the health is read: a report of health that lands between the two then
either is seen by the read, or finds the waiter.
"""

import asyncio
from datetime import UTC, datetime

import httpx
import structlog
from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from journal.services import add_waiter, is_healthy, remove_waiter
from workflows.contracts import ServiceHealth, ServiceHealthQuery

log = structlog.get_logger(__name__)


class ServiceHealthActivities:
    def __init__(self, journal: Engine, status_url: str | None = None) -> None:
        self._journal = journal
        self._status_url = status_url

    @activity.defn
    async def check_service_health(self, query: ServiceHealthQuery) -> ServiceHealth:
        workflow_id = activity.info().workflow_id
        if workflow_id:
            await asyncio.to_thread(add_waiter, self._journal, query.service, workflow_id, datetime.now(UTC))
        if self._status_url:
            healthy = await self._check_http(query.service)
        else:
            healthy = await asyncio.to_thread(is_healthy, self._journal, query.service)
        if healthy and workflow_id:
            await asyncio.to_thread(remove_waiter, self._journal, query.service, workflow_id)
        else:
            log.info("service_unhealthy", service=query.service, workflow_id=workflow_id)
        return ServiceHealth(service=query.service, healthy=healthy)

    async def _check_http(self, service: str) -> bool:
        url = self._status_url.rstrip("/") + "/" + service  # type: ignore[union-attr]
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
                response = await client.get(url)
        except httpx.HTTPError as exc:
            raise ApplicationError(
                f"status endpoint unreachable: {type(exc).__name__}", type="StatusUnavailable"
            ) from None
        if response.status_code == 404:
            return True
        if response.status_code >= 400:
            raise ApplicationError(f"status endpoint answered {response.status_code}", type="StatusUnavailable")
        return bool(response.json().get("healthy", True))
