"""Issue 12's flows against `recovery up` as an operator runs it: the vendors' base URLs pointed at the
stand-ins of Twilio and FCM (with Google's token endpoint) through settings, everything over real HTTP,
the demo playbook (an hour of the default is a second). One stack for every flow: it takes a while to start."""

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core.settings import Settings
from core.temporal_client import connect
from journal.sms import sms_messages_of
from journal.store import open_journal
from tests.activities.test_fcm_push import CLIENT_EMAIL, PROJECT, TOKEN_PATH, Google, unregistered
from tests.activities.test_twilio_sms import _payloads
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID, FakeTwilio, twilio_signature
from tests.starters.test_embedded_stack import PROJECT as PROJECT_DIR
from tests.starters.test_embedded_stack import Stack, descendants
from workflows.holdout import RecoveryGroup, recovery_group
from workflows.playbook import load_playbook

T = TypeVar("T")
SUMSUB_SECRET = "sumsub-secret-for-tests"
GONE_TOKEN = "fcm-token-of-an-uninstalled-app"
NEW_YORK = {"timezone": "America/New_York", "locale": "en"}  # daytime while the suite runs in UTC daytime


class Firebase(Google):
    """FCM answering as it does for an app that was uninstalled: UNREGISTERED for that token."""

    def send(self, body: dict[str, Any], authorization: str) -> tuple[int, dict[str, Any]]:
        if body.get("message", {}).get("token") == GONE_TOKEN:
            self.sends.append({"authorization": authorization, **body})
            return unregistered()
        return super().send(body, authorization)


class VendorStack(Stack):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.vendor_env: dict[str, str] = {}

    def start(self) -> subprocess.Popen[str]:
        """Its output to a file, not a pipe nobody reads (a full pipe would stop the stack)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "RECOVERY_LOG_FORMAT": "json", **self.vendor_env}
        env.pop("RECOVERY_API_TOKEN", None)
        with open(self.data_dir.parent / "up.log", "w") as log:
            self.process = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
        return self.process


def eventually(
    probe: Callable[[], T | None], what: str, explain: Callable[[], Any] = lambda: "", timeout_s: float = 45
) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.3)
    raise AssertionError(f"never: {what}\n{explain()}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VendorStack, FakeTwilio, Firebase]]:
    tmp = tmp_path_factory.mktemp("vendors")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    account = tmp / "service-account.json"
    info = {"type": "service_account", "project_id": PROJECT, "client_email": CLIENT_EMAIL, "private_key": pem.decode()}
    account.write_text(json.dumps(info))
    twilio, firebase = FakeTwilio(), Firebase(key.public_key())
    stack = VendorStack(tmp / "var")
    stack.vendor_env = {
        "RECOVERY_SMS_PROVIDER": "twilio",
        "RECOVERY_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "RECOVERY_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "RECOVERY_TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID,
        "RECOVERY_TWILIO_BASE_URL": twilio.url,
        "RECOVERY_PUBLIC_URL": stack.api(""),
        "RECOVERY_PUSH_PROVIDER": "fcm",
        "RECOVERY_FCM_SERVICE_ACCOUNT_FILE": str(account),
        "RECOVERY_FCM_BASE_URL": firebase.url,
        "RECOVERY_FCM_TOKEN_URL": firebase.url + TOKEN_PATH,
        "RECOVERY_SUMSUB_WEBHOOK_SECRET": SUMSUB_SECRET,
    }
    process = stack.start()
    try:
        stack.wait_healthy()
        yield stack, twilio, firebase
    finally:
        children = descendants(process.pid)
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            for pid in children:
                os.kill(pid, signal.SIGKILL)
            process.kill()
        twilio.close()
        firebase.close()


class Api:
    def __init__(self, stack: VendorStack) -> None:
        self.stack = stack
        self.http = httpx.Client(
            base_url=stack.api(""),
            headers={"Authorization": f"Bearer {(stack.data_dir / 'api-token').read_text().strip()}"},
            timeout=15,
        )

    def contact(self, customer_id: str, **contact: str) -> None:
        response = self.http.put(f"/v1/customers/{customer_id}/contact", json=contact)
        assert response.status_code in (200, 204), response.text

    def event(self, customer_id: str, event_type: str, **attributes: str) -> None:
        event = {
            "event_id": f"{customer_id}:{event_type}:{time.monotonic_ns()}",
            "customer_id": customer_id,
            "type": event_type,
            "occurred_at": datetime.now(UTC).isoformat(),
            "attributes": attributes,
            "profile": NEW_YORK,
        }
        response = self.http.post("/v1/events", json=event)
        assert response.status_code == 202, response.text

    def view(self, customer_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/journeys/{customer_id}")
        assert response.status_code == 200, response.text
        view: dict[str, Any] = response.json()
        return view

    def twilio(self, route: str, form: dict[str, str], signed: bool = True) -> httpx.Response:
        url = self.stack.api(f"/v1/webhooks/twilio/{route}")
        headers = {"X-Twilio-Signature": twilio_signature(url, form)} if signed else {}
        return httpx.post(url, data=form, headers=headers, timeout=15)

    def sumsub(self, customer_id: str, answer: str, reject_type: str, labels: list[str]) -> httpx.Response:
        review = {
            "type": "applicantReviewed",
            "applicantId": f"app-{customer_id}",
            "inspectionId": f"insp-{customer_id}",
            "externalUserId": customer_id,
            "reviewStatus": "completed",
            "createdAtMs": str(int(time.time() * 1000)),
            "reviewResult": {"reviewAnswer": answer, "rejectLabels": labels, "reviewRejectType": reject_type},
        }
        body = json.dumps(review).encode()
        digest = hmac.new(SUMSUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Payload-Digest": digest}
        return httpx.post(self.stack.api("/v1/webhooks/sumsub"), content=body, headers=headers, timeout=15)


async def decoded_history(stack: VendorStack, customer_id: str) -> bytes:
    settings = Settings(temporal_address=f"127.0.0.1:{stack.ports['--temporal-port']}", data_dir=stack.data_dir)
    client = await connect(settings)
    history = await client.get_workflow_handle(f"onboarding-{customer_id}").fetch_history()
    codec = client.data_converter.payload_codec
    assert codec is not None
    chunks = []
    for event in history.events:
        chunks.append(event.SerializeToString())
        chunks.extend(p.data for p in await codec.decode(list(_payloads(event))))
    return b"\n".join(chunks)


def treated(name: str) -> str:
    """A customer id of the treatment group (the holdout is never messaged) starting with `name`."""
    share = load_playbook(PROJECT_DIR / "playbooks" / "demo.toml").holdout_share
    return next(c for n in range(100) if recovery_group(c := f"{name}-{n}", share) is RecoveryGroup.TREATMENT)


@pytest.mark.timeout(240)  # the stack's start, then a minute of demo-playbook time on 2 busy cores
def test_issue_12_flows_against_recovery_up(world: tuple[VendorStack, FakeTwilio, Firebase]) -> None:
    stack, twilio, firebase = world
    api = Api(stack)
    c_push, c_gone, c_stop, c_blur, c_final = (treated(n) for n in ("c-push", "c-gone", "c-stop", "c-blur", "c-final"))
    journal = open_journal(Settings(data_dir=stack.data_dir).journal_database_url)
    api.contact(c_push, phone="+998901000001", push_token="fcm-token-of-c-push")
    api.contact(c_gone, phone="+998901000002", push_token=GONE_TOKEN)
    api.contact(c_stop, phone="+998901000003")
    api.contact(c_blur, phone="+998901000004", push_token="fcm-token-of-c-blur")
    api.contact(c_final, phone="+998901000005", push_token="fcm-token-of-c-final")
    assert api.http.get(f"/v1/customers/{c_push}/contact").json() == {"channels": ["push", "sms"]}
    for customer in (c_push, c_gone):
        api.event(customer, "onboarding.phone_verified")
    for customer in (c_blur, c_final):
        api.event(customer, "onboarding.document_uploaded")

    # A nudge reaches FCM with the customer's token, and no token is anywhere in the history.
    eventually(lambda: [s for s in firebase.sends if s["message"]["token"] == "fcm-token-of-c-push"] or None, "push")
    history = asyncio.run(decoded_history(stack, c_push))
    assert b"passport" in history, "the payloads were decoded"
    assert b"fcm-token-of-c-push" not in history and b"998901000001" not in history

    # UNREGISTERED: push is lost, the nudge goes by SMS to Twilio.
    sms = eventually(lambda: [r for r in twilio.sent if r.form["To"] == "+998901000002"] or None, "fallback SMS")
    assert sms[0].form["StatusCallback"] == stack.api("/v1/webhooks/twilio/status")
    view = api.view(c_gone)
    assert [(m["channel"], m["provider"]) for m in view["messages"]][:1] == [("sms", "twilio")]

    # Twilio's signed status callback shows in the journey view; an unsigned one is refused.
    taken = eventually(lambda: sms_messages_of(journal, c_gone) or None, "the SMS in the journal")[0]
    receipt = {"MessageSid": taken.message_sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert api.twilio("status", receipt, signed=False).status_code == 403
    assert api.twilio("status", receipt).status_code in (200, 204)

    def undelivered() -> dict[str, Any] | None:
        message = next(m for m in api.view(c_gone)["messages"] if m["message_id"] == taken.message_id)
        return message if message["delivery_status"] == "undelivered" else None

    assert eventually(undelivered, "undelivered in the view")["delivery_error"] == "30003"

    # An inbound STOP opts the customer out of SMS; a later SMS is suppressed with opted_out. Started here,
    # so the STOP follows the first SMS well before the second is due (4 s later in the demo playbook).
    api.event(c_stop, "onboarding.phone_verified")
    api.event(c_stop, "customer.opted_out", channel="push")
    eventually(
        lambda: [r for r in twilio.sent if r.form["To"] == "+998901000003"] or None,
        "the first SMS",
        lambda: (twilio.requests, api.view(c_stop)),
    )
    stop = {"MessageSid": "SMinbound1", "From": "+998901000003", "To": "+15005550006", "Body": "STOP"}
    assert api.twilio("inbound", stop, signed=False).status_code == 403
    assert api.twilio("inbound", stop).status_code == 200

    def suppressed() -> list[Any] | None:
        view = api.view(c_stop)
        found = [d for d in view["suppressed"] if d["reason"] == "opted_out"]
        return found if found and "sms" in view["opted_out"] else None

    eventually(suppressed, "the next SMS suppressed: opted_out")
    assert len([r for r in twilio.sent if r.form["To"] == "+998901000003"]) == 1

    # Sumsub: RED/RETRY BLURRY gives the blur copy; RED/FINAL opens a task and sends no nudge.
    assert api.sumsub(c_blur, "RED", "RETRY", ["BLURRY"]).status_code == 200
    assert api.sumsub(c_final, "RED", "FINAL", ["FORGERY"]).status_code == 200
    blur = eventually(
        lambda: [s for s in firebase.sends if s["message"]["token"] == "fcm-token-of-c-blur"] or None, "blur nudge"
    )
    assert "blurry" in blur[0]["message"]["notification"]["body"]
    final = eventually(lambda: api.view(c_final) if api.view(c_final)["open_task"] else None, "a task")
    assert final["open_task"]["reason"] == "final_rejection" and final["messages"] == []
    assert not [s for s in firebase.sends if s["message"]["token"] == "fcm-token-of-c-final"]
