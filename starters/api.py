"""The HTTP API: the app backend reports events, agents work human tasks, ops read journeys.

Every `/v1` route needs `Authorization: Bearer <RECOVERY_API_TOKEN>`; `/healthz`, `/metrics`, `/docs`
and `/openapi.json` are open; `/codec` (starters/codec_server.py) takes the token or a console session. Events are validated as a whole before any is recorded, and error
messages name the batch index and the field, never the value sent (it may be personal data). The body
is read in chunks and refused (413) as soon as it passes the limit, so a huge body is never buffered.
"""

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import available_timezones

import structlog
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from console.mount import mount_console
from console.sessions import COOKIE_NAME, agent_of_session, session_id_of
from console.throttle import Key, Scope, SignInThrottle, client_address
from starters.api_metrics import install_metrics
from starters.client import EventReceipt, EventsRejected, JourneyNotFound, ReceiptStatus, RecoveryClient, TaskSummary
from starters.codec_server import allowed_origins, codec_router
from journal.report import RecoveryReport, report_from_journal
from journal.chart import chart_png
from core.settings import Settings
from workflows.events import ATTRIBUTES_OF, ATTRIBUTE_MAX_LENGTH, CUSTOMER_ID_PATTERN, SERVICE_PATTERN, IncomingEvent
from workflows.funnel import EventType, OptOutScope
from workflows.human_tasks import AGENT_ID_PATTERN, HumanTask, TaskOutcome, TaskRefused
from workflows.journey_view import JourneyView

log = structlog.get_logger(__name__)

MAX_BATCH = 500
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_NUMBER_DIGITS = 40  # no field takes a longer number; Python refuses to parse past 4,300 digits anyway
TEMPORAL_TIMEOUT_S = 10.0  # a query or update with no worker to answer it would otherwise hang the request
HEALTH_TIMEOUT_S = 3.0

try:
    _VERSION = version("onboarding-recovery")
except PackageNotFoundError:  # running from a checkout without installing
    _VERSION = "0.0.0"

T = TypeVar("T")


# -- request and response bodies ------------------------------------------------------------------


AgentId = Annotated[str, Field(pattern=AGENT_ID_PATTERN, description="1-64 characters: letters, digits, '_', '.', '@', '-'")]


class AgentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: AgentId | None = Field(
        None, description="the agent acting: required with the bearer token alone; with a console session, that agent (or omit it)"
    )


class CompleteRequest(AgentRequest):
    outcome: TaskOutcome
    note: Annotated[str, Field(max_length=2000)] = ""


class JourneyReceipt(BaseModel):
    customer_id: str
    workflow_id: str
    accepted: int = Field(description="new events of this batch handed to the journey")
    note: str = Field(description="'recorded' when all were; otherwise what happened to the others")


class EventStatus(BaseModel):
    index: int = Field(description="position in the batch (0 for a single event)")
    event_id: str
    status: ReceiptStatus = Field(
        description="recorded: new, handed to its journey; duplicate: this event_id was recorded before with the same "
        "content (nothing done); conflict: this event_id was recorded before with other content (refused); ignored: "
        "older than the customer's ended journey, or after a completed onboarding"
    )


class EventsAccepted(BaseModel):
    accepted: int = Field(description="new events handed to their journeys (duplicates, conflicts and ignored events not counted)")
    received: int = Field(description="events in the request")
    events: list[EventStatus] = Field(description="one per event, in the order sent")
    journeys: list[JourneyReceipt]


class FieldError(BaseModel):
    index: int | None = Field(None, description="position in the batch (0 for a single event); null: the request as a whole")
    field: str | None = Field(None, description="dotted path inside the event; null: the event as a whole")
    message: str


class BatchRejected(BaseModel):
    detail: list[FieldError]


class RequestFieldError(BaseModel):
    location: str | None = Field(None, description="body, query, path or header")
    field: str | None = None
    message: str


class RequestRejected(BaseModel):
    detail: list[RequestFieldError]


class Problem(BaseModel):
    detail: str


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    temporal: Literal["reachable", "unreachable"]


EventsBody = IncomingEvent | Annotated[list[IncomingEvent], Field(min_length=1, max_length=MAX_BATCH)]


# -- validation errors without the values sent ----------------------------------------------------


def _field_of(loc: tuple[Any, ...], message: str) -> str | None:
    path = ".".join(str(part) for part in loc)
    # A rule over the event or its attributes (e.g. a rejection needs attributes.reason): name the attribute it asks for.
    match = re.search(r"\battributes\.\w+", message)
    if match and (not path or match.group(0).startswith(f"{path}.")):
        return match.group(0)
    return path or None


def _message_of(error: Any) -> str:
    """Pydantic's message, with the input redacted where a validator quoted it back."""
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    value = error.get("input")
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value)
        if text:
            for quoted in (repr(text), json.dumps(text), f"'{text}'", f'"{text}"'):
                message = message.replace(quoted, "<redacted>")
            if len(text) >= 4:
                message = message.replace(text, "<redacted>")
    return message


class _LongNumber:
    """A number too long for any field: the field's own check refuses it, naming index and field."""


def _number(text: str) -> int | _LongNumber:
    return _LongNumber() if len(text) > MAX_NUMBER_DIGITS else int(text)


def _event_errors(index: int, err: ValidationError) -> list[FieldError]:
    return [
        FieldError(index=index, field=_field_of(tuple(e["loc"]), e["msg"]), message=_message_of(e))
        for e in err.errors(include_url=False)
    ]


def _unprocessable(errors: list[FieldError]) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": [e.model_dump() for e in errors]},
    )


async def _request_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own 422s (task bodies, query strings), reshaped like ours and without `input`."""
    detail = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        where = loc[0] if loc and loc[0] in ("body", "query", "path", "header") else None
        rest = loc[1:] if where else loc
        if error.get("type") == "json_invalid":
            detail.append({"location": where, "field": None, "message": "body is not valid JSON"})
            continue
        detail.append({"location": where, "field": _field_of(rest, str(error.get("msg", ""))), "message": _message_of(error)})
    return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": detail})


_BODY_NOT_DECODED = "There was an error parsing the body"  # FastAPI's 400 for a JSON body that is not UTF-8


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """FastAPI's own answers, except its 400 for a body it cannot decode: 422 like any unreadable body
    (the events route says the same), so clients meet one shape for one mistake."""
    if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == _BODY_NOT_DECODED:
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": [{"location": "body", "field": None, "message": "body is not valid JSON"}]},
        )
    return await http_exception_handler(request, exc)


async def _temporal_rpc_error(_: Request, exc: RPCError) -> JSONResponse:
    unavailable = exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED)
    log.warning("temporal_rpc_failed", status=exc.status.name if exc.status else None)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE if unavailable else status.HTTP_502_BAD_GATEWAY,
        content={"detail": f"Temporal answered {exc.status.name if exc.status else 'an error'}; try again"},
    )


# -- dependencies ---------------------------------------------------------------------------------


_bearer = HTTPBearer(auto_error=False, description="the value of RECOVERY_API_TOKEN")


async def require_token(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """The bearer token, with wrong ones throttled per client address like console sign-ins (429 and
    Retry-After once an address has sent too many); while an address waits, no token it sends is checked."""
    expected: str | None = request.app.state.settings.api_token
    if not expected:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "RECOVERY_API_TOKEN is not set")
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token: send 'Authorization: Bearer <RECOVERY_API_TOKEN>'", challenge)
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
            status.HTTP_429_TOO_MANY_REQUESTS, f"too many wrong bearer tokens from this address: retry in {wait.seconds} s",
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
    client: RecoveryClient | None = request.app.state.recovery
    if client is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "not connected to Temporal yet")
    return client


Recovery = Annotated[RecoveryClient, Depends(recovery_client)]


async def _within(request: Request, work: Awaitable[T], what: str) -> T:
    try:
        return await asyncio.wait_for(work, timeout=request.app.state.temporal_timeout)
    except TimeoutError:
        raise HTTPException(
            status.HTTP_504_GATEWAY_TIMEOUT, f"{what}: no answer from Temporal in time (is a worker running?)"
        ) from None


# -- routes ---------------------------------------------------------------------------------------


v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong bearer token"},
    429: {"description": "too many wrong bearer tokens from this address: wait the Retry-After seconds", "model": Problem},
    503: {"description": "RECOVERY_API_TOKEN is not set, or Temporal is unavailable"},
}


_JSON = "application/json"


async def _body_within_limit(request: Request) -> bytes:
    """The body, read chunk by chunk: over the limit, it is refused before the rest is read (413)."""
    too_large = HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes; send smaller batches")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    return bytes(body)


@v1.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EventsAccepted,
    responses={
        **_ERRORS,
        413: {"description": f"the body is over {MAX_BODY_BYTES} bytes; nothing was recorded", "model": Problem},
        415: {"description": f"the body is not {_JSON}; nothing was recorded", "model": Problem},
        422: {"description": "the batch was rejected whole; nothing was recorded", "model": BatchRejected},
        503: {"description": "RECOVERY_API_TOKEN is not set, or Temporal or the journal is unavailable: retry, events are idempotent on event_id", "model": Problem},
    },
    summary="Record one onboarding event or a batch of up to 500",
)
async def post_events(request: Request, recovery: Recovery) -> Any:
    """Body (`application/json`, at most 8 MiB): one event object, or a JSON list of them. All are
    validated before any is recorded. Sending an `event_id` again is harmless: with the same content
    it is a `duplicate`, with other content a `conflict`, and neither is recorded twice."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != _JSON:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"send the events as {_JSON}")
    raw = await _body_within_limit(request)
    try:
        body = json.loads(raw, parse_int=_number)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f" (line {err.lineno}, column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        return _unprocessable([FieldError(message=f"body is not valid JSON{where}")])
    except (RecursionError, ValueError):
        return _unprocessable([FieldError(message="body is nested too deeply or holds a number too long to read")])
    items = body if isinstance(body, list) else [body]
    if not items:
        return _unprocessable([FieldError(message="an empty batch: send at least one event")])
    if len(items) > MAX_BATCH:
        return _unprocessable([FieldError(message=f"a batch holds at most {MAX_BATCH} events; this one has {len(items)}")])

    try:
        events = await recovery.admit(items)
    except EventsRejected as rejected:
        errors = [error for index, err in rejected.failures for error in _event_errors(index, err)]
        log.info("events_rejected", received=len(items), invalid_events=len(rejected.failures), errors=len(errors))
        return _unprocessable(errors)

    try:
        receipts = await recovery.record_events(events)
    except (RPCError, SQLAlchemyError) as err:
        log.warning("events_not_recorded", received=len(events), error=type(err).__name__)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Temporal or the journal did not take the batch (part of it may be recorded): retry it, events are idempotent on event_id",
        ) from None
    result = _summarise(receipts)
    log.info(
        "events_accepted",
        received=result.received,
        accepted=result.accepted,
        customers={j.customer_id: j.accepted for j in result.journeys},
    )
    return result


def _summarise(receipts: list[EventReceipt]) -> EventsAccepted:
    """Receipts in the order sent: one status per event, and a line per customer."""
    by_customer: dict[str, list[EventReceipt]] = {}
    for receipt in receipts:
        by_customer.setdefault(receipt.customer_id, []).append(receipt)
    journeys = []
    for customer_id, mine in by_customer.items():
        accepted = sum(r.accepted for r in mine)
        notes = list(dict.fromkeys(r.note for r in mine if not r.accepted))
        if not notes:
            note = next((r.note for r in mine if r.note != "recorded"), "recorded")
        elif accepted == 0:
            note = "; ".join(notes)
        else:
            note = f"{accepted} recorded, {len(mine) - accepted} not: " + "; ".join(notes)
        journeys.append(JourneyReceipt(customer_id=customer_id, workflow_id=mine[0].workflow_id, accepted=accepted, note=note))
    return EventsAccepted(
        accepted=sum(r.accepted for r in receipts),
        received=len(receipts),
        events=[EventStatus(index=i, event_id=r.event_id, status=r.status) for i, r in enumerate(receipts)],
        journeys=journeys,
    )


CustomerIdInPath = Annotated[str, Path(pattern=CUSTOMER_ID_PATTERN, description="as sent in the customer's events")]


@v1.get(
    "/journeys/{customer_id}",
    response_model=JourneyView,
    responses={**_ERRORS, 404: {"description": "no journey for this customer"}},
    summary="The whole journey of one customer",
)
async def get_journey(customer_id: CustomerIdInPath, request: Request, recovery: Recovery) -> JourneyView:
    try:
        return await _within(request, recovery.journey(customer_id), "journey query")
    except JourneyNotFound as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    except WorkflowQueryFailedError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, f"journey of customer {customer_id} has no view: {err.message}") from None


@v1.get("/tasks", response_model=list[TaskSummary], responses={**_ERRORS, 422: {"description": "unknown state", "model": RequestRejected}}, summary="Live human tasks, soonest due first")
async def get_tasks(
    request: Request,
    recovery: Recovery,
    state: Annotated[list[Literal["open", "claimed"]] | None, Query(description="open, claimed, or both (default)")] = None,
) -> list[TaskSummary]:
    states = tuple(dict.fromkeys(state)) if state else ("open", "claimed")
    return await _within(request, recovery.list_tasks(states), "task list")


_TASK_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    409: {"description": "the journey refused: the reason is in `detail`"},
    422: {"description": "a bad body (unknown outcome, malformed agent_id, unknown field)", "model": RequestRejected},
}


async def _task_action(request: Request, work: Awaitable[HumanTask], what: str) -> HumanTask:
    try:
        return await _within(request, work, what)
    except TaskRefused as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None


async def acting_agent(request: Request, recovery: RecoveryClient, body: AgentRequest) -> str:
    """Who acts on a task: the agent of a live console session sent with the request (its cookie), whom
    the body cannot override; else, with the bearer token alone, the body's `agent_id`, taken as given
    (the token acts for the app backend and integrations, which speak for their agents)."""
    cookie = request.cookies.get(COOKIE_NAME)
    session_id = session_id_of(request.app.state.console.secret, cookie) if cookie else None
    if session_id is not None and recovery.journal is not None:
        agent = await asyncio.to_thread(agent_of_session, recovery.journal, session_id)
        if agent is not None:
            if body.agent_id is not None and body.agent_id != agent.username:
                log.warning("task_agent_mismatch", signed_in=agent.username)
                raise HTTPException(status.HTTP_403_FORBIDDEN, "agent_id names another agent than the signed-in one: omit it")
            return agent.username
    if body.agent_id is None:
        raise RequestValidationError([{"type": "missing", "loc": ("body", "agent_id"), "msg": "Field required: the agent acting"}])
    return body.agent_id


_AGENT_ERRORS: dict[int | str, dict[str, Any]] = {
    **_TASK_ERRORS, 403: {"description": "agent_id names another agent than the signed-in console session's", "model": Problem},
}


@v1.post("/tasks/{task_id}/claim", response_model=HumanTask, responses=_AGENT_ERRORS, summary="Claim a task for an agent")
async def claim_task(task_id: str, body: AgentRequest, request: Request, recovery: Recovery) -> HumanTask:
    agent_id = await acting_agent(request, recovery, body)
    return await _task_action(request, recovery.claim_task(task_id, agent_id), "claim")


@v1.post("/tasks/{task_id}/release", response_model=HumanTask, responses=_AGENT_ERRORS, summary="Give a claimed task back")
async def release_task(task_id: str, body: AgentRequest, request: Request, recovery: Recovery) -> HumanTask:
    agent_id = await acting_agent(request, recovery, body)
    return await _task_action(request, recovery.release_task(task_id, agent_id), "release")


@v1.post("/tasks/{task_id}/complete", response_model=HumanTask, responses=_AGENT_ERRORS, summary="Complete a claimed task with an outcome")
async def complete_task(task_id: str, body: CompleteRequest, request: Request, recovery: Recovery) -> HumanTask:
    agent_id = await acting_agent(request, recovery, body)
    return await _task_action(request, recovery.complete_task(task_id, agent_id, body.outcome, body.note), "complete")


def _journal(recovery: RecoveryClient) -> Engine:
    if recovery.journal is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no journal configured (RECOVERY_JOURNAL_URL)")
    return recovery.journal


REPORT_EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)  # before any journey: events date from 2000 on
REPORT_LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)


def _report_bound(moment: datetime | None) -> datetime | None:
    """In UTC and within 1900-9000, which select the same journeys as any wider bound: the report
    subtracts days from `until`, and year 1 or 9999 (valid date-times) overflowed into a 500."""
    if moment is None:
        return None
    aware = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
    try:
        utc = aware.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 has no UTC form
        return REPORT_EARLIEST if aware.year < 5000 else REPORT_LATEST
    return min(max(utc, REPORT_EARLIEST), REPORT_LATEST)


async def _report(recovery: RecoveryClient, since: datetime | None, until: datetime | None, playbook_version: str | None, dormancy_days: int) -> RecoveryReport:
    return await asyncio.to_thread(
        report_from_journal, _journal(recovery), since=_report_bound(since), until=_report_bound(until) or datetime.now(timezone.utc),
        playbook_version=playbook_version, dormancy_days=dormancy_days,
    )


_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _date_time_only(value: Any) -> Any:
    """A date-time as the document says, not a number: pydantic would read "-1e-225" as a Unix time."""
    if isinstance(value, str) and not _DATE_TIME.match(value):
        raise ValueError("expected an ISO 8601 date-time, e.g. 2026-11-01T00:00:00Z")
    return value


ReportSince = Annotated[
    datetime | None, BeforeValidator(_date_time_only), Query(description="journeys started from (ISO 8601 date-time; naive means UTC)")
]
ReportUntil = Annotated[
    datetime | None, BeforeValidator(_date_time_only), Query(description="journeys started before (ISO 8601 date-time; default: now)")
]
ReportPlaybook = Annotated[str | None, Query(description="only journeys that pinned this playbook version")]
DormancyDays = Annotated[int, Query(ge=1, le=365, description="days without activity after completion that count as dormant")]


@v1.get("/report", response_model=RecoveryReport, responses=_ERRORS, summary="The recovery report from the journal")
async def get_report(
    recovery: Recovery, since: ReportSince = None, until: ReportUntil = None, playbook_version: ReportPlaybook = None, dormancy_days: DormancyDays = 30
) -> RecoveryReport:
    return await _report(recovery, since, until, playbook_version, dormancy_days)


@v1.get("/report/chart.png", responses={**_ERRORS, 200: {"content": {"image/png": {}}}}, summary="The funnel and recovery per stage as a PNG")
async def get_report_chart(
    recovery: Recovery, since: ReportSince = None, until: ReportUntil = None, playbook_version: ReportPlaybook = None
) -> Response:
    report = await _report(recovery, since, until, playbook_version, 30)
    return Response(await asyncio.to_thread(chart_png, report), media_type="image/png")


async def healthz(request: Request) -> JSONResponse:
    client: RecoveryClient | None = request.app.state.recovery
    reachable = False
    if client is not None:
        try:
            reachable = await asyncio.wait_for(
                client.temporal.service_client.check_health(timeout=timedelta(seconds=HEALTH_TIMEOUT_S)), timeout=HEALTH_TIMEOUT_S + 1
            )
        except Exception as err:  # anything short of an answer means unreachable
            log.warning("temporal_health_check_failed", error=type(err).__name__)
    health = Health(status="ok", temporal="reachable") if reachable else Health(status="degraded", temporal="unreachable")
    return JSONResponse(health.model_dump(), status_code=status.HTTP_200_OK if reachable else status.HTTP_503_SERVICE_UNAVAILABLE)


# -- the app --------------------------------------------------------------------------------------


def create_app(settings: Settings | None = None, recovery: RecoveryClient | None = None) -> FastAPI:
    """The API app. Without `recovery`, it connects to Temporal on startup (lifespan) with `settings`."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.recovery is None:
            app.state.recovery = await RecoveryClient.connect(settings)
            log.info("api_connected", temporal_address=settings.temporal_address, namespace=settings.namespace)
        if not settings.api_token:
            log.warning("api_token_missing", detail="RECOVERY_API_TOKEN is not set: every /v1 route answers 503")
        yield

    app = FastAPI(
        title="onboarding-recovery",
        version=_VERSION,
        description=(
            "Brings back customers who stopped onboarding. The app backend reports events; support agents "
            "claim and complete human tasks; ops read journeys. `/v1` routes need `Authorization: Bearer <RECOVERY_API_TOKEN>`."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.recovery = recovery
    app.state.temporal_timeout = TEMPORAL_TIMEOUT_S
    app.state.sign_in_throttle = SignInThrottle.from_settings(settings)  # bearer tokens and console sign-ins alike
    app.add_exception_handler(RequestValidationError, _request_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RPCError, _temporal_rpc_error)  # type: ignore[arg-type]
    app.include_router(v1)
    app.state.codec_origins = allowed_origins(settings)
    app.include_router(codec_router(require_token))  # /codec/decode, /codec/encode for the Web UI and the CLI
    app.add_api_route(
        "/healthz", healthz, methods=["GET"], response_model=Health,
        responses={503: {"description": "Temporal unreachable", "model": Health}}, summary="Liveness and Temporal reachability",
    )
    mount_console(app, settings)
    install_metrics(app)  # GET /metrics, open like /healthz
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


# -- the OpenAPI document: every rule and error shape the API really uses ----------------------------

_NOT_BLANK = r"\S"
_TEXT = {"type": "string", "maxLength": ATTRIBUTE_MAX_LENGTH}
_OPTIONAL_TEXT = {"anyOf": [_TEXT, {"type": "null"}]}


def _attributes_of(event_type: EventType) -> dict[str, Any]:
    """The attributes one event type takes, as the door checks them (`IncomingEvent`, `OnboardingEvent`)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    if event_type in (EventType.DOCUMENT_REJECTED, EventType.ERROR):
        name = "reason" if event_type is EventType.DOCUMENT_REJECTED else "error"
        # any non-blank value: a known category as is, another one becomes `other`, kept as `<name>_detail`
        properties = {name: {**_TEXT, "pattern": _NOT_BLANK}, f"{name}_detail": _OPTIONAL_TEXT}
        required = [name]
        if event_type is EventType.ERROR:
            properties["service"] = {"anyOf": [{**_TEXT, "pattern": SERVICE_PATTERN}, {"type": "null"}]}
    elif event_type in (EventType.OPTED_OUT, EventType.OPTED_IN):
        properties, required = {"channel": {"enum": [scope.value for scope in OptOutScope]}}, ["channel"]
    assert set(properties) == set(ATTRIBUTES_OF.get(event_type, ())), event_type  # one list of names, here and at the door
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _event_by_type(event: dict[str, Any]) -> dict[str, Any]:
    """`IncomingEvent` as one variant per type, each with its own attributes; event_id not blank."""
    base = {**event, "properties": {**event["properties"], "event_id": {**event["properties"]["event_id"], "pattern": _NOT_BLANK}}}
    variants = []
    for event_type in EventType:
        attributes = {**base["properties"]["attributes"], **_attributes_of(event_type)}
        variant = {
            **base,
            "title": f"IncomingEvent ({event_type.value})",
            "properties": {**base["properties"], "type": {"const": event_type.value}, "attributes": attributes},
            "required": [*base["required"], *(["attributes"] if attributes["required"] else [])],
        }
        variant.pop("description", None)
        variants.append(variant)
    return {"title": "IncomingEvent", "description": event.get("description", ""), "oneOf": variants}


_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_REQUEST_REJECTED = {"$ref": "#/components/schemas/RequestRejected"}
_ANSWERS: dict[str, str] = {  # what any route may answer, and when
    "401": "missing or wrong bearer token",
    "502": "Temporal answered with an error: retry",
    "503": "RECOVERY_API_TOKEN is not set, or Temporal (or the journal) is unavailable: retry",
}
_WAITS_ON_TEMPORAL = {  # routes that wait on a journey's answer (a query or an update): 504 when none comes
    "/v1/journeys/{customer_id}", "/v1/tasks", "/v1/tasks/{task_id}/claim", "/v1/tasks/{task_id}/release", "/v1/tasks/{task_id}/complete",
}


def _state_every_answer(schema: dict[str, Any]) -> None:
    """Every error a /v1 route can send, with its body: `{"detail": str}` (Problem) unless stated, and
    the reshaped 422 (RequestRejected) instead of FastAPI's HTTPValidationError, which it never sends."""
    for path, operations in schema["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in _ANSWERS.items():
                responses.setdefault(code, {"description": description})
            if path in _WAITS_ON_TEMPORAL:
                responses.setdefault("504", {"description": "no answer from Temporal in time (is a worker running?)"})
            for code, response in responses.items():
                if not code.startswith(("4", "5")):
                    continue
                content = response.setdefault("content", {}).setdefault(_JSON, {})
                if content.get("schema", {}).get("$ref") == "#/components/schemas/HTTPValidationError":
                    content["schema"] = _REQUEST_REJECTED
                content.setdefault("schema", _PROBLEM)
    schema["components"]["schemas"].pop("HTTPValidationError", None)
    schema["components"]["schemas"].pop("ValidationError", None)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, plus the event body (read by hand so a batch is validated as a whole), each
    event type's attributes, and every error answer with its body."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    body = TypeAdapter(EventsBody).json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in body.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components["IncomingEvent"] = _event_by_type(components["IncomingEvent"])
    zones = sorted(available_timezones())
    components["IncomingProfile"]["properties"]["timezone"] = {
        "anyOf": [{"enum": zones}, {"type": "null"}], "default": None, "description": "an IANA time zone, e.g. Asia/Tashkent",
    }
    schema["paths"]["/v1/events"]["post"]["requestBody"] = {
        "required": True,
        "description": f"one event or a list of 1-{MAX_BATCH}; at most {MAX_BODY_BYTES} bytes",
        "content": {_JSON: {"schema": body}},
    }
    _state_every_answer(schema)
    app.openapi_schema = schema
    return schema


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the API with uvicorn; logging goes through the structlog setup the caller configured."""
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, proxy_headers=True, server_header=False)
