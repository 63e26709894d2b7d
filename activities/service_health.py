"""Is the service behind a customer's error healthy again? A nudge for a known outage waits until it is.

Embedded default: a small JSON status file in the data folder (`{"ocr": "down"}`), written by
`recovery service-status`. In production: an HTTP status endpoint answering `{"healthy": true}`.
"""

import json
from pathlib import Path

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows.contracts import ServiceHealth, ServiceHealthQuery

UNHEALTHY_WORDS = {"down", "maintenance", "degraded", "unhealthy"}


def read_status_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return {str(k): str(v) for k, v in json.loads(path.read_text(encoding="utf-8") or "{}").items()}


def write_service_status(path: Path, service: str, status: str) -> None:
    statuses = read_status_file(path)
    statuses[service] = status
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(statuses, indent=2, sort_keys=True), encoding="utf-8")


class ServiceHealthActivities:
    def __init__(self, status_file: Path, status_url: str | None = None) -> None:
        self._status_file = status_file
        self._status_url = status_url

    @activity.defn
    async def check_service_health(self, query: ServiceHealthQuery) -> ServiceHealth:
        if self._status_url:
            return await self._check_http(query.service)
        status = read_status_file(self._status_file).get(query.service, "up")
        return ServiceHealth(service=query.service, healthy=status.lower() not in UNHEALTHY_WORDS)

    async def _check_http(self, service: str) -> ServiceHealth:
        url = self._status_url.rstrip("/") + "/" + service  # type: ignore[union-attr]
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
                response = await client.get(url)
        except httpx.HTTPError as exc:
            raise ApplicationError(
                f"status endpoint unreachable: {type(exc).__name__}", type="StatusUnavailable"
            ) from None
        if response.status_code == 404:
            return ServiceHealth(service=service, healthy=True)
        if response.status_code >= 400:
            raise ApplicationError(f"status endpoint answered {response.status_code}", type="StatusUnavailable")
        return ServiceHealth(service=service, healthy=bool(response.json().get("healthy", True)))
