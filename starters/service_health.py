"""Reporting a service's health, for the API (`PUT /v1/services/{service}`) and the CLI (`recovery
service-status`) alike: the journal keeps it for every process, and a report of health wakes the
journeys whose nudge waits for that service at once, instead of at their next `service_recheck`.

The journeys to wake are the journal's waiters (`journal/services.py`), written by the health check
that found the service down. Each gets a `service_recovered` signal, at most SIGNALS_IN_FLIGHT at a
time, a page of WAITERS_PER_PAGE at a time; a journey that ended meanwhile is simply cleared. One that
could not be reached stays listed: the next report wakes it, and its own recheck finds the health anyway.
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from journal.services import ServiceStatus, Waiter, clear_waiters, set_service_health, waiters_of
from workflows.journey import OnboardingJourney

log = structlog.get_logger(__name__)

SIGNALS_IN_FLIGHT = 32
WAITERS_PER_PAGE = 500
SIGNAL_TIMEOUT = timedelta(seconds=5)

Woken = Literal["woken", "ended", "unreached"]


@dataclass(frozen=True)
class HealthReport:
    status: ServiceStatus
    woken: int = 0
    """journeys told the service is healthy: they look again now"""
    ended: int = 0
    """journeys listed as waiting that had ended meanwhile"""
    unreached: int = 0
    """journeys Temporal did not take the signal for: they look again at their next recheck"""


async def report_service_health(
    temporal: Client, journal: Engine, service: str, healthy: bool, now: datetime
) -> HealthReport:
    """Stores the service's health; when healthy, wakes every journey waiting for it."""
    status = await asyncio.to_thread(set_service_health, journal, service, healthy, now)
    if not healthy:
        log.info("service_reported", service=service, healthy=False)
        return HealthReport(status)
    counts: dict[Woken, int] = {"woken": 0, "ended": 0, "unreached": 0}
    slots = asyncio.Semaphore(SIGNALS_IN_FLIGHT)

    async def wake(waiter: Waiter) -> Woken:
        async with slots:
            return await _wake(temporal, service, waiter.workflow_id)

    after = ""
    while True:
        page = await asyncio.to_thread(waiters_of, journal, service, after, WAITERS_PER_PAGE)
        results = await asyncio.gather(*(wake(waiter) for waiter in page))
        for result in results:
            counts[result] += 1
        done = [waiter for waiter, result in zip(page, results, strict=True) if result != "unreached"]
        await asyncio.to_thread(clear_waiters, journal, service, done)
        if len(page) < WAITERS_PER_PAGE:
            break
        after = page[-1].workflow_id
    log.info("service_reported", service=service, healthy=True, **counts)
    return HealthReport(status, **counts)


async def _wake(temporal: Client, service: str, workflow_id: str) -> Woken:
    handle = temporal.get_workflow_handle_for(OnboardingJourney.run, workflow_id)
    try:
        await handle.signal(OnboardingJourney.service_recovered, service, rpc_timeout=SIGNAL_TIMEOUT)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return "ended"
        log.warning(
            "service_recovered_not_signalled",
            workflow_id=workflow_id,
            service=service,
            error=err.status.name if err.status else "unknown",
        )
        return "unreached"
    return "woken"
