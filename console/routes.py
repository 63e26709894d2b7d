"""The console's pages and forms, under `/console`.

Pages need a signed-in agent (else a redirect to sign-in); form posts need one too (else 401) and a
valid CSRF token (else 403). Task actions go to the journey as Temporal Updates; the journey's
validators have the last word, and their refusals are shown to the agent as they are.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.datastructures import FormData
from temporalio.service import RPCError

from console.accounts import Agent, authenticate, get_agent, list_agents
from console.audit import actions_for_task, record_action
from console.csrf import FIELD as CSRF_FIELD
from console.csrf import PRESESSION_COOKIE, new_presession, token_for, token_is_valid
from console.glance import find_task, funnel_steps, suggested_script, task_audit, task_heading, temporal_ui_link, timeline
from console.inbox import (
    Tab, customer_local_time, due_label, inbox_rows, is_overdue, kind_label, reason_detail, reason_label, sla_label, stage_label, tab_counts,
)
from console.permissions import TaskAction, allowed_actions, forbidden
from console.sessions import COOKIE_NAME, SESSION_LIFETIME, agent_of_session, console_secret, end_session, session_id_of, start_session
from console.task_feed import TaskFeed
from console.throttle import Key, Scope, SignInThrottle, client_address
from starters.client import JourneyNotFound, RecoveryClient
from core.settings import Settings
from workflows.human_tasks import HumanTask, TaskOutcome, TaskRefused, TaskState, customer_of_task
from workflows.journey import workflow_id_for
from workflows.journey_view import JourneyView

PREFIX = "/console"
TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPORAL_TIMEOUT_S = 10.0
REFRESH_SECONDS = 15
FEED_TTL_SECONDS = 5.0
MAX_NOTE = 2000
MAX_ACCOUNT = 64  # the longest username; what is logged of a longer one
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
OUTCOMES: dict[TaskOutcome, tuple[str, str]] = {
    TaskOutcome.VERIFIED_ON_CALL: ("Verified on call", "the customer moves past this step"),
    TaskOutcome.CUSTOMER_WILL_RETRY: ("Customer will retry", "this step's playbook restarts with a fresh recovery window"),
    TaskOutcome.ACTIVATED_IN_STORE: ("Activated in store", "the journey ends as completed with help"),
    TaskOutcome.UNREACHABLE: ("Unreachable", "the customer gets the SMS offer to activate in a store"),
}
NOTICES = {
    "claim": "You claimed this task.",
    "release": "The task is back in the open inbox.",
    "reassign": "The task was reassigned.",
    "complete": "Task completed: the journey has acted on the outcome.",
}
T = TypeVar("T")
log = structlog.get_logger("console")

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@dataclass
class ConsoleContext:
    """What every console request needs, set on `app.state.console` by `mount_console`."""

    settings: Settings
    templates: Jinja2Templates = field(default_factory=lambda: Jinja2Templates(directory=str(TEMPLATES)))
    refresh_seconds: int = REFRESH_SECONDS
    feed: TaskFeed = field(default_factory=lambda: TaskFeed(ttl_seconds=FEED_TTL_SECONDS))
    _secret: str | None = None

    def __post_init__(self) -> None:
        self.templates.env.filters["when"] = lambda moment: moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
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


# -- plumbing -------------------------------------------------------------------------------------


def _context(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console
    return context


def _recovery(request: Request) -> RecoveryClient:
    recovery: RecoveryClient | None = request.app.state.recovery
    if recovery is None:
        raise ConsoleError(503, "Not connected to Temporal yet: try again in a moment.")
    return recovery


def _journal(request: Request) -> Engine:
    journal = _recovery(request).journal
    if journal is None:
        raise ConsoleError(503, "No journal database is configured: agent accounts live there.")
    return journal


async def _temporal(work: Awaitable[T], what: str) -> T:
    try:
        return await asyncio.wait_for(work, timeout=TEMPORAL_TIMEOUT_S)
    except TimeoutError:
        raise ConsoleError(504, f"{what}: Temporal did not answer in time. Is a worker running?") from None
    except RPCError as err:
        raise ConsoleError(503, f"{what}: Temporal answered {err.status.name if err.status else 'an error'}. Try again.") from None


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    response = _context(request).templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(target: str | None) -> str:
    """Where to go after sign-in: a console page of this site, never another site."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/inbox"


async def _current(request: Request) -> SignedIn | None:
    context = _context(request)
    session_id = session_id_of(context.secret, request.cookies.get(COOKIE_NAME))
    if session_id is None:
        return None
    agent = await asyncio.to_thread(agent_of_session, _journal(request), session_id)
    if agent is None:
        return None
    return SignedIn(agent, session_id, token_for(context.secret, session_id))


async def page_session(request: Request) -> SignedIn:
    session = await _current(request)
    if session is None:
        raise SignInRequired(redirect=True)
    return session


async def fragment_session(request: Request) -> SignedIn:
    session = await _current(request)
    if session is None:
        raise SignInRequired(redirect=False)
    return session


async def signed_form(request: Request) -> SignedForm:
    session = await _current(request)
    if session is None:
        raise SignInRequired(redirect=False)
    form = await request.form()
    if not token_is_valid(_context(request).secret, session.session_id, form.get(CSRF_FIELD)):
        raise ConsoleError(403, "This form has expired or did not come from the console. Reload the page and try again.")
    return SignedForm(session, form)


PageSession = Annotated[SignedIn, Depends(page_session)]
FragmentSession = Annotated[SignedIn, Depends(fragment_session)]
Form = Annotated[SignedForm, Depends(signed_form)]


def _base(session: SignedIn | None, **extra: Any) -> dict[str, Any]:
    return {"session": session, "csrf_field": CSRF_FIELD, **extra}


# -- sign-in --------------------------------------------------------------------------------------


def sign_in_throttle(request: Request) -> SignInThrottle:
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    return throttle


def _sign_in_page(
    request: Request, error: str | None, status_code: int, next_url: str, notice: str | None = None, headers: dict[str, str] | None = None
) -> HTMLResponse:
    nonce = request.cookies.get(PRESESSION_COOKIE) or new_presession()
    response = render(
        request, "sign_in.html",
        _base(None, error=error, notice=notice, next_url=next_url, sign_in_token=token_for(_context(request).secret, f"pre:{nonce}")),
        status_code,
    )
    response.headers.update(headers or {})
    response.set_cookie(PRESESSION_COOKIE, nonce, httponly=True, samesite="lax", path=PREFIX, secure=request.url.scheme == "https")
    return response


@router.get("/sign-in")
async def sign_in_form(
    request: Request, next_url: Annotated[str | None, Query(alias="next")] = None, signed_out: bool = False
) -> Response:
    if await _current(request) is not None:
        return _redirect(_safe_next(next_url))
    return _sign_in_page(request, None, 200, _safe_next(next_url), notice="You are signed out." if signed_out else None)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    raw_next = form.get("next")
    next_url = _safe_next(raw_next if isinstance(raw_next, str) else None)
    nonce = request.cookies.get(PRESESSION_COOKIE)
    secret = _context(request).secret
    if not token_is_valid(secret, f"pre:{nonce}" if nonce else None, form.get(CSRF_FIELD)):
        raise ConsoleError(403, "This sign-in form has expired or did not come from the console. Reload the page and try again.")
    username, password = form.get("username"), form.get("password")
    account = username.strip()[:MAX_ACCOUNT] if isinstance(username, str) else ""
    journal = _journal(request)
    throttle = sign_in_throttle(request)
    address = client_address(request.client.host if request.client else None)
    keys = [Key(Scope.ACCOUNT, account), Key(Scope.ADDRESS, address)]
    wait = await asyncio.to_thread(throttle.waiting, journal, keys)
    if wait is not None:
        # Not checked while waiting, so the right password tells a guesser nothing; it counts as a try
        # for every key not locked (a lockout is not extended by it).
        wait = await asyncio.to_thread(throttle.fail, journal, keys) or wait
        log.warning(
            "console_sign_in_throttled", account=account, client=address, locked=wait.locked, by=wait.scope.value, retry_after_s=wait.seconds
        )
        return _sign_in_page(request, wait.plain_words(), 429, next_url, headers={"Retry-After": str(wait.seconds)})
    agent = None
    if account and isinstance(password, str) and password:
        agent = await asyncio.to_thread(authenticate, journal, account, password)
    if agent is None:
        wait = await asyncio.to_thread(throttle.fail, journal, keys)
        log.warning("console_sign_in_refused", account=account, client=address, retry_after_s=wait.seconds if wait else None)
        error = "Wrong username or password." + (f" {wait.plain_words()}" if wait else "")
        return _sign_in_page(request, error, 401, next_url)
    await asyncio.to_thread(throttle.succeed, journal, keys[0])
    session_id, cookie = await asyncio.to_thread(start_session, journal, secret, agent)
    await asyncio.to_thread(record_action, journal, agent.username, "signed_in")
    response = _redirect(next_url)
    response.set_cookie(
        # Path "/": the codec server (/codec, starters/codec_server.py) lets a signed-in agent read decoded histories.
        COOKIE_NAME, cookie, max_age=int(SESSION_LIFETIME.total_seconds()), httponly=True, samesite="lax", path="/",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(PRESESSION_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, signed: Form) -> Response:
    journal = _journal(request)
    await asyncio.to_thread(end_session, journal, signed.session.session_id)
    await asyncio.to_thread(record_action, journal, signed.session.agent.username, "signed_out")
    response = _redirect(f"{PREFIX}/sign-in?signed_out=1")
    response.delete_cookie(COOKIE_NAME, path="/")
    response.delete_cookie(COOKIE_NAME, path=PREFIX)  # a cookie set before the path was "/"
    return response


# -- inbox ----------------------------------------------------------------------------------------


@router.get("")
@router.get("/")
async def home() -> Response:
    return _redirect(f"{PREFIX}/inbox")


async def _inbox_context(request: Request, session: SignedIn, tab: Tab) -> dict[str, Any]:
    recovery = _recovery(request)
    summaries = await _temporal(_context(request).feed.live_tasks(recovery), "Reading the inbox")
    now = datetime.now(timezone.utc)
    me = session.agent.username
    return _base(
        session, tab=tab, tabs=[(t, count) for t, count in tab_counts(summaries, me).items()],
        rows=inbox_rows(summaries, tab, me, recovery.playbook, now), refreshed_at=now, refresh_seconds=_context(request).refresh_seconds,
    )


@router.get("/inbox")
async def inbox(request: Request, session: PageSession, tab: str | None = None) -> Response:
    return render(request, "inbox.html", await _inbox_context(request, session, Tab.parse(tab)))


@router.get("/inbox/rows")
async def inbox_rows_fragment(request: Request, session: FragmentSession, tab: str | None = None) -> Response:
    """The inbox body alone, refetched every few seconds so the page never reloads under the agent."""
    return render(request, "_inbox_body.html", await _inbox_context(request, session, Tab.parse(tab)))


# -- journeys and tasks ---------------------------------------------------------------------------


async def _journey(request: Request, customer_id: str) -> JourneyView:
    try:
        return await _temporal(_recovery(request).journey(customer_id), "Reading the journey")
    except JourneyNotFound:
        raise ConsoleError(404, f"No journey for customer {customer_id}.") from None


def _glance(request: Request, view: JourneyView) -> dict[str, Any]:
    settings = _context(request).settings
    now = datetime.now(timezone.utc)
    return {
        "view": view, "stage": stage_label(view.stage.value), "steps": funnel_steps(view), "timeline": timeline(view),
        "local": customer_local_time(view.timezone, now, _recovery(request).playbook),
        "ui_link": temporal_ui_link(settings.temporal_ui_url, settings.namespace, view.workflow_id),
    }


@router.get("/journeys/{customer_id}")
async def journey_page(request: Request, session: PageSession, customer_id: str) -> Response:
    view = await _journey(request, customer_id)
    return render(request, "journey.html", _base(session, **_glance(request, view)))


def _customer_of(task_id: str) -> str:
    try:
        return customer_of_task(task_id)
    except TaskRefused as err:
        raise ConsoleError(404, str(err)) from None


async def _task_of(request: Request, task_id: str) -> tuple[JourneyView, HumanTask]:
    view = await _journey(request, _customer_of(task_id))
    task = find_task(view, task_id)
    if task is None:
        raise ConsoleError(404, f"No task {task_id} in this customer's journey.")
    return view, task


async def _task_page(
    request: Request, session: SignedIn, task_id: str, status_code: int = 200, error: str | None = None, notice: str | None = None
) -> HTMLResponse:
    view, task = await _task_of(request, task_id)
    recovery = _recovery(request)
    journal = _journal(request)
    actions = await asyncio.to_thread(actions_for_task, journal, task_id)
    offered = allowed_actions(session.agent, task)
    others = []
    if TaskAction.REASSIGN in offered:
        others = [a.username for a in await asyncio.to_thread(list_agents, journal) if a.username != task.claimed_by]
    now = datetime.now(timezone.utc)
    return render(
        request, "task.html",
        _base(
            session, **_glance(request, view), task=task, heading=task_heading(task), kind=kind_label(task.kind),
            reason=reason_label(task), reason_detail=reason_detail(task), sla=sla_label(task), due=due_label(task, now),
            overdue=is_overdue(task, now), script=suggested_script(recovery.playbook, task, view.locale),
            audit=task_audit(view, task_id, actions), offered={a.value for a in offered}, agents=others,
            outcomes=OUTCOMES, error=error, notice=notice, max_note=MAX_NOTE,
        ),
        status_code,
    )


@router.get("/tasks/{task_id}")
async def task_page(request: Request, session: PageSession, task_id: str, done: str | None = None) -> Response:
    return await _task_page(request, session, task_id, notice=NOTICES.get(done or ""))


async def _act(
    request: Request, signed: SignedForm, task_id: str, action: TaskAction, work: Callable[[HumanTask], Awaitable[str]]
) -> Response:
    """Checks the agent may, runs the action on the journey, records it, and shows the result.

    `work` returns the audit detail. A refusal (by the console or the journey) is recorded too, and
    answered with the task page and the reason: 403 for who is asking, 409 for the task's state.
    """
    me = signed.session.agent.username
    journal = _journal(request)
    customer_id = _customer_of(task_id)
    _, task = await _task_of(request, task_id)
    audit = {"task_id": task_id, "customer_id": customer_id, "workflow_id": workflow_id_for(customer_id)}
    reason = forbidden(action, signed.session.agent, task)
    status_code = 403
    if reason is None:
        try:
            detail = await work(task)
        except TaskRefused as err:
            reason, status_code = str(err), 409
        else:
            _context(request).feed.invalidate()
            await asyncio.to_thread(record_action, journal, me, action.value, detail=detail, **audit)
            return _redirect(f"{PREFIX}/tasks/{quote(task_id, safe=':')}?done={action.value}")
    await asyncio.to_thread(record_action, journal, me, f"{action.value}_refused", detail=reason, **audit)
    return await _task_page(request, signed.session, task_id, status_code=status_code, error=reason)


@router.post("/tasks/{task_id}/claim")
async def claim(request: Request, signed: Form, task_id: str) -> Response:
    recovery, me, feed = _recovery(request), signed.session.agent.username, _context(request).feed

    async def work(_: HumanTask) -> str:
        feed.record(await _temporal(recovery.claim_task(task_id, me), "Claiming the task"))
        return ""

    return await _act(request, signed, task_id, TaskAction.CLAIM, work)


@router.post("/tasks/{task_id}/release")
async def release(request: Request, signed: Form, task_id: str) -> Response:
    recovery, me, feed = _recovery(request), signed.session.agent.username, _context(request).feed

    async def work(task: HumanTask) -> str:
        # A supervisor releases on behalf of the claimer: the journey only lets the claimer release.
        claimer = task.claimed_by if task.state is TaskState.CLAIMED and task.claimed_by else me
        feed.record(await _temporal(recovery.release_task(task_id, claimer), "Releasing the task"))
        return "" if claimer == me else f"from {claimer}"

    return await _act(request, signed, task_id, TaskAction.RELEASE, work)


@router.post("/tasks/{task_id}/reassign")
async def reassign(request: Request, signed: Form, task_id: str) -> Response:
    recovery, target, feed = _recovery(request), signed.text("agent"), _context(request).feed
    if not target or await asyncio.to_thread(get_agent, _journal(request), target) is None:
        raise ConsoleError(422, "Choose an existing agent to reassign the task to.")

    async def work(task: HumanTask) -> str:
        claimer = task.claimed_by if task.state is TaskState.CLAIMED else None
        if claimer == target:
            return f"already with {target}"
        if claimer:
            feed.record(await _temporal(recovery.release_task(task_id, claimer), "Releasing the task"))
        try:
            feed.record(await _temporal(recovery.claim_task(task_id, target), "Claiming the task"))
        except TaskRefused as err:
            if claimer:
                raise TaskRefused(f"Released from {claimer}, but it could not be claimed for {target}: {err}") from None
            raise
        return f"from {claimer} to {target}" if claimer else f"to {target}"

    return await _act(request, signed, task_id, TaskAction.REASSIGN, work)


@router.post("/tasks/{task_id}/complete")
async def complete(request: Request, signed: Form, task_id: str) -> Response:
    recovery, me, feed = _recovery(request), signed.session.agent.username, _context(request).feed
    try:
        outcome = TaskOutcome(signed.text("outcome"))
    except ValueError:
        raise ConsoleError(422, "Choose an outcome from the list.") from None
    note = signed.text("note")
    if len(note) > MAX_NOTE:
        raise ConsoleError(422, f"The note is too long: at most {MAX_NOTE} characters.")

    async def work(_: HumanTask) -> str:
        feed.record(await _temporal(recovery.complete_task(task_id, me, outcome, note), "Completing the task"))
        return outcome.value

    return await _act(request, signed, task_id, TaskAction.COMPLETE, work)
