"""What every console page and form shares: the console's context on `app.state.console`, its
errors, the signed-in agent (pages redirect to sign-in, forms and fragments answer 401), CSRF-checked
forms, rendering with the security headers, and the journeys and journal the app handed it."""

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.datastructures import FormData

from console.accounts import Agent
from console.csrf import FIELD as CSRF_FIELD
from console.csrf import token_for, token_is_valid
from console.journeys import Journeys
from console.sessions import COOKIE_NAME, agent_of_session, console_secret, session_id_of
from console.task_feed import TaskFeed
from core.deps import journal_of, journeys_of, within
from core.settings import Settings

PREFIX = "/console"
TEMPLATES = Path(__file__).resolve().parent / "templates"
REFRESH_SECONDS = 15
FEED_TTL_SECONDS = 5.0
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
T = TypeVar("T")


@dataclass
class ConsoleContext:
    """What every console request needs, set on `app.state.console` by `mount_console`."""

    settings: Settings
    templates: Jinja2Templates = field(default_factory=lambda: Jinja2Templates(directory=str(TEMPLATES)))
    refresh_seconds: int = REFRESH_SECONDS
    feed: TaskFeed = field(default_factory=lambda: TaskFeed(ttl_seconds=FEED_TTL_SECONDS))
    _secret: str | None = None

    def __post_init__(self) -> None:
        self.templates.env.filters["when"] = lambda moment: moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        self.templates.env.filters["clock"] = lambda moment: moment.strftime("%H:%M")

    @property
    def secret(self) -> str:
        # Read on first use, so an API that never serves the console never creates the secret file.
        if self._secret is None:
            self._secret = console_secret(self.settings)
        return self._secret


class ConsoleError(Exception):
    """A request the console answers with an error page: the status and what the agent should know."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code, self.message = status_code, message


class SignInRequired(Exception):
    """No live session: pages redirect to sign-in, form posts and fragments answer 401."""

    def __init__(self, redirect: bool) -> None:
        super().__init__("sign in first")
        self.redirect = redirect


@dataclass(frozen=True)
class SignedIn:
    agent: Agent
    session_id: str
    csrf_token: str


@dataclass(frozen=True)
class SignedForm:
    """A form post from a signed-in agent whose CSRF token checked out."""

    session: SignedIn
    form: FormData

    def text(self, name: str) -> str:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else ""


def context_of(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console
    return context


def journeys_for(request: Request) -> Journeys:
    """The journey client the app handed the console (core.deps, failing with an error page)."""
    client: Journeys = journeys_of(request, ConsoleError)
    return client


def journal_for(request: Request) -> Engine:
    """The journal database (agent accounts, sessions, the audit, the report): an error page without it."""
    return journal_of(request, ConsoleError)


async def temporal(request: Request, work: Awaitable[T], what: str) -> T:
    """A journey query or update, bounded in time: an error page when Temporal does not answer."""
    return await within(request, work, what, ConsoleError)


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    response = context_of(request).templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a console page of this site, never another site."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/inbox"


async def current(request: Request) -> SignedIn | None:
    context = context_of(request)
    session_id = session_id_of(context.secret, request.cookies.get(COOKIE_NAME))
    if session_id is None:
        return None
    agent = await asyncio.to_thread(agent_of_session, journal_for(request), session_id)
    if agent is None:
        return None
    return SignedIn(agent, session_id, token_for(context.secret, session_id))


async def page_session(request: Request) -> SignedIn:
    session = await current(request)
    if session is None:
        raise SignInRequired(redirect=True)
    return session


async def fragment_session(request: Request) -> SignedIn:
    session = await current(request)
    if session is None:
        raise SignInRequired(redirect=False)
    return session


async def signed_form(request: Request) -> SignedForm:
    session = await current(request)
    if session is None:
        raise SignInRequired(redirect=False)
    form = await request.form()
    if not token_is_valid(context_of(request).secret, session.session_id, form.get(CSRF_FIELD)):
        raise ConsoleError(
            403, "This form has expired or did not come from the console. Reload the page and try again."
        )
    return SignedForm(session, form)


PageSession = Annotated[SignedIn, Depends(page_session)]
FragmentSession = Annotated[SignedIn, Depends(fragment_session)]
Form = Annotated[SignedForm, Depends(signed_form)]


def base(session: SignedIn | None, **extra: Any) -> dict[str, Any]:
    return {"session": session, "csrf_field": CSRF_FIELD, **extra}
