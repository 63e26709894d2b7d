"""`POST /v1/webhooks/sumsub`: Sumsub's eKYC reviews turned into funnel events.

Sumsub cannot send our bearer token, so the route is authenticated by Sumsub's own signature:
`X-Payload-Digest` is the HMAC (hex) of the raw body with the webhook's secret
(`RECOVERY_SUMSUB_WEBHOOK_SECRET`), by the algorithm `X-Payload-Digest-Alg` names (`HMAC_SHA256_HEX`
when absent; `HMAC_SHA1_HEX` and `HMAC_SHA512_HEX` too). A missing or wrong digest is 403 and nothing
is recorded.

An `applicantReviewed` becomes one event recorded through the same door and intake ledger as
`POST /v1/events`: GREEN -> `onboarding.document_approved`; RED -> `onboarding.document_rejected`
with the reason mapped from `rejectLabels` and `reject_type` (`retry` / `final`) from
`reviewRejectType`, or `onboarding.biometric_failed` when the labels say the selfie did not match.
Its `event_id` is made of the webhook's own ids, so a redelivery is a `duplicate`. Any other webhook
type is acknowledged (200) and changes nothing, so Sumsub stops resending it.
"""

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError

from journal.store import utc
from starters.api.auth import recovery_client
from starters.api.body import body_within
from starters.api.errors import BatchRejected, FieldError, Problem, event_errors, unprocessable
from starters.client import EventsRejected, ReceiptStatus
from workflows.events import CUSTOMER_ID_PATTERN
from workflows.funnel import EventType, RejectionReason

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1")

MAX_BODY_BYTES = 1024 * 1024  # a review is a few KB
DIGEST_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "HMAC_SHA1_HEX": hashlib.sha1,
    "HMAC_SHA256_HEX": hashlib.sha256,
    "HMAC_SHA512_HEX": hashlib.sha512,
}
DEFAULT_DIGEST_ALGORITHM = "HMAC_SHA256_HEX"

# Sumsub's reject labels, by the reason our copy speaks to; the first label that maps wins.
REASON_OF_LABEL: dict[str, RejectionReason] = {
    "BLURRY": RejectionReason.BLUR,
    "BAD_QUALITY": RejectionReason.BLUR,
    "LOW_QUALITY": RejectionReason.BLUR,
    "GLARE": RejectionReason.GLARE,
    "EXPIRATION_DATE": RejectionReason.EXPIRED,
    "UNSUITABLE_DOCUMENT": RejectionReason.UNSUPPORTED_DOCUMENT,
    "DATA_MISMATCH": RejectionReason.DATA_MISMATCH,
    "PROBLEMATIC_APPLICANT_DATA": RejectionReason.DATA_MISMATCH,
}
SELFIE_LABELS = frozenset({"SELFIE_MISMATCH"})
REJECT_TYPE_OF = {"RETRY": "retry", "FINAL": "final"}
_ID_PART = re.compile(r"[^A-Za-z0-9_.\-]")


class SumsubAnswer(BaseModel):
    status: ReceiptStatus | Literal["skipped"] = Field(
        description="what became of the review: recorded, duplicate (delivered before), conflict, ignored "
        "(the customer's journey ended before it); skipped: not a review we turn into an event"
    )
    event_id: str | None = Field(None, description="the funnel event made of it (none when skipped)")
    type: str | None = Field(None, description="the funnel event's type (none when skipped)")
    detail: str = ""


def digest_matches(body: bytes, secret: str, digest: str | None, algorithm: str | None) -> bool:
    """Sumsub's `X-Payload-Digest` check: the HMAC of the raw body with the secret, in hex."""
    hash_function = DIGEST_ALGORITHMS.get((algorithm or DEFAULT_DIGEST_ALGORITHM).strip().upper())
    if not digest or hash_function is None:
        return False
    expected = hmac.new(secret.encode(), body, hash_function).hexdigest()
    return hmac.compare_digest(expected.encode(), digest.strip().lower().encode())


def created_at(value: Any) -> datetime | None:
    """`createdAtMs`: milliseconds since the epoch, or Sumsub's UTC text `2020-02-21 13:23:19.321`."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
            return utc(moment)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _id_part(value: Any) -> str:
    return _ID_PART.sub("", str(value or ""))[:64]


def event_of_review(review: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The funnel event an `applicantReviewed` stands for, or None and why it is skipped."""
    if review.get("type") != "applicantReviewed":
        return None, "not an applicantReviewed webhook"
    customer_id = review.get("externalUserId")
    if not isinstance(customer_id, str) or not re.fullmatch(CUSTOMER_ID_PATTERN, customer_id):
        return None, "externalUserId is not one of our customer ids"
    result = review.get("reviewResult")
    answer = result.get("reviewAnswer") if isinstance(result, dict) else None
    occurred_at = created_at(review.get("createdAtMs"))
    if answer not in ("GREEN", "RED") or occurred_at is None:
        return None, "no GREEN or RED reviewAnswer with a createdAtMs"
    assert isinstance(result, dict)
    applicant = _id_part(review.get("applicantId"))
    if not applicant:
        return None, "no applicantId"
    inspection = _id_part(review.get("inspectionId") or review.get("correlationId"))
    millis = int(occurred_at.timestamp() * 1000)
    event: dict[str, Any] = {
        "event_id": f"sumsub:{applicant}:{inspection}:{millis}",
        "customer_id": customer_id,
        "occurred_at": occurred_at.isoformat(),
    }
    if answer == "GREEN":
        return {**event, "type": EventType.DOCUMENT_APPROVED.value}, ""
    labels = [str(label) for label in result.get("rejectLabels") or [] if isinstance(label, str | int)]
    if SELFIE_LABELS.intersection(labels):
        return {**event, "type": EventType.BIOMETRIC_FAILED.value}, ""
    reason = next((REASON_OF_LABEL[label].value for label in labels if label in REASON_OF_LABEL), None)
    # An unmapped label goes to the door as it is: it counts as `other` and is kept as `reason_detail`.
    attributes = {"reason": reason or (labels[0][:100] if labels else RejectionReason.OTHER.value)}
    reject_type = REJECT_TYPE_OF.get(str(result.get("reviewRejectType", "")).upper())
    if reject_type:
        attributes["reject_type"] = reject_type
    return {**event, "type": EventType.DOCUMENT_REJECTED.value, "attributes": attributes}, ""


@router.post(
    "/webhooks/sumsub",
    response_model=SumsubAnswer,
    responses={
        403: {"description": "missing or wrong X-Payload-Digest (or no secret configured); nothing recorded"},
        413: {"description": f"the body is over {MAX_BODY_BYTES} bytes; nothing recorded", "model": Problem},
        422: {"description": "the review makes an event the door refuses; nothing recorded", "model": BatchRejected},
        503: {"description": "Temporal or the journal is unavailable: Sumsub retries", "model": Problem},
    },
    summary="Sumsub's eKYC webhook (signed by Sumsub, not the bearer token): reviews become funnel events",
)
async def sumsub_webhook(request: Request) -> Any:
    """Sumsub's `applicantReviewed`, verified by `X-Payload-Digest`, recorded as a funnel event."""
    secret: str | None = request.app.state.settings.sumsub_webhook_secret
    raw = await body_within(request, MAX_BODY_BYTES)
    if raw is None:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
    if not secret:
        log.warning("sumsub_webhook_refused", why="RECOVERY_SUMSUB_WEBHOOK_SECRET is not set")
        raise HTTPException(status.HTTP_403_FORBIDDEN, "webhook secret not configured")
    digest = request.headers.get("x-payload-digest")
    if not digest_matches(raw, secret, digest, request.headers.get("x-payload-digest-alg")):
        log.warning("sumsub_webhook_refused", why="missing digest" if not digest else "wrong digest")
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong X-Payload-Digest")
    try:
        review = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError):
        return unprocessable([FieldError(message="body is not valid JSON")])
    event, why = event_of_review(review) if isinstance(review, dict) else (None, "not a JSON object")
    if event is None:
        log.info("sumsub_webhook_skipped", why=why)
        return SumsubAnswer(status="skipped", detail=why)

    recovery = recovery_client(request)
    try:
        admitted = await recovery.admit([event])
    except EventsRejected as rejected:
        return unprocessable([error for index, err in rejected.failures for error in event_errors(index, err)])
    try:
        (receipt,) = await recovery.record_events(admitted)
    except (RPCError, SQLAlchemyError) as err:
        log.warning("sumsub_webhook_not_recorded", error=type(err).__name__)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "Temporal or the journal did not take the review: retry"
        ) from None
    log.info(
        "sumsub_review_recorded",
        customer_id=receipt.customer_id,
        event_id=receipt.event_id,
        type=event["type"],
        reason=event.get("attributes", {}).get("reason"),
        reject_type=event.get("attributes", {}).get("reject_type"),
        status=receipt.status,
    )
    return SumsubAnswer(status=receipt.status, event_id=receipt.event_id, type=event["type"], detail=receipt.note)
