"""Push through FCM HTTP v1 against stand-ins of FCM and Google's token endpoint, over real HTTP.

The token stand-in checks what Google checks: the JWT bearer grant, the assertion's RS256 signature by
the test service account's public key, its `aud` (the token URL), `iss` and scope. The FCM stand-in
checks the access token, the project in the path, the message's shape (data values strings only)
and answers as FCM does, `UNREGISTERED` included.
"""

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.fcm_push import JWT_BEARER_GRANT, SCOPE, FcmPush, ServiceAccount, ServiceAccountError
from activities.messaging import MessagingActivities
from activities.outbox import OutboxProvider
from core.settings import Settings
from journal.contacts import Contact
from workflows.contracts import OutboundMessage

PROJECT = "recovery-test"
CLIENT_EMAIL = "pusher@recovery-test.iam.gserviceaccount.com"
TOKEN_PATH = "/token"


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass
class Google:
    """Google's token endpoint and FCM's send endpoint on one local server."""

    public_key: rsa.RSAPublicKey
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    sends: list[dict[str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    scripted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        google = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == TOKEN_PATH:
                    self._answer(*google.token(body.decode(), self.headers.get("Content-Type", "")))
                elif self.path == f"/v1/projects/{PROJECT}/messages:send":
                    self._answer(*google.send(json.loads(body), self.headers.get("Authorization", "")))
                else:
                    self._answer(404, {"error": {"code": 404, "status": "NOT_FOUND"}})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(body).encode())

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def token(self, form: str, content_type: str) -> tuple[int, dict[str, Any]]:
        fields = {k: v[0] for k, v in parse_qs(form).items()}
        self.token_requests.append(fields)
        if content_type != "application/x-www-form-urlencoded" or fields.get("grant_type") != JWT_BEARER_GRANT:
            return 400, {"error": "unsupported_grant_type"}
        header_b64, claims_b64, signature_b64 = fields["assertion"].split(".")
        try:
            self.public_key.verify(
                _b64decode(signature_b64), f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        header, claims = json.loads(_b64decode(header_b64)), json.loads(_b64decode(claims_b64))
        if header.get("alg") != "RS256" or claims.get("aud") != self.url + TOKEN_PATH:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: aud or alg"}
        if claims.get("iss") != CLIENT_EMAIL or claims.get("scope") != SCOPE:
            return 400, {"error": "invalid_scope"}
        if not claims["iat"] <= datetime.now(UTC).timestamp() + 5 < claims["exp"] <= claims["iat"] + 3600:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: iat/exp"}
        self.issued.append(f"ya29.access-{len(self.issued) + 1}")
        return 200, {"access_token": self.issued[-1], "expires_in": 3599, "token_type": "Bearer"}

    def send(self, body: dict[str, Any], authorization: str) -> tuple[int, dict[str, Any]]:
        if authorization.removeprefix("Bearer ") not in self.issued:
            return 401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}
        self.sends.append({"authorization": authorization, **body})
        message = body["message"]
        assert set(message) <= {"token", "notification", "data"}
        assert all(isinstance(value, str) for value in message["data"].values())
        if self.scripted:
            return self.scripted.pop(0)
        return 200, {"name": f"projects/{PROJECT}/messages/0:{len(self.sends)}"}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def unregistered() -> tuple[int, dict[str, Any]]:
    return 404, {
        "error": {
            "code": 404,
            "message": "Requested entity was not found.",
            "status": "NOT_FOUND",
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}],
        }
    }


class Contacts:
    """The contact directory's interface, in memory."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.tokens = tokens

    async def contact(self, customer_id: str) -> Contact | None:
        token = self.tokens.get(customer_id)
        return Contact(push_token=token) if token else None

    async def customer_with_phone(self, phone: str) -> str | None:
        return None


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def google(key: rsa.RSAPrivateKey) -> Iterator[Google]:
    stand_in = Google(key.public_key())
    yield stand_in
    stand_in.close()


@pytest.fixture
def account_file(tmp_path: Path, key: rsa.RSAPrivateKey) -> Path:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path / "service-account.json"
    info = {"type": "service_account", "project_id": PROJECT, "client_email": CLIENT_EMAIL, "private_key": pem.decode()}
    path.write_text(json.dumps(info))
    return path


def push(google: Google, account_file: Path, tokens: dict[str, str]) -> FcmPush:
    return FcmPush.from_file(account_file, Contacts(tokens), base_url=google.url, token_url=google.url + TOKEN_PATH)


def nudge(customer_id: str, n: int = 1) -> OutboundMessage:
    return OutboundMessage(
        message_id=f"onboarding-{customer_id}:abcd1234:m{n}",
        customer_id=customer_id,
        workflow_id=f"onboarding-{customer_id}",
        channel="push",
        kind="nudge",
        stage="phone_verified",
        attempt=n,
        text="One more step: a photo of your passport. Tips inside.",
        deep_link="app://onboarding/document",
        created_at=datetime.now(UTC),
    )


async def test_a_nudge_reaches_fcm_with_the_customers_token_and_the_access_token_is_reused(
    google: Google, account_file: Path, tmp_path: Path
) -> None:
    provider = push(google, account_file, {"c-42": "fcm-token-of-c-42"})
    messaging = MessagingActivities(
        push=provider, sms=OutboxProvider(tmp_path / "o"), staff=OutboxProvider(tmp_path / "s")
    )
    env = ActivityEnvironment()
    first = await env.run(messaging.send_push, nudge("c-42", 1))
    second = await env.run(messaging.send_push, nudge("c-42", 2))
    await provider.aclose()
    assert (first.provider, first.duplicate, second.message_id) == ("fcm", False, "onboarding-c-42:abcd1234:m2")
    assert len(google.token_requests) == 1, "the cached access token is reused"
    assert [s["authorization"] for s in google.sends] == ["Bearer ya29.access-1"] * 2
    message = google.sends[0]["message"]
    assert message["token"] == "fcm-token-of-c-42"
    assert message["notification"] == {"body": "One more step: a photo of your passport. Tips inside."}
    assert message["data"] == {
        "message_id": "onboarding-c-42:abcd1234:m1",
        "customer_id": "c-42",
        "kind": "nudge",
        "stage": "phone_verified",
        "attempt": "1",
        "deep_link": "app://onboarding/document",
        "channel": "push",
    }


async def test_an_access_token_about_to_expire_is_renewed(google: Google, account_file: Path) -> None:
    clock = [datetime.now(UTC).timestamp() - (3599 - 30)]  # an hour ago, so the renewal is signed now
    provider = FcmPush(
        account=ServiceAccount.load(account_file),
        contacts=Contacts({"c-1": "t-1"}),
        base_url=google.url,
        token_url=google.url + TOKEN_PATH,
        clock=lambda: clock[0],
    )
    await provider.deliver("m-1", {"customer_id": "c-1", "text": "hi"})
    clock[0] += 3599 - 30  # inside the refresh margin: renewed before FCM would refuse it
    google.issued.clear()  # the old token no longer works at the stand-in either
    await provider.deliver("m-2", {"customer_id": "c-1", "text": "hi"})
    await provider.aclose()
    assert len(google.token_requests) == 2
    assert google.sends[-1]["authorization"] == "Bearer ya29.access-1"


async def test_unregistered_makes_push_unreachable_not_retryable(google: Google, account_file: Path) -> None:
    provider = push(google, account_file, {"c-7": "stale-token"})
    google.scripted.append(unregistered())
    with pytest.raises(ApplicationError) as raised:
        await provider.deliver("m-1", {"customer_id": "c-7", "text": "hi"})
    assert (raised.value.type, raised.value.non_retryable) == ("ChannelUnreachable", True)
    assert "stale-token" not in str(raised.value) and "stale-token" not in repr(raised.value.details)
    google.scripted.append(
        (
            400,
            {
                "error": {
                    "code": 400,
                    "status": "INVALID_ARGUMENT",
                    "message": "The registration token is not a valid FCM registration token",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                            "errorCode": "INVALID_ARGUMENT",
                        }
                    ],
                }
            },
        )
    )
    with pytest.raises(ApplicationError) as raised:
        await provider.deliver("m-2", {"customer_id": "c-7", "text": "hi"})
    assert (raised.value.type, raised.value.non_retryable) == ("ChannelUnreachable", True)
    await provider.aclose()


async def test_a_customer_without_a_push_token_is_unreachable_and_fcm_is_not_called(
    google: Google, account_file: Path
) -> None:
    provider = push(google, account_file, {})
    with pytest.raises(ApplicationError) as raised:
        await provider.deliver("m-1", {"customer_id": "c-none", "text": "hi"})
    await provider.aclose()
    assert (raised.value.type, raised.value.non_retryable) == ("ChannelUnreachable", True)
    assert google.sends == [] and google.token_requests == []


@pytest.mark.parametrize(
    ("status", "code", "headers_retry", "error_type", "non_retryable"),
    [
        (429, "QUOTA_EXCEEDED", True, "DeliveryFailed", False),
        (503, "UNAVAILABLE", False, "DeliveryFailed", False),
        (400, "INVALID_ARGUMENT", False, "DeliveryRejected", True),  # about our message, not the token
        (403, "SENDER_ID_MISMATCH", False, "ChannelUnreachable", True),
    ],
)
async def test_fcm_errors_the_fcm_way(
    google: Google,
    account_file: Path,
    status: int,
    code: str,
    headers_retry: bool,
    error_type: str,
    non_retryable: bool,
) -> None:
    provider = push(google, account_file, {"c-1": "t-1"})
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]
    google.scripted.append((status, {"error": {"code": status, "status": code, "message": "x", "details": details}}))
    with pytest.raises(ApplicationError) as raised:
        await provider.deliver("m-1", {"customer_id": "c-1", "text": "hi"})
    await provider.aclose()
    assert (raised.value.type, raised.value.non_retryable) == (error_type, non_retryable)


async def test_a_token_signed_by_another_key_is_refused_by_the_token_endpoint(google: Google, tmp_path: Path) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"project_id": PROJECT, "client_email": CLIENT_EMAIL, "private_key": pem.decode()}))
    provider = push(google, path, {"c-1": "t-1"})
    with pytest.raises(ApplicationError) as raised:
        await provider.deliver("m-1", {"customer_id": "c-1", "text": "hi"})
    await provider.aclose()
    assert (raised.value.type, raised.value.non_retryable) == ("PushAuthFailed", True)
    assert google.sends == []


def test_a_bad_service_account_file_is_named_without_its_key(tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({"project_id": PROJECT, "client_email": CLIENT_EMAIL, "private_key": "-----BEGIN x"}))
    with pytest.raises(ServiceAccountError, match="not an unencrypted PEM key") as raised:
        ServiceAccount.load(path)
    assert "BEGIN" not in str(raised.value)
    with pytest.raises(ServiceAccountError, match="cannot read"):
        ServiceAccount.load(tmp_path / "missing.json")


def test_the_push_settings(tmp_path: Path, account_file: Path) -> None:
    assert Settings(_env_file=None).push_provider_name == "outbox"
    assert Settings(_env_file=None, push_webhook_url="https://push.example.com").push_provider_name == "webhook"
    fcm = Settings(_env_file=None, push_provider="fcm", fcm_service_account_file=account_file)
    assert (fcm.fcm_base_url, fcm.fcm_token_url) == (
        "https://fcm.googleapis.com",
        "https://oauth2.googleapis.com/token",
    )
    for bad in (
        {"push_provider": "fcm"},
        {"push_provider": "fcm", "fcm_service_account_file": tmp_path / "missing.json"},
        {"push_provider": "webhook"},
        {"fcm_base_url": "fcm.googleapis.com"},
    ):
        with pytest.raises(ValueError, match=r"RECOVERY_(PUSH|FCM)"):
            Settings(_env_file=None, **bad)


def test_the_worker_sends_push_through_fcm_when_the_setting_says_so(tmp_path: Path, account_file: Path) -> None:
    from workers.worker import _push

    outbox = OutboxProvider(tmp_path / "outbox.jsonl")
    settings = Settings(_env_file=None, data_dir=tmp_path, push_provider="fcm", fcm_service_account_file=account_file)
    assert isinstance(_push(settings, outbox), FcmPush)
    assert _push(Settings(_env_file=None, data_dir=tmp_path), outbox) is outbox
