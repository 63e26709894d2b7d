"""A second SMS provider when the first keeps failing (RECOVERY_SMS_FAILOVER_PROVIDER): the first is a
vendor gateway stand-in answering 5xx, the failover the Twilio stand-in, both over real HTTP; the
journey records which provider sent each message."""

import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.contacts import JournalContactDirectory
from activities.messaging import MessagingActivities
from activities.outbox import OutboxProvider
from activities.sms_failover import SmsFailover
from activities.twilio_sms import TwilioSms
from activities.webhook import WebhookProvider
from core.settings import Settings
from journal.contacts import save_contact
from journal.sms import sms_messages_of
from journal.store import migrate, open_journal
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID, FakeTwilio, TwilioReply
from tests.fake_vendor import FakeVendor
from tests.harness import Bench, bench_settings, running_bench
from workflows.contracts import OutboundMessage
from workflows.playbook import Playbook

PHONE = "+998901234567"
PUBLIC_URL = "https://recovery.example.com"


@pytest.fixture
def gateway() -> Iterator[FakeVendor]:
    vendor = FakeVendor()
    yield vendor
    vendor.close()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    twilio = FakeTwilio()
    yield twilio
    twilio.close()


def sms(customer_id: str = "c-1", n: int = 1) -> OutboundMessage:
    return OutboundMessage(
        message_id=f"onboarding-{customer_id}:abcd1234:m{n}",
        customer_id=customer_id,
        workflow_id=f"onboarding-{customer_id}",
        channel="sms",
        kind="nudge",
        stage="phone_verified",
        attempt=1,
        text="One more step",
        created_at=datetime.now(UTC),
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def setup(
    gateway: FakeVendor, twilio: FakeTwilio, tmp_path: Path
) -> AsyncIterator[tuple[MessagingActivities, SmsFailover, Clock]]:
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}")
    migrate(journal)
    save_contact(journal, "c-1", datetime.now(UTC), {"phone": PHONE})
    second = TwilioSms(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        sender=MESSAGING_SERVICE_SID,
        contacts=JournalContactDirectory(journal),
        journal=journal,
        public_url=PUBLIC_URL,
        base_url=twilio.url,
    )
    clock = Clock()
    failover = SmsFailover(WebhookProvider(gateway.url), second, after=2, cooldown=timedelta(minutes=5), clock=clock)
    outbox = OutboxProvider(tmp_path / "outbox")
    messaging = MessagingActivities(push=outbox, sms=failover.first, staff=outbox, sms_failover=failover)
    yield messaging, failover, clock
    await messaging.aclose()


async def attempt(messaging: MessagingActivities, message: OutboundMessage, n: int) -> str:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=n)
    receipt = await env.run(messaging.send_sms, message)
    return receipt.provider


async def test_a_message_the_first_provider_keeps_failing_goes_out_through_the_failover(
    setup: tuple[MessagingActivities, SmsFailover, Clock], gateway: FakeVendor, twilio: FakeTwilio
) -> None:
    messaging, _, _ = setup
    gateway.scripted_statuses = [503]
    with pytest.raises(ApplicationError) as caught:
        await attempt(messaging, sms(), 1)
    assert not caught.value.non_retryable, "the activity's retry takes it on"
    assert await attempt(messaging, sms(), 2) == "webhook", "one failure is not enough"
    gateway.scripted_statuses = [502, 500]
    assert await attempt(messaging, sms(n=2), 3) == "twilio", "attempts past the limit go to the failover"
    [sent] = twilio.sent
    assert sent.form["To"] == PHONE


async def test_a_provider_that_keeps_failing_is_set_aside_then_tried_again(
    setup: tuple[MessagingActivities, SmsFailover, Clock], gateway: FakeVendor, twilio: FakeTwilio
) -> None:
    messaging, _, clock = setup
    gateway.scripted_statuses = [503, 504]
    for n in (1, 2):
        with pytest.raises(ApplicationError):
            await attempt(messaging, sms(n=n), 1)
    # Two failures in a row: the next messages go straight to the failover, even on their first attempt.
    assert await attempt(messaging, sms(n=3), 1) == "twilio"
    assert len(gateway.requests) == 2
    clock.now += 301
    assert await attempt(messaging, sms(n=4), 1) == "webhook", "after the cool-down the first is tried again"


async def test_the_customers_answers_are_no_reason_to_fail_over(
    setup: tuple[MessagingActivities, SmsFailover, Clock], gateway: FakeVendor, twilio: FakeTwilio
) -> None:
    messaging, failover, _ = setup
    gateway.scripted_statuses = [400, 422, 400]
    for n in (1, 2, 3):
        with pytest.raises(ApplicationError) as caught:
            await attempt(messaging, sms(n=n), 1)
        assert caught.value.non_retryable
    assert failover.provider_for(1) is failover.first, "a refused request is not the vendor failing"
    # Nor is a number that cannot take SMS, at either provider.
    twilio.scripted = [TwilioReply(400, 21614)]
    with pytest.raises(ApplicationError) as unreachable:
        await attempt(messaging, sms(n=4), 3)
    assert unreachable.value.type == "ChannelUnreachable"
    assert failover.provider_for(1) is failover.first


async def test_a_message_the_first_provider_took_after_all_is_not_sent_again_by_the_failover(
    gateway: FakeVendor, twilio: FakeTwilio, tmp_path: Path
) -> None:
    journal = open_journal(f"sqlite:///{tmp_path / 'journal.db'}")
    migrate(journal)
    save_contact(journal, "c-1", datetime.now(UTC), {"phone": PHONE})
    first = TwilioSms(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        sender=MESSAGING_SERVICE_SID,
        contacts=JournalContactDirectory(journal),
        journal=journal,
        public_url=PUBLIC_URL,
        base_url=twilio.url,
    )
    failover = SmsFailover(first, WebhookProvider(gateway.url), after=2)
    outbox = OutboxProvider(tmp_path / "outbox")
    messaging = MessagingActivities(push=outbox, sms=first, staff=outbox, sms_failover=failover)
    # Twilio took the message on attempt 2, but that attempt's result was lost (the activity timed out).
    assert await attempt(messaging, sms(), 2) == "twilio"
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=3)
    receipt = await env.run(messaging.send_sms, sms())
    assert (receipt.provider, receipt.duplicate) == ("twilio", True)
    assert gateway.requests == [] and len(twilio.sent) == 1
    # One Twilio has no record of goes to the failover.
    assert await attempt(messaging, sms(n=2), 3) == "webhook"
    await messaging.aclose()


def test_the_failover_needs_its_own_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RECOVERY_SMS_FAILOVER_PROVIDER=outbox is the SMS provider itself"):
        Settings(data_dir=tmp_path, sms_failover_provider="outbox")
    with pytest.raises(ValueError, match="RECOVERY_SMS_FAILOVER_PROVIDER=webhook needs RECOVERY_SMS_WEBHOOK_URL"):
        Settings(data_dir=tmp_path, sms_failover_provider="webhook")
    with pytest.raises(ValueError, match=r"FAILOVER_PROVIDER=twilio needs RECOVERY_TWILIO_ACCOUNT_SID"):
        Settings(data_dir=tmp_path, sms_failover_provider="twilio")
    with pytest.raises(ValueError, match="sms_failover_after"):
        Settings(data_dir=tmp_path, sms_failover_after=0)
    assert Settings(data_dir=tmp_path, sms_failover_provider="outbox", sms_webhook_url="http://sms.example")


# -- a journey, end to end ------------------------------------------------------------------------


@pytest.fixture
async def failover_bench(
    time_skipping_env: WorkflowEnvironment,
    default_playbook: Playbook,
    tmp_path: Path,
    gateway: FakeVendor,
    twilio: FakeTwilio,
) -> AsyncIterator[Bench]:
    settings = bench_settings(
        tmp_path,
        sms_provider="webhook",
        sms_webhook_url=gateway.url,
        sms_failover_provider="twilio",
        sms_failover_after=2,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_messaging_service_sid=MESSAGING_SERVICE_SID,
        twilio_base_url=twilio.url,
        public_url=PUBLIC_URL,
    )
    async with running_bench(time_skipping_env, default_playbook, settings) as bench:
        yield bench


async def test_the_journey_records_that_the_failover_sent_its_sms(
    failover_bench: Bench, gateway: FakeVendor, twilio: FakeTwilio
) -> None:
    bench = failover_bench
    journal = open_journal(bench.settings.journal_database_url)
    save_contact(journal, bench.customer_id, datetime.now(UTC), {"phone": PHONE})
    gateway.scripted_statuses = [503] * 50
    await bench.send("onboarding.phone_verified")
    await bench.send("customer.opted_out", channel="push")
    await bench.skip(hours=2)
    view = await bench.view()
    [message] = view.messages
    assert (message.channel, message.provider) == ("sms", "twilio")
    assert len(gateway.requests) == 2 and len(twilio.sent) == 1
    [sent] = [d for d in view.decisions if d.action == "sent"]
    assert sent.detail == "nudge 1 via twilio"
    [taken] = sms_messages_of(journal, bench.customer_id)
    assert (taken.message_id, taken.provider) == (message.message_id, "twilio")
