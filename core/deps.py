"""What the HTTP API and the agents' console both take from a request: the settings, the journey client
the app was handed, the journal, and Temporal calls bounded in time. One copy, so both doors answer
alike; each passes its own way of failing (a JSON error for the API, an error page for the console).
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import HTTPException, Request, status
from sqlalchemy import Engine
from temporalio.service import RPCError, RPCStatusCode

from core.settings import Settings

TEMPORAL_TIMEOUT_S = 10.0  # a query or update with no worker to answer it would otherwise hang the request
T = TypeVar("T")
Fail = Callable[[int, str], Exception]


class JourneyNotFound(LookupError):
    """No journey for this customer: every door answers 404."""


def http_error(status_code: int, message: str) -> Exception:
    return HTTPException(status_code, message)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def journeys_of(request: Request, fail: Fail = http_error) -> Any:
    """The journey client the app factory put on `app.state.recovery`; 503 until it is connected."""
    client = request.app.state.recovery
    if client is None:
        raise fail(status.HTTP_503_SERVICE_UNAVAILABLE, "Not connected to Temporal yet: try again in a moment.")
    return client


def journal_of(request: Request, fail: Fail = http_error) -> Engine:
    """The journal database, where agent accounts, the report and the tasks listing live."""
    journal: Engine | None = journeys_of(request, fail).journal
    if journal is None:
        raise fail(status.HTTP_503_SERVICE_UNAVAILABLE, "No journal database is configured (RECOVERY_JOURNAL_URL).")
    return journal


def temporal_failure(err: RPCError) -> tuple[int, str]:
    """Temporal's refusal as an answer: 503 when retrying may help, else 502."""
    unavailable = err.status in (
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
    )
    code = status.HTTP_503_SERVICE_UNAVAILABLE if unavailable else status.HTTP_502_BAD_GATEWAY
    return code, f"Temporal answered {err.status.name if err.status else 'an error'}; try again"


async def within(request: Request, work: Awaitable[T], what: str, fail: Fail = http_error) -> T:
    """A call to a journey (query or update) that answers 504 rather than hang when no worker takes it."""
    timeout: float = getattr(request.app.state, "temporal_timeout", TEMPORAL_TIMEOUT_S)
    try:
        return await asyncio.wait_for(work, timeout=timeout)
    except TimeoutError:
        raise fail(
            status.HTTP_504_GATEWAY_TIMEOUT, f"{what}: no answer from Temporal in time (is a worker running?)"
        ) from None
    except RPCError as err:
        raise fail(*temporal_failure(err)) from None
