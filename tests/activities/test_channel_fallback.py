"""A journey whose push token FCM no longer knows falls back to SMS at once (stand-ins of FCM and Twilio)."""

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from temporalio.testing import WorkflowEnvironment

from journal.contacts import save_contact
from journal.store import open_journal
from tests.activities.test_fcm_push import TOKEN_PATH, Google, unregistered
from tests.activities.test_fcm_push import account_file as account_file  # the fixtures, by name
from tests.activities.test_fcm_push import google as google
from tests.activities.test_fcm_push import key as key
from tests.activities.test_twilio_sms import PHONE, PUBLIC_URL, history_text
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID, FakeTwilio
from tests.harness import Bench, bench_settings, running_bench
from workflows.playbook import Playbook

PUSH_TOKEN = "fcm-token-of-the-customer"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    stand_in = FakeTwilio()
    yield stand_in
    stand_in.close()


@pytest.fixture
async def vendors_bench(
    time_skipping_env: WorkflowEnvironment,
    default_playbook: Playbook,
    tmp_path: Path,
    google: Google,
    account_file: Path,
    twilio: FakeTwilio,
    key: rsa.RSAPrivateKey,
) -> AsyncIterator[Bench]:
    settings = bench_settings(
        tmp_path,
        push_provider="fcm",
        fcm_service_account_file=account_file,
        fcm_base_url=google.url,
        fcm_token_url=google.url + TOKEN_PATH,
        sms_provider="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_messaging_service_sid=MESSAGING_SERVICE_SID,
        twilio_base_url=twilio.url,
        public_url=PUBLIC_URL,
    )
    async with running_bench(time_skipping_env, default_playbook, settings) as bench:
        journal = open_journal(settings.journal_database_url)
        save_contact(journal, bench.customer_id, datetime.now(UTC), {"phone": PHONE, "push_token": PUSH_TOKEN})
        yield bench


async def test_a_nudge_reaches_fcm_with_the_customers_token_and_none_is_in_the_history(
    vendors_bench: Bench, google: Google
) -> None:
    bench = vendors_bench
    await bench.send("onboarding.phone_verified")
    await bench.skip(hours=1, minutes=5)
    [send] = google.sends
    assert send["message"]["token"] == PUSH_TOKEN
    assert [(m.channel, m.kind) for m in (await bench.view()).messages] == [("push", "nudge")]
    text = await history_text(bench, bench.customer_id)
    assert PUSH_TOKEN.encode() not in text and PHONE.encode() not in text


async def test_an_unregistered_push_token_falls_back_to_sms_and_is_not_an_attempt(
    vendors_bench: Bench, google: Google, twilio: FakeTwilio
) -> None:
    bench = vendors_bench
    google.scripted = [unregistered()]
    await bench.send("onboarding.phone_verified")
    await bench.skip(hours=1, minutes=5)
    assert len(google.sends) == 1, "FCM said the token is gone: push is not tried again"
    [sms] = twilio.sent
    assert sms.form["To"] == PHONE
    view = await bench.view()
    assert [(m.channel, m.fallback) for m in view.messages] == [("sms", True)]
    assert ("failed", "push_unreachable") in [(d.action, d.reason) for d in view.decisions]
    assert view.attempts_at_stage == 1, "the push that never went out did not count"
