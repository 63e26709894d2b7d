"""Service health in the journal: what every process (API, CLI, workers) reads of the services in the
onboarding flow, and which journeys wait for one of them to be healthy again.

A service with no row is healthy. Waiters are written by the health check that found their service
down, one row per (service, workflow id), and cleared once the journey was told it is healthy again:
`since` tells a row written again meanwhile (a new wait) from the one the wake-up read.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, delete, select

from journal.schema import service_health, service_waiters
from journal.store import insert_into, utc, utc_naive
from workflows.events import SERVICE_PATTERN

SERVICE_NAME = re.compile(SERVICE_PATTERN)


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    healthy: bool
    updated_at: datetime


@dataclass(frozen=True)
class Waiter:
    workflow_id: str
    since: datetime


def set_service_health(engine: Engine, service: str, healthy: bool, now: datetime) -> ServiceStatus:
    values = {"healthy": healthy, "updated_at": utc_naive(now)}
    with engine.begin() as connection:
        upsert = insert_into(engine, service_health).values(service=service, **values)
        connection.execute(upsert.on_conflict_do_update(index_elements=["service"], set_=values))
    return ServiceStatus(service, healthy, now)


def is_healthy(engine: Engine, service: str) -> bool:
    with engine.connect() as connection:
        healthy = connection.execute(
            select(service_health.c.healthy).where(service_health.c.service == service)
        ).scalar()
    return True if healthy is None else bool(healthy)


def service_statuses(engine: Engine) -> list[ServiceStatus]:
    """Every service ever reported, by name."""
    with engine.connect() as connection:
        rows = connection.execute(select(service_health).order_by(service_health.c.service)).all()
    return [ServiceStatus(row.service, bool(row.healthy), utc(row.updated_at)) for row in rows]


def add_waiter(engine: Engine, service: str, workflow_id: str, now: datetime) -> None:
    """The journey waits for `service` (again): its row says since when."""
    values = {"since": utc_naive(now)}
    with engine.begin() as connection:
        upsert = insert_into(engine, service_waiters).values(service=service, workflow_id=workflow_id, **values)
        connection.execute(upsert.on_conflict_do_update(index_elements=["service", "workflow_id"], set_=values))


def remove_waiter(engine: Engine, service: str, workflow_id: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            delete(service_waiters).where(
                service_waiters.c.service == service, service_waiters.c.workflow_id == workflow_id
            )
        )


def waiters_of(engine: Engine, service: str, after: str = "", limit: int = 500) -> list[Waiter]:
    """One page of the journeys waiting for `service`, by workflow id, after the id `after`."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(service_waiters.c.workflow_id, service_waiters.c.since)
            .where(service_waiters.c.service == service, service_waiters.c.workflow_id > after)
            .order_by(service_waiters.c.workflow_id)
            .limit(limit)
        ).all()
    return [Waiter(row.workflow_id, row.since) for row in rows]


def clear_waiters(engine: Engine, service: str, waiters: list[Waiter]) -> None:
    """Removes these rows as they were read; a row written again since (a new wait) stays."""
    if not waiters:
        return
    with engine.begin() as connection:
        for waiter in waiters:
            connection.execute(
                delete(service_waiters).where(
                    and_(
                        service_waiters.c.service == service,
                        service_waiters.c.workflow_id == waiter.workflow_id,
                        service_waiters.c.since == waiter.since,
                    )
                )
            )
