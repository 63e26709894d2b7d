"""SMS through Twilio's Messages API, behind the `Delivery` interface.

`POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form encoded (`To`, `MessagingServiceSid`
or `From`, `Body`, `StatusCallback`), basic auth with the account SID and auth token; one pooled
client for every message. The number is looked up in the contact directory here, at send time: the
message names only the customer, and no error or log line names the number.

Twilio's errors, its way: 21610 (the recipient replied STOP) is an opt-out of SMS (`ChannelOptedOut`),
21211/21614 (invalid, or not a mobile number) make SMS unreachable for the customer (`ChannelUnreachable`),
both final; 429 and 5xx are retried after the `Retry-After` Twilio asks for; any other 4xx is final.

Twilio takes no idempotency key on this API: the journal remembers each message id it took (with its
MessageSid, which the status callback names), so a retried activity does not send again.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import httpx
import structlog
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from activities.contacts import ContactDirectory
from journal.sms import opted_out_of, record_consent, record_sms_taken, sms_taken
from workflows.contracts import CHANNEL_OPTED_OUT, CHANNEL_UNREACHABLE

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://api.twilio.com"
STATUS_CALLBACK_PATH = "/v1/webhooks/twilio/status"
OPTED_OUT_CODES = frozenset({21610})
UNREACHABLE_CODES = frozenset({21211, 21614})
_RETRYABLE_4XX = {408, 429}


def retry_after(value: str | None) -> timedelta | None:
    """Retry-After in seconds (Twilio's form); None when absent or not a number."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return timedelta(seconds=min(max(seconds, 0.0), 3600.0))


class TwilioSms:
    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        contacts: ContactDirectory,
        journal: Engine,
        public_url: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout_seconds: float = 10.0,
    ) -> None:
        """`sender`: a Messaging Service SID (MG...), or a number in E.164 sent as `From`."""
        self._path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._sender = {"From": sender} if sender.startswith("+") else {"MessagingServiceSid": sender}
        self._status_callback = f"{public_url.rstrip('/')}{STATUS_CALLBACK_PATH}" if public_url else None
        self._contacts = contacts
        self._journal = journal
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), auth=(account_sid, auth_token), timeout=httpx.Timeout(timeout_seconds)
        )

    async def took(self, idempotency_key: str) -> bool:
        """Did Twilio take this message already (the SMS failover asks before the second provider sends)?"""
        return await asyncio.to_thread(sms_taken, self._journal, idempotency_key)

    async def deliver(self, idempotency_key: str, payload: dict[str, Any]) -> bool:
        customer_id = str(payload["customer_id"])
        if await self.took(idempotency_key):
            return True
        if await asyncio.to_thread(opted_out_of, self._journal, customer_id, "sms"):
            raise ApplicationError("the customer opted out of SMS", type=CHANNEL_OPTED_OUT, non_retryable=True)
        contact = await self._contacts.contact(customer_id)
        if contact is None or not contact.phone:
            raise ApplicationError("no phone number for the customer", type=CHANNEL_UNREACHABLE, non_retryable=True)
        form = {"To": contact.phone, **self._sender, "Body": str(payload["text"])}
        if self._status_callback:
            form["StatusCallback"] = self._status_callback
        try:
            response = await self._client.post(self._path, data=form)
        except httpx.TimeoutException as exc:
            raise ApplicationError(f"twilio timed out: {type(exc).__name__}", type="DeliveryTimeout") from None
        except httpx.TransportError as exc:
            raise ApplicationError(f"twilio unreachable: {type(exc).__name__}", type="DeliveryUnreachable") from None
        if 200 <= response.status_code < 300:
            body = _json(response)
            sid = str(body.get("sid") or "")
            status = str(body.get("status") or "queued")
            if sid:
                await asyncio.to_thread(
                    record_sms_taken, self._journal, idempotency_key, sid, customer_id, self.name, status, _now()
                )
            log.info("twilio_sms_taken", customer_id=customer_id, message_id=idempotency_key, message_sid=sid)
            return False
        await self._refused(response, customer_id)

    async def _refused(self, response: httpx.Response, customer_id: str) -> NoReturn:
        """Raises Twilio's refusal as the journey needs it; never quoting the vendor's message (it names the number)."""
        code = _json(response).get("code")
        code = code if isinstance(code, int) else None
        what = f"twilio answered {response.status_code}" + (f", error {code}" if code else "")
        log.warning("twilio_sms_refused", customer_id=customer_id, status=response.status_code, error_code=code)
        if code in OPTED_OUT_CODES:
            await asyncio.to_thread(
                record_consent, self._journal, customer_id, "sms", True, _now(), f"twilio_{code}", ""
            )
            raise ApplicationError(
                f"{what}: the customer unsubscribed from SMS", type=CHANNEL_OPTED_OUT, non_retryable=True
            )
        if code in UNREACHABLE_CODES:
            raise ApplicationError(
                f"{what}: SMS cannot reach the customer", type=CHANNEL_UNREACHABLE, non_retryable=True
            )
        if response.status_code >= 500 or response.status_code in _RETRYABLE_4XX:
            delay = retry_after(response.headers.get("Retry-After"))
            raise ApplicationError(what, type="DeliveryFailed", next_retry_delay=delay)
        raise ApplicationError(what, type="DeliveryRejected", non_retryable=True)

    async def aclose(self) -> None:
        """Its pooled client, and the contact directory's when the directory has one (the customer API's)."""
        await self._client.aclose()
        close = getattr(self._contacts, "aclose", None)
        if close is not None:
            await close()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _now() -> datetime:
    return datetime.now(UTC)
