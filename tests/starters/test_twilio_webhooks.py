"""Twilio's webhooks, authenticated by Twilio's signature: delivery receipts recorded per message,
inbound STOP / START / HELP turned into the customer's own events; the journey on the test server, the
SMS at a Twilio stand-in over real HTTP, the real journal file."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from journal.sms import consents_of, sms_messages_of
from journal.store import open_journal
from starters.api import create_app
from starters.api.twilio_webhooks import twilio_signature
from tests.activities.test_twilio_sms import PHONE, PUBLIC_URL, twilio_settings
from tests.fake_twilio import AUTH_TOKEN, FakeTwilio
from tests.fake_twilio import twilio_signature as stand_in_signature
from tests.harness import Bench, running_bench
from workflows.playbook import Playbook

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STATUS_URL = f"{PUBLIC_URL}/v1/webhooks/twilio/status"
INBOUND_URL = f"{PUBLIC_URL}/v1/webhooks/twilio/inbound"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    twilio = FakeTwilio()
    yield twilio
    twilio.close()


@pytest.fixture
async def bench(
    time_skipping_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path, twilio: FakeTwilio
) -> AsyncIterator[Bench]:
    settings = twilio_settings(tmp_path, twilio).model_copy(update={"api_token": TOKEN})
    async with running_bench(time_skipping_env, default_playbook, settings) as bench:
        yield bench


@pytest.fixture
async def http(bench: Bench) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(bench.settings, recovery=bench.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


async def post_signed(
    http: httpx.AsyncClient, url: str, form: dict[str, str], signature: str | None = "sign"
) -> httpx.Response:
    headers = {}
    if signature == "sign":
        headers["X-Twilio-Signature"] = stand_in_signature(url, form)
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    return await http.post(url.removeprefix(PUBLIC_URL), data=form, headers=headers)


def test_the_signature_is_twilios() -> None:
    """Twilio's documented example: the URL, the parameters sorted by name, HMAC-SHA1, base64."""
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030"}
    params |= {"To": "+18005551212"}
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, list(params.items())) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert stand_in_signature(url, params, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


async def sms_sent(bench: Bench, http: httpx.AsyncClient, twilio: FakeTwilio) -> str:
    """A journey whose nudge went as an SMS through Twilio; its MessageSid."""
    response = await http.put(f"/v1/customers/{bench.customer_id}/contact", json={"phone": PHONE}, headers=AUTH)
    assert response.status_code == 200
    await bench.send("onboarding.phone_verified")
    await bench.send("customer.opted_out", channel="push")
    await bench.skip(hours=2)
    assert [r.form["To"] for r in twilio.sent] == [PHONE]
    [taken] = sms_messages_of(open_journal(bench.settings.journal_database_url), bench.customer_id)
    return taken.message_sid


async def test_a_signed_status_callback_is_recorded_and_an_unsigned_one_is_403(
    bench: Bench, http: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    sid = await sms_sent(bench, http, twilio)
    journal = open_journal(bench.settings.journal_database_url)
    undelivered = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003", "AccountSid": "AC1"}
    assert (await post_signed(http, STATUS_URL, undelivered, signature=None)).status_code == 403
    assert (await post_signed(http, STATUS_URL, undelivered, signature="bm90IGl0")).status_code == 403
    forged = stand_in_signature(STATUS_URL, {**undelivered, "ErrorCode": "0"})
    assert (await post_signed(http, STATUS_URL, undelivered, signature=forged)).status_code == 403
    assert [m.status for m in sms_messages_of(journal, bench.customer_id)] == ["queued"], "nothing recorded"

    response = await post_signed(http, STATUS_URL, undelivered)
    assert response.status_code == 204, response.text
    [message] = sms_messages_of(journal, bench.customer_id)
    assert (message.status, message.error_code) == ("undelivered", "30003")
    view = await bench.view()
    assert message.message_id == view.messages[0].message_id, "the receipt names the journey's message"
    assert (view.messages[0].delivery_status, view.messages[0].delivery_error) == ("undelivered", "30003")
    assert view.nudges_sent == 0 and view.attempts_at_stage == 0, "an undelivered nudge is no attempt"
    assert ("failed", "sms_undelivered") in [(d.action, d.reason) for d in view.decisions]
    late = await post_signed(http, STATUS_URL, {"MessageSid": sid, "MessageStatus": "sent"})
    assert late.status_code == 204
    assert sms_messages_of(journal, bench.customer_id)[0].status == "undelivered", "a status never goes back"
    await bench.view()  # the journey has taken the late receipt before the bench ends it


async def test_an_inbound_stop_opts_the_customer_out_of_sms_and_later_sms_are_suppressed(
    bench: Bench, http: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    await sms_sent(bench, http, twilio)
    stop = {"MessageSid": "SMinbound0001", "From": PHONE, "To": "+15005550006", "Body": " Stop "}
    assert (await post_signed(http, INBOUND_URL, stop, signature=None)).status_code == 403
    assert (await bench.view()).opted_out == ["push"], "an unsigned STOP changes nothing"
    assert consents_of(open_journal(bench.settings.journal_database_url), bench.customer_id) == []

    response = await post_signed(http, INBOUND_URL, stop)
    assert response.status_code == 200 and "<Response>" in response.text
    await bench.skip(seconds=1)
    view = await bench.view()
    assert view.opted_out == ["push", "sms"]
    [consent] = consents_of(open_journal(bench.settings.journal_database_url), bench.customer_id)
    assert (consent.channel, consent.opted_out, consent.how, consent.words) == ("sms", True, "inbound_sms", "Stop")
    assert ("customer.opted_out", "opted_out: sms (STOP)") in [(e.type, e.detail) for e in view.events], (
        "the journey records the words received"
    )
    assert (await post_signed(http, INBOUND_URL, stop)).status_code == 200, "Twilio's retry is harmless"

    await bench.skip(hours=30)
    assert len(twilio.requests) == 1, "no SMS after STOP"
    view = await bench.view()
    assert ("suppressed", "opted_out") in [(d.action, d.reason) for d in view.suppressed]

    start = {"MessageSid": "SMinbound0002", "From": PHONE, "To": "+15005550006", "Body": "START"}
    assert (await post_signed(http, INBOUND_URL, start)).status_code == 200
    await bench.skip(seconds=1)
    assert (await bench.view()).opted_out == ["push"]


async def test_help_opens_a_help_request_and_an_unknown_sender_is_acknowledged(
    bench: Bench, http: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    await sms_sent(bench, http, twilio)
    help_ = {"MessageSid": "SMinbound0003", "From": PHONE, "Body": "help"}
    assert (await post_signed(http, INBOUND_URL, help_)).status_code == 200
    await bench.skip(seconds=1)
    view = await bench.view()
    assert [t.kind for t in view.tasks] == ["help_request"]
    stranger = {"MessageSid": "SMinbound0004", "From": "+15550001111", "Body": "STOP"}
    assert (await post_signed(http, INBOUND_URL, stranger)).status_code == 200


async def test_without_twilio_configured_the_webhooks_answer_403(bench: Bench) -> None:
    app = create_app(bench.settings.model_copy(update={"public_url": None}), recovery=bench.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
        assert (await post_signed(http, STATUS_URL, form)).status_code == 403
    assert AUTH_TOKEN  # the stand-in's token is the one the bench's settings hold
