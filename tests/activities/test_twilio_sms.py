"""SMS through Twilio's Messages API, against a stand-in over real HTTP, with the real journal file:
the number comes from the contact directory at send time and never enters the journey's history."""

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from sqlalchemy import Engine
from temporalio.api.common.v1 import Payload
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.contacts import JournalContactDirectory
from activities.twilio_sms import TwilioSms
from core.settings import Settings
from journal.contacts import save_contact
from journal.sms import consents_of, opted_out_of, sms_messages_of
from journal.store import migrate, open_journal
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID, FakeTwilio, TwilioReply
from tests.harness import Bench, bench_settings, running_bench
from workflows.journey import workflow_id_for
from workflows.playbook import Playbook

PHONE = "+998901234567"
PUBLIC_URL = "https://recovery.example.com"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    twilio = FakeTwilio()
    yield twilio
    twilio.close()


@pytest.fixture
def journal(tmp_path: Path) -> Engine:
    engine = open_journal(f"sqlite:///{tmp_path / 'journal.db'}")
    migrate(engine)
    return engine


def provider(twilio: FakeTwilio, journal: Engine, sender: str = MESSAGING_SERVICE_SID) -> TwilioSms:
    return TwilioSms(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        sender=sender,
        contacts=JournalContactDirectory(journal),
        journal=journal,
        public_url=PUBLIC_URL,
        base_url=twilio.url,
    )


def message(customer_id: str = "c-1", message_id: str = "onboarding-c-1:abcd:m1") -> dict[str, Any]:
    return {"customer_id": customer_id, "message_id": message_id, "text": "One more step", "channel": "sms"}


async def test_the_message_goes_to_the_number_in_the_directory(twilio: FakeTwilio, journal: Engine) -> None:
    save_contact(journal, "c-1", datetime.now(UTC), {"phone": PHONE})
    sms = provider(twilio, journal)
    assert await sms.deliver("onboarding-c-1:abcd:m1", message()) is False
    [request] = twilio.requests
    assert request.form == {
        "To": PHONE,
        "MessagingServiceSid": MESSAGING_SERVICE_SID,
        "Body": "One more step",
        "StatusCallback": f"{PUBLIC_URL}/v1/webhooks/twilio/status",
    }
    [taken] = sms_messages_of(journal, "c-1")
    assert (taken.message_id, taken.status) == ("onboarding-c-1:abcd:m1", "queued")
    assert taken.message_sid.startswith("SM")
    # A retried activity: the journal knows the message was taken; Twilio is not asked again.
    assert await sms.deliver("onboarding-c-1:abcd:m1", message()) is True
    assert len(twilio.requests) == 1
    await sms.aclose()


async def test_a_sender_number_goes_as_from(twilio: FakeTwilio, journal: Engine) -> None:
    save_contact(journal, "c-1", datetime.now(UTC), {"phone": PHONE})
    await provider(twilio, journal, sender="+15005550006").deliver("m1", message())
    assert twilio.requests[0].form["From"] == "+15005550006"
    assert "MessagingServiceSid" not in twilio.requests[0].form


async def test_21610_is_an_opt_out_of_sms(twilio: FakeTwilio, journal: Engine) -> None:
    save_contact(journal, "c-1", datetime.now(UTC), {"phone": PHONE})
    twilio.scripted = [TwilioReply(400, 21610)]
    with pytest.raises(ApplicationError) as caught:
        await provider(twilio, journal).deliver("m1", message())
    assert caught.value.type == "ChannelOptedOut" and caught.value.non_retryable
    assert PHONE not in caught.value.message
    [consent] = consents_of(journal, "c-1")
    assert (consent.channel, consent.opted_out, consent.how) == ("sms", True, "twilio_21610")
    # Later messages are refused here too, without asking Twilio.
    with pytest.raises(ApplicationError) as again:
        await provider(twilio, journal).deliver("m2", message(message_id="m2"))
    assert again.value.type == "ChannelOptedOut" and len(twilio.requests) == 1


@pytest.mark.parametrize("code", [21211, 21614])
async def test_an_invalid_or_landline_number_makes_sms_unreachable(
    twilio: FakeTwilio, journal: Engine, code: int
) -> None:
    save_contact(journal, "c-1", datetime.now(UTC), {"phone": PHONE})
    twilio.scripted = [TwilioReply(400, code)]
    with pytest.raises(ApplicationError) as caught:
        await provider(twilio, journal).deliver("m1", message())
    assert caught.value.type == "ChannelUnreachable" and caught.value.non_retryable
    assert str(code) in caught.value.message and PHONE not in caught.value.message
    assert not opted_out_of(journal, "c-1", "sms")


async def test_a_customer_without_a_number_is_unreachable_by_sms(twilio: FakeTwilio, journal: Engine) -> None:
    with pytest.raises(ApplicationError) as caught:
        await provider(twilio, journal).deliver("m1", message())
    assert caught.value.type == "ChannelUnreachable" and caught.value.non_retryable
    assert twilio.requests == []


@pytest.mark.parametrize(("status", "retry_after", "delay"), [(429, "7", 7), (503, "2", 2), (500, None, None)])
async def test_throttling_and_outages_are_retried_after_what_twilio_asks(
    twilio: FakeTwilio, journal: Engine, status: int, retry_after: str | None, delay: int | None
) -> None:
    save_contact(journal, "c-1", datetime.now(UTC), {"phone": PHONE})
    twilio.scripted = [TwilioReply(status, 20429 if status == 429 else None, retry_after)]
    with pytest.raises(ApplicationError) as caught:
        await provider(twilio, journal).deliver("m1", message())
    assert not caught.value.non_retryable
    assert caught.value.next_retry_delay == (timedelta(seconds=delay) if delay is not None else None)


async def test_other_refusals_are_final(twilio: FakeTwilio, journal: Engine) -> None:
    save_contact(journal, "c-1", datetime.now(UTC), {"phone": PHONE})
    twilio.scripted = [TwilioReply(400, 21602)]
    with pytest.raises(ApplicationError) as caught:
        await provider(twilio, journal).deliver("m1", message())
    assert caught.value.type == "DeliveryRejected" and caught.value.non_retryable


def test_twilio_needs_its_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"RECOVERY_TWILIO_ACCOUNT_SID.*RECOVERY_PUBLIC_URL"):
        Settings(data_dir=tmp_path, sms_provider="twilio", twilio_auth_token="x", twilio_messaging_service_sid="MG1")
    assert Settings(data_dir=tmp_path).sms_provider_name == "outbox"
    assert Settings(data_dir=tmp_path, sms_webhook_url="http://sms.example").sms_provider_name == "webhook"


# -- a journey, end to end ------------------------------------------------------------------------


def twilio_settings(tmp_path: Path, twilio: FakeTwilio) -> Settings:
    return bench_settings(
        tmp_path,
        sms_provider="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_messaging_service_sid=MESSAGING_SERVICE_SID,
        twilio_base_url=twilio.url,
        public_url=PUBLIC_URL,
    )


@pytest.fixture
async def twilio_bench(
    time_skipping_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path, twilio: FakeTwilio
) -> AsyncIterator[Bench]:
    async with running_bench(time_skipping_env, default_playbook, twilio_settings(tmp_path, twilio)) as bench:
        yield bench


def _payloads(message: Message) -> Iterator[Payload]:
    """Every payload anywhere in a history event (inputs, results, failures, search attributes, memo)."""
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            items = list(value.values())
        elif isinstance(value, Message):
            items = [value]
        else:
            items = list(value)
        for item in items:
            if isinstance(item, Payload):
                yield item
            elif isinstance(item, Message):
                yield from _payloads(item)


async def history_text(bench: Bench, customer_id: str) -> bytes:
    """The journey's history as the client fetches it: every event's bytes and every payload decoded."""
    client = bench.env.client
    history = await client.get_workflow_handle(workflow_id_for(customer_id)).fetch_history()
    codec = client.data_converter.payload_codec
    assert codec is not None
    chunks = []
    for event in history.events:
        chunks.append(event.SerializeToString())
        payloads = list(_payloads(event))
        chunks.extend(p.data for p in await codec.decode(payloads))
    return b"\n".join(chunks)


async def test_a_journeys_sms_reaches_twilio_with_the_number_from_the_directory_and_no_number_in_history(
    twilio_bench: Bench, twilio: FakeTwilio
) -> None:
    bench = twilio_bench
    journal = open_journal(bench.settings.journal_database_url)
    save_contact(journal, bench.customer_id, datetime.now(UTC), {"phone": PHONE, "push_token": "tok-secret"})
    await bench.send("onboarding.phone_verified")
    await bench.send("customer.opted_out", channel="push")
    await bench.skip(hours=2)
    [request] = twilio.sent
    assert request.form["To"] == PHONE and request.form["MessagingServiceSid"] == MESSAGING_SERVICE_SID
    view = await bench.view()
    assert [(m.channel, m.kind) for m in view.messages] == [("sms", "nudge")]
    [taken] = sms_messages_of(journal, bench.customer_id)
    assert taken.message_id == view.messages[0].message_id
    text = await history_text(bench, bench.customer_id)
    assert b"One more step" in text or b"passport" in text, "the payloads were decoded"
    assert PHONE.encode() not in text and PHONE[1:].encode() not in text and b"tok-secret" not in text


async def test_twilio_21610_opts_the_journey_out_of_sms(twilio_bench: Bench, twilio: FakeTwilio) -> None:
    bench = twilio_bench
    journal = open_journal(bench.settings.journal_database_url)
    save_contact(journal, bench.customer_id, datetime.now(UTC), {"phone": PHONE})
    twilio.scripted = [TwilioReply(400, 21610)]
    await bench.send("onboarding.phone_verified")
    await bench.send("customer.opted_out", channel="push")
    await bench.skip(hours=2)
    view = await bench.view()
    assert view.opted_out == ["push", "sms"]
    assert view.status == "opted_out"
    assert [c.how for c in consents_of(journal, bench.customer_id)] == ["twilio_21610"]
    await bench.skip(hours=30)
    assert len(twilio.requests) == 1, "no SMS after the opt-out"
    view = await bench.view()
    assert ("suppressed", "opted_out") in [(d.action, d.reason) for d in view.suppressed]
