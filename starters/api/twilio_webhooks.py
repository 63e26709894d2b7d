"""Twilio's webhooks: delivery receipts (`POST /v1/webhooks/twilio/status`) and inbound SMS
(`POST /v1/webhooks/twilio/inbound`).

Twilio cannot send our bearer token, so both routes are authenticated by Twilio's own signature:
`X-Twilio-Signature` is the base64 HMAC-SHA1, keyed with the auth token (`RECOVERY_TWILIO_AUTH_TOKEN`),
of the full URL Twilio called (`RECOVERY_PUBLIC_URL` + the path and query) followed by every form
parameter sorted by name, name then value. A missing or wrong signature is 403 and nothing is recorded.

- A status callback (`MessageSid`, `MessageStatus`: queued, sent, delivered, undelivered, failed;
  `ErrorCode`) is recorded against its message in the journal (`sms_messages`): delivered or
  undelivered per message. A status never goes back (callbacks arrive out of order).
- An inbound SMS is matched to a customer by the sender's number through the contact directory.
  STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT opt the customer out of SMS at once; START, UNSTOP,
  YES opt back in (a consent record in the journal: channel, when, how, the words; and
  `customer.opted_out` / `customer.opted_in` with channel sms through the door, so the journey
  records it); HELP opens a help request (`onboarding.help_requested`). An unknown sender is
  acknowledged and logged without the number. The answer is empty TwiML: Twilio sends no reply.
"""

import asyncio
import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError, RPCStatusCode

from activities.contacts import ContactDirectory, contact_directory
from journal.sms import FINAL_STATUSES, STATUS_RANK, record_consent, record_sms_status
from starters.api.auth import recovery_client
from starters.api.body import body_within
from starters.api.errors import Problem
from starters.client import EventsRejected, RecoveryClient
from workflows.contracts import DeliveryStatus
from workflows.funnel import EventType

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1")  # prefixed here: the route keeps its full path (metrics label routes by it)

MAX_BODY_BYTES = 64 * 1024  # a callback is a few hundred bytes
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP"})
KNOWN_STATUSES = frozenset(STATUS_RANK) | FINAL_STATUSES
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
FORM = "application/x-www-form-urlencoded"
_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "missing or wrong X-Twilio-Signature (or Twilio not configured); nothing recorded",
        "model": Problem,
    },
    413: {"description": f"the body is over {MAX_BODY_BYTES} bytes; nothing recorded", "model": Problem},
    422: {"description": f"the body is not a form ({FORM}); nothing recorded", "model": Problem},
}


def _form_body(*fields: str) -> dict[str, Any]:
    """The request body as Twilio sends it, for the API document (the route reads and verifies it itself)."""
    properties = {name: {"type": "string"} for name in fields}
    return {
        "requestBody": {"required": True, "content": {FORM: {"schema": {"type": "object", "properties": properties}}}}
    }


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's signature: base64 HMAC-SHA1 of the URL and the parameters sorted by name, name+value."""
    data = url + "".join(name + value for name, value in sorted(params, key=lambda item: item[0]))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


async def signed_form(request: Request) -> dict[str, str]:
    """The form Twilio posted, once its signature is checked; 403 when it is missing or wrong."""
    settings = request.app.state.settings
    auth_token: str | None = settings.twilio_auth_token
    public_url: str | None = settings.public_url
    if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != FORM:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"send the form as {FORM}, as Twilio does")
    raw = await body_within(request, MAX_BODY_BYTES)
    if raw is None:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
    if not auth_token or not public_url:
        log.warning("twilio_webhook_refused", why="RECOVERY_TWILIO_AUTH_TOKEN or RECOVERY_PUBLIC_URL is not set")
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Twilio webhooks are not configured")
    try:
        params = parse_qsl(raw.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        params = []
    url = public_url.rstrip("/") + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    given = request.headers.get("x-twilio-signature")
    expected = twilio_signature(auth_token, url, params)
    if not given or not hmac.compare_digest(expected.encode(), given.strip().encode()):
        log.warning(
            "twilio_webhook_refused",
            route=request.url.path,
            why="missing signature" if not given else "wrong signature",
        )
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong X-Twilio-Signature")
    return dict(params)


def _directory(request: Request, recovery: RecoveryClient) -> ContactDirectory:
    """One directory per app (the operator's API keeps a pooled client)."""
    directory: ContactDirectory | None = getattr(request.app.state, "twilio_contacts", None)
    if directory is None:
        settings = request.app.state.settings
        if recovery.journal is None and not settings.contact_lookup_url:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no contact directory: no journal configured")
        directory = contact_directory(recovery.journal, settings.contact_lookup_url, settings.webhook_token)  # type: ignore[arg-type]
        request.app.state.twilio_contacts = directory
    return directory


@router.post(
    "/webhooks/twilio/status",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_FORBIDDEN, 503: {"description": "the journal is unavailable: Twilio retries", "model": Problem}},
    summary="Twilio's delivery status callback (signed by Twilio, not the bearer token)",
    openapi_extra=_form_body("MessageSid", "MessageStatus", "ErrorCode", "AccountSid"),
)
async def twilio_status(request: Request) -> Response:
    form = await signed_form(request)
    sid, state = form.get("MessageSid", ""), form.get("MessageStatus", "").lower()
    error_code = form.get("ErrorCode") or None
    recovery = recovery_client(request)
    if not sid or state not in KNOWN_STATUSES or recovery.journal is None:
        log.info("twilio_status_ignored", message_sid=sid[:64], status=state[:20])
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    now: datetime = await recovery.clock()
    try:
        message = await asyncio.to_thread(record_sms_status, recovery.journal, sid[:64], state, error_code, now)
    except SQLAlchemyError as err:
        log.warning("twilio_status_not_recorded", error=type(err).__name__)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the journal did not take the status: retry") from None
    if message is None:
        log.info("twilio_status_unknown_message", message_sid=sid[:64], status=state)
    else:
        log.info(
            "twilio_status_recorded",
            customer_id=message.customer_id,
            message_id=message.message_id,
            status=message.status,
            error_code=message.error_code,
        )
        report = DeliveryStatus(
            message_id=message.message_id, status=message.status, error_code=message.error_code, at=now
        )
        await _tell_the_journey(recovery, report)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _tell_the_journey(recovery: RecoveryClient, report: DeliveryStatus) -> None:
    """The journey acts on an undelivered message (the next channel); an ended one has nothing to do."""
    workflow_id = report.message_id.split(":", 1)[0]
    try:
        await recovery.temporal.get_workflow_handle(workflow_id).signal("record_delivery_status", report)
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            log.warning("delivery_status_not_signalled", workflow_id=workflow_id, error=err.status.name)


def _keyword(body: str) -> str:
    """The message as a keyword: trimmed, upper case, without trailing punctuation ("Stop." is STOP)."""
    return body.strip().rstrip(".!").strip().upper()


@router.post(
    "/webhooks/twilio/inbound",
    response_class=Response,
    responses={
        200: {"content": {"text/xml": {}}, "description": "empty TwiML: no reply"},
        **_FORBIDDEN,
        503: {"description": "Temporal or the journal is unavailable: Twilio retries", "model": Problem},
    },
    summary="An SMS from a customer (signed by Twilio): STOP / START / HELP",
    openapi_extra=_form_body("MessageSid", "From", "To", "Body", "AccountSid"),
)
async def twilio_inbound(request: Request) -> Response:
    form = await signed_form(request)
    recovery = recovery_client(request)
    sender, words, sid = form.get("From", ""), form.get("Body", ""), form.get("MessageSid", "")
    keyword = _keyword(words)
    customer_id = await _directory(request, recovery).customer_with_phone(sender) if sender else None
    if customer_id is None:
        log.info("twilio_inbound_unknown_sender", message_sid=sid[:64])  # never the number
        return _twiml()
    if keyword in OPT_OUT_WORDS or keyword in OPT_IN_WORDS:
        opted_out = keyword in OPT_OUT_WORDS
        now: datetime = await recovery.clock()
        try:
            if recovery.journal is not None:  # without one, the journey's own record is all there is
                await asyncio.to_thread(
                    record_consent, recovery.journal, customer_id, "sms", opted_out, now, "inbound_sms", words.strip()
                )
        except SQLAlchemyError as err:
            log.warning("twilio_consent_not_recorded", error=type(err).__name__)
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the journal is unavailable: retry") from None
        kind = EventType.OPTED_OUT if opted_out else EventType.OPTED_IN
        await _record(recovery, customer_id, sid, kind, now, {"channel": "sms", "words": keyword})
    elif keyword in HELP_WORDS:
        await _record(recovery, customer_id, sid, EventType.HELP_REQUESTED, await recovery.clock(), {})
    else:
        log.info("twilio_inbound_ignored", customer_id=customer_id, message_sid=sid[:64])
        return _twiml()
    log.info("twilio_inbound_recorded", customer_id=customer_id, keyword=keyword, message_sid=sid[:64])
    return _twiml()


async def _record(
    recovery: RecoveryClient, customer_id: str, sid: str, kind: EventType, now: datetime, attributes: dict[str, Any]
) -> None:
    """Through the same door and intake ledger as `POST /v1/events`; the id is Twilio's, so a retry is a duplicate."""
    event = {
        "event_id": f"twilio:{''.join(c for c in sid if c.isalnum())[:64] or now.timestamp()}",
        "customer_id": customer_id,
        "type": kind.value,
        "occurred_at": now.isoformat(),
        "attributes": attributes,
    }
    try:
        admitted = await recovery.admit([event])
        await recovery.record_events(admitted)
    except EventsRejected:
        log.warning("twilio_inbound_refused_by_the_door", customer_id=customer_id, type=kind.value)
    except (RPCError, SQLAlchemyError) as err:
        log.warning("twilio_inbound_not_recorded", error=type(err).__name__)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "Temporal or the journal is unavailable: retry"
        ) from None


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")
