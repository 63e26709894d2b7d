"""Push through Firebase Cloud Messaging HTTP v1, behind the `Delivery` interface.

`POST {base}/v1/projects/{project}/messages:send` with `{"message": {"token", "notification", "data"}}`
(every `data` value a string, as FCM requires), authorised by an OAuth2 access token that a service
account gets through the JWT bearer grant: a JWT RS256-signed by the account's private key (`iss` its
`client_email`, `scope` firebase.messaging, `aud` the token URL), posted to the token URL. The access
token is cached until a minute before it expires; one pooled HTTP client serves every message.

The push token is looked up in the contact directory here, at send time: the message names only the
customer, and no error or log line names the token.

FCM's errors, its way: `UNREGISTERED` (the app was uninstalled, the token expired), `INVALID_ARGUMENT`
on the token and `SENDER_ID_MISMATCH` make push unreachable for the customer (`ChannelUnreachable`, final:
the journey should try SMS); a customer without a push token is unreachable the same way; 429 and 5xx
are retried after the `Retry-After` FCM asks for; a 401 drops the cached access token and is retried;
any other 4xx is final (`DeliveryRejected`).

FCM takes no idempotency key: the message id goes in `data.message_id`, for the app to drop a repeat.
"""

import asyncio
import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import httpx
import structlog
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from temporalio.exceptions import ApplicationError

from activities.contacts import ContactDirectory
from workflows.contracts import CHANNEL_UNREACHABLE

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://fcm.googleapis.com"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 3600  # Google's maximum
REFRESH_MARGIN_S = 60  # an access token is renewed this long before it expires
UNREACHABLE = CHANNEL_UNREACHABLE
UNREACHABLE_CODES = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})
_RETRYABLE_4XX = {408, 429}
# The OutboundMessage fields the app receives in `data`, besides the text in the notification.
DATA_FIELDS = ("message_id", "customer_id", "kind", "stage", "attempt", "deep_link", "channel")


class ServiceAccountError(ValueError):
    """A service-account file that cannot be used; the message names the file, never the key."""


@dataclass(frozen=True, repr=False)
class ServiceAccount:
    client_email: str
    project_id: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def load(cls, path: Path) -> "ServiceAccount":
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise ServiceAccountError(f"cannot read {path}: {err.strerror or err}") from None
        except ValueError:
            raise ServiceAccountError(f"{path} is not a JSON service-account file") from None
        missing = [k for k in ("client_email", "project_id", "private_key") if not isinstance(info.get(k), str)]
        if not isinstance(info, dict) or missing:
            raise ServiceAccountError(f"{path} lacks {', '.join(missing)}: download a key of a service account")
        try:
            key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        except (ValueError, TypeError):
            raise ServiceAccountError(f"{path}: private_key is not an unencrypted PEM key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ServiceAccountError(f"{path}: private_key is not an RSA key")
        return cls(client_email=info["client_email"], project_id=info["project_id"], private_key=key)

    def __repr__(self) -> str:
        return f"ServiceAccount({self.client_email!r}, project {self.project_id!r})"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_assertion(account: ServiceAccount, audience: str, now: float) -> str:
    """The JWT of the bearer grant, RS256-signed by the service account's key."""
    header = {"alg": "RS256", "typ": "JWT"}
    claims = {
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": audience,
        "iat": int(now),
        "exp": int(now) + ASSERTION_LIFETIME_S,
    }
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    ).encode()
    signature = account.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode()}.{_b64url(signature)}"


def retry_after(value: str | None) -> timedelta | None:
    """Retry-After in seconds; None when absent or not a number."""
    try:
        return timedelta(seconds=min(max(float(value), 0.0), 3600.0)) if value is not None else None
    except ValueError:
        return None


def fcm_message(token: str, payload: dict[str, Any]) -> dict[str, Any]:
    """FCM's v1 message for one outbound message: the text as the notification, the rest as string data."""
    data = {name: str(payload[name]) for name in DATA_FIELDS if payload.get(name) is not None}
    return {"message": {"token": token, "notification": {"body": str(payload.get("text", ""))}, "data": data}}


class FcmPush:
    """FCM HTTP v1 with a service account; one pooled client, the access token cached."""

    name = "fcm"

    def __init__(
        self,
        *,
        account: ServiceAccount,
        contacts: ContactDirectory,
        base_url: str = DEFAULT_BASE_URL,
        token_url: str = DEFAULT_TOKEN_URL,
        timeout_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._account = account
        self._contacts = contacts
        self._send_url = f"{base_url.rstrip('/')}/v1/projects/{account.project_id}/messages:send"
        self._token_url = token_url
        self._clock = clock
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds))
        self._access_token: str | None = None
        self._expires_at = 0.0
        self._token_lock = asyncio.Lock()

    @classmethod
    def from_file(cls, path: Path, contacts: ContactDirectory, **options: Any) -> "FcmPush":
        return cls(account=ServiceAccount.load(path), contacts=contacts, **options)

    async def deliver(self, idempotency_key: str, payload: dict[str, Any]) -> bool:
        """Sends once per attempt (FCM takes no idempotency key); False: never known as a duplicate."""
        customer_id = str(payload.get("customer_id", ""))
        contact = await self._contacts.contact(customer_id)
        token = contact.push_token if contact is not None else None
        if not token:
            raise ApplicationError("no push token for the customer", "no_token", type=UNREACHABLE, non_retryable=True)
        body = fcm_message(token, {**payload, "message_id": idempotency_key})
        access_token = await self._access()
        try:
            response = await self._client.post(
                self._send_url, json=body, headers={"Authorization": f"Bearer {access_token}"}
            )
        except httpx.TimeoutException as exc:
            raise ApplicationError(f"FCM timed out: {type(exc).__name__}", type="DeliveryTimeout") from None
        except httpx.TransportError as exc:
            raise ApplicationError(f"FCM unreachable: {type(exc).__name__}", type="DeliveryUnreachable") from None
        if 200 <= response.status_code < 300:
            log.info("fcm_sent", customer_id=customer_id, message_id=idempotency_key)
            return False
        self._fail(response, customer_id, access_token)

    def _fail(self, response: httpx.Response, customer_id: str, access_token: str) -> NoReturn:
        status, code = response.status_code, _error_code(response)
        log.warning("fcm_refused", customer_id=customer_id, status=status, error=code)
        if code in UNREACHABLE_CODES or (code == "INVALID_ARGUMENT" and _about_the_token(response)):
            raise ApplicationError(
                f"FCM answered {code}: push cannot reach the customer", code, type=UNREACHABLE, non_retryable=True
            )
        if status == 401:  # the access token was revoked or expired early: get another, then retry
            if self._access_token == access_token:
                self._access_token = None
            raise ApplicationError("FCM answered 401", code, type="DeliveryFailed")
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            raise ApplicationError(f"FCM answered {status} {code}", code, type="DeliveryRejected", non_retryable=True)
        raise ApplicationError(
            f"FCM answered {status} {code}",
            code,
            type="DeliveryFailed",
            next_retry_delay=retry_after(response.headers.get("Retry-After")),
        )

    async def _access(self) -> str:
        """The cached access token, or a new one from the token URL when it is about to expire."""
        async with self._token_lock:
            now = self._clock()
            if self._access_token is not None and now < self._expires_at - REFRESH_MARGIN_S:
                return self._access_token
            form = {"grant_type": JWT_BEARER_GRANT, "assertion": signed_assertion(self._account, self._token_url, now)}
            try:
                response = await self._client.post(self._token_url, data=form)
            except httpx.HTTPError as exc:
                raise ApplicationError(
                    f"FCM token URL unreachable: {type(exc).__name__}", type="DeliveryUnreachable"
                ) from None
            body = _json(response)
            access_token, expires_in = body.get("access_token"), body.get("expires_in", 3600)
            if response.status_code != 200 or not isinstance(access_token, str) or not access_token:
                error = body.get("error", "")
                retryable = response.status_code >= 500 or response.status_code in _RETRYABLE_4XX
                log.warning("fcm_token_refused", status=response.status_code, error=str(error)[:100])
                raise ApplicationError(
                    f"FCM token URL answered {response.status_code} {str(error)[:100]}",
                    type="PushAuthFailed",
                    non_retryable=not retryable,
                )
            self._access_token = access_token
            self._expires_at = now + (float(expires_in) if isinstance(expires_in, int | float) else 3600.0)
            return access_token

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


def _error_code(response: httpx.Response) -> str:
    """FCM's own error code (`details[].errorCode`), else the Google status (`error.status`)."""
    error = _json(response).get("error")
    if not isinstance(error, dict):
        return f"HTTP_{response.status_code}"
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and isinstance(detail.get("errorCode"), str):
            return str(detail["errorCode"])
    return str(error.get("status") or f"HTTP_{response.status_code}")


def _about_the_token(response: httpx.Response) -> bool:
    """An INVALID_ARGUMENT about the registration token (not about the rest of our message)."""
    error = _json(response).get("error")
    if not isinstance(error, dict):
        return False
    for detail in error.get("details") or []:
        for violation in (detail.get("fieldViolations") or []) if isinstance(detail, dict) else []:
            if isinstance(violation, dict) and str(violation.get("field", "")).endswith("token"):
                return True
    return "registration token" in str(error.get("message", "")).lower()
