"""The `/v1` routes' shared dependencies: the bearer token (throttled per client address like console
sign-ins), the journey client the app was handed, and the error answers every route documents."""

import asyncio
import secrets
from typing import Annotated, Any

import structlog
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError

from console.throttle import Key, Scope, SignInThrottle, client_address
from core.deps import journeys_of
from starters.api.errors import Problem
from starters.client import RecoveryClient

log = structlog.get_logger(__name__)

_bearer = HTTPBearer(auto_error=False, description="the value of RECOVERY_API_TOKEN")


async def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """The bearer token, with wrong ones throttled per client address like console sign-ins (429 and
    Retry-After once an address has sent too many); while an address waits, no token it sends is checked."""
    expected: str | None = request.app.state.settings.api_token
    if not expected:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "RECOVERY_API_TOKEN is not set")
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token: send 'Authorization: Bearer <RECOVERY_API_TOKEN>'",
            challenge,
        )
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    recovery: RecoveryClient | None = request.app.state.recovery
    engine = throttle.engine(recovery.journal if recovery is not None else None)
    address = client_address(request.client.host if request.client else None)
    keys = [Key(Scope.TOKEN, address)]
    try:
        wait = await asyncio.to_thread(throttle.waiting, engine, keys)
        if wait is not None and not wait.locked:
            wait = await asyncio.to_thread(throttle.fail, engine, keys) or wait
    except SQLAlchemyError as err:  # the journal is out of reach: the token check alone still holds
        log.warning("api_token_throttle_unavailable", error=type(err).__name__)
        wait = None
    if wait is not None:
        log.warning("api_token_throttled", client=address, locked=wait.locked, retry_after_s=wait.seconds)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many wrong bearer tokens from this address: retry in {wait.seconds} s",
            {"Retry-After": str(wait.seconds)},
        )
    if not secrets.compare_digest(credentials.credentials.encode(), expected.encode()):
        try:
            await asyncio.to_thread(throttle.fail, engine, keys)
        except SQLAlchemyError as err:
            log.warning("api_token_throttle_unavailable", error=type(err).__name__)
        log.warning("api_token_refused", client=address)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid bearer token", challenge)


def recovery_client(request: Request) -> RecoveryClient:
    client: RecoveryClient = journeys_of(request)
    return client


Recovery = Annotated[RecoveryClient, Depends(recovery_client)]

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong bearer token"},
    429: {
        "description": "too many wrong bearer tokens from this address: wait the Retry-After seconds",
        "model": Problem,
    },
    503: {"description": "RECOVERY_API_TOKEN is not set, or Temporal is unavailable"},
}
