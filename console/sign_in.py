"""Signing in and out of the console: sign-in is throttled per account and per client address, and
counted in the audit log like every agent action."""

import asyncio
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from console.accounts import authenticate
from console.audit import record_action
from console.context import (
    PREFIX,
    ConsoleError,
    Form,
    base,
    context_of,
    current,
    journal_for,
    redirect,
    render,
    safe_next,
)
from console.csrf import FIELD as CSRF_FIELD
from console.csrf import PRESESSION_COOKIE, new_presession, token_for, token_is_valid
from console.sessions import COOKIE_NAME, SESSION_LIFETIME, end_session, start_session
from console.throttle import Key, Scope, SignInThrottle, client_address

MAX_ACCOUNT = 64  # the longest username; what is logged of a longer one
log = structlog.get_logger("console")

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def sign_in_throttle(request: Request) -> SignInThrottle:
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    return throttle


def _sign_in_page(
    request: Request,
    error: str | None,
    status_code: int,
    next_url: str,
    notice: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    nonce = request.cookies.get(PRESESSION_COOKIE) or new_presession()
    response = render(
        request,
        "sign_in.html",
        base(
            None,
            error=error,
            notice=notice,
            next_url=next_url,
            sign_in_token=token_for(context_of(request).secret, f"pre:{nonce}"),
        ),
        status_code,
    )
    response.headers.update(headers or {})
    response.set_cookie(
        PRESESSION_COOKIE, nonce, httponly=True, samesite="lax", path=PREFIX, secure=request.url.scheme == "https"
    )
    return response


@router.get("/sign-in")
async def sign_in_form(
    request: Request, next_url: Annotated[str | None, Query(alias="next")] = None, signed_out: bool = False
) -> Response:
    if await current(request) is not None:
        return redirect(safe_next(next_url))
    return _sign_in_page(request, None, 200, safe_next(next_url), notice="You are signed out." if signed_out else None)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    raw_next = form.get("next")
    next_url = safe_next(raw_next if isinstance(raw_next, str) else None)
    nonce = request.cookies.get(PRESESSION_COOKIE)
    secret = context_of(request).secret
    if not token_is_valid(secret, f"pre:{nonce}" if nonce else None, form.get(CSRF_FIELD)):
        raise ConsoleError(
            403, "This sign-in form has expired or did not come from the console. Reload the page and try again."
        )
    username, password = form.get("username"), form.get("password")
    account = username.strip()[:MAX_ACCOUNT] if isinstance(username, str) else ""
    journal = journal_for(request)
    throttle = sign_in_throttle(request)
    address = client_address(request.client.host if request.client else None)
    keys = [Key(Scope.ACCOUNT, account), Key(Scope.ADDRESS, address)]
    wait = await asyncio.to_thread(throttle.waiting, journal, keys)
    if wait is not None:
        # Not checked while waiting, so the right password tells a guesser nothing; it counts as a try
        # for every key not locked (a lockout is not extended by it).
        wait = await asyncio.to_thread(throttle.fail, journal, keys) or wait
        log.warning(
            "console_sign_in_throttled",
            account=account,
            client=address,
            locked=wait.locked,
            by=wait.scope.value,
            retry_after_s=wait.seconds,
        )
        return _sign_in_page(request, wait.plain_words(), 429, next_url, headers={"Retry-After": str(wait.seconds)})
    agent = None
    if account and isinstance(password, str) and password:
        agent = await asyncio.to_thread(authenticate, journal, account, password)
    if agent is None:
        wait = await asyncio.to_thread(throttle.fail, journal, keys)
        log.warning(
            "console_sign_in_refused", account=account, client=address, retry_after_s=wait.seconds if wait else None
        )
        error = "Wrong username or password." + (f" {wait.plain_words()}" if wait else "")
        return _sign_in_page(request, error, 401, next_url)
    await asyncio.to_thread(throttle.succeed, journal, keys[0])
    _session_id, cookie = await asyncio.to_thread(start_session, journal, secret, agent)
    await asyncio.to_thread(record_action, journal, agent.username, "signed_in")
    response = redirect(next_url)
    response.set_cookie(
        # Path "/": the codec server (/codec, starters/api/codec.py) lets a signed-in agent read decoded histories.
        COOKIE_NAME,
        cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        path="/",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(PRESESSION_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, signed: Form) -> Response:
    journal = journal_for(request)
    await asyncio.to_thread(end_session, journal, signed.session.session_id)
    await asyncio.to_thread(record_action, journal, signed.session.agent.username, "signed_out")
    response = redirect(f"{PREFIX}/sign-in?signed_out=1")
    response.delete_cookie(COOKIE_NAME, path="/")
    response.delete_cookie(COOKIE_NAME, path=PREFIX)  # a cookie set before the path was "/"
    return response
