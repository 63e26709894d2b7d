"""The HTTP delivery provider against a vendor gateway over real HTTP."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.webhook import WebhookProvider
from tests.fake_vendor import FakeVendor
from tests.harness import bench_settings
from workers.worker import build_worker


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    vendor = FakeVendor()
    yield vendor
    vendor.close()


async def test_posts_json_with_the_idempotency_key_and_token(vendor: FakeVendor) -> None:
    provider = WebhookProvider(vendor.url + "/push", token="s3cret")
    duplicate = await provider.deliver("msg-1", {"text": "hello"})
    assert duplicate is False
    [request] = vendor.requests
    assert (request.path, request.idempotency_key, request.authorization) == ("/push", "msg-1", "Bearer s3cret")
    assert request.body == {"text": "hello"}


async def test_a_key_the_vendor_already_has_is_a_duplicate_not_an_error(vendor: FakeVendor) -> None:
    provider = WebhookProvider(vendor.url)
    await provider.deliver("msg-1", {"text": "hello"})
    assert await provider.deliver("msg-1", {"text": "hello"}) is True
    assert len(vendor.delivered) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_requests_that_cannot_succeed_are_not_retried(vendor: FakeVendor, status: int) -> None:
    vendor.scripted_statuses = [status]
    with pytest.raises(ApplicationError) as caught:
        await WebhookProvider(vendor.url).deliver("msg-1", {})
    assert caught.value.non_retryable and str(status) in caught.value.message


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
async def test_transient_failures_are_retried(vendor: FakeVendor, status: int) -> None:
    vendor.scripted_statuses = [status]
    with pytest.raises(ApplicationError) as caught:
        await WebhookProvider(vendor.url).deliver("msg-1", {})
    assert not caught.value.non_retryable


async def test_unreachable_and_slow_gateways_are_retried() -> None:
    with pytest.raises(ApplicationError) as caught:
        await WebhookProvider("http://127.0.0.1:9", timeout_seconds=1).deliver("msg-1", {})
    assert not caught.value.non_retryable and caught.value.type == "DeliveryUnreachable"


async def test_one_pooled_client_serves_every_message_until_the_worker_stops(
    vendor: FakeVendor, tmp_path: Path, time_skipping_env: WorkflowEnvironment
) -> None:
    settings = bench_settings(tmp_path, sms_webhook_url=vendor.url + "/sms", push_webhook_url=vendor.url + "/push")
    worker = build_worker(time_skipping_env.client, settings)
    messaging = vars(worker)["_closing"]  # the worker's providers, closed with it
    sms, push = messaging._sms, messaging._push
    assert isinstance(sms, WebhookProvider) and isinstance(push, WebhookProvider)
    async with worker:
        await sms.deliver("msg-1", {"text": "hello"})
        await sms.deliver("msg-2", {"text": "hello again"})
        assert not sms._client.is_closed
    assert [r.path for r in vendor.requests] == ["/sms", "/sms"]
    assert [p._client.is_closed for p in (sms, push)] == [True, True], "closed on the worker's shutdown"
