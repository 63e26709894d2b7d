"""Sumsub's eKYC webhook, run for real (the app in-process over ASGI, the real dev server and worker):
a signed review becomes a funnel event through the same door and ledger as `/v1/events`; an unsigned or
wrongly signed one is refused with 403 and records nothing; a redelivery is a duplicate."""

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from journal.schema import customer_activity
from journal.store import read_rows
from starters.api import create_app
from starters.api.sumsub import created_at, event_of_review
from starters.client import EventReceipt
from tests.harness import Bench, eventually
from tests.starters.test_api import AUTH, TOKEN, Api, event
from workflows.events import IncomingEvent, OnboardingEvent

SECRET = "sumsub-s3cret"
SHA = {"HMAC_SHA1_HEX": hashlib.sha1, "HMAC_SHA256_HEX": hashlib.sha256, "HMAC_SHA512_HEX": hashlib.sha512}


@pytest.fixture
async def api(live_bench: Bench, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    settings = live_bench.settings.model_copy(update={"api_token": TOKEN, "sumsub_webhook_secret": SECRET})
    app = create_app(settings, recovery=live_bench.client)
    record_events = live_bench.client.record_events
    RECORDED.clear()

    async def recording(events: Sequence[OnboardingEvent]) -> list[EventReceipt]:
        RECORDED.extend(events)  # what the intake was handed, attributes included (the view shows no attributes)
        return await record_events(events)

    monkeypatch.setattr(live_bench.client, "record_events", recording)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield Api(live_bench, http)


RECORDED: list[OnboardingEvent] = []


def attributes_recorded(event_id: str) -> dict[str, Any]:
    return next(dict(e.attributes) for e in RECORDED if e.event_id == event_id)


def review(customer_id: str, answer: str, labels: list[str] | None = None, reject: str | None = None) -> bytes:
    moment = datetime.now(UTC) - timedelta(minutes=1)
    result: dict[str, Any] = {"reviewAnswer": answer}
    if labels is not None:
        result["rejectLabels"] = labels
    if reject is not None:
        result["reviewRejectType"] = reject
    body = {
        "applicantId": f"5cb56e8e0a975a35f333{customer_id[-6:].replace('-', '0')}",
        "inspectionId": "5cb56e8e0a975a35f333cb84",
        "correlationId": "req-a260b669-4f14-4bb5-a4c5-ac0218acb9a4",
        "externalUserId": customer_id,
        "levelName": "basic-kyc-level",
        "type": "applicantReviewed",
        "reviewResult": result,
        "reviewStatus": "completed",
        "createdAtMs": moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}",
    }
    return json.dumps(body).encode()


def signed(body: bytes, algorithm: str = "HMAC_SHA256_HEX", secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, SHA[algorithm]).hexdigest()
    return {"X-Payload-Digest": digest, "X-Payload-Digest-Alg": algorithm, "Content-Type": "application/json"}


async def post(api: Api, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await api.http.post("/v1/webhooks/sumsub", content=body, headers=headers)


async def journey_events(api: Api, customer_id: str, count: int) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    async def arrived() -> bool:
        response = await api.journey(customer_id)
        seen[:] = response.json().get("events", []) if response.status_code == 200 else []
        return len(seen) >= count

    await eventually(arrived, timeout=10)
    return seen


async def start(api: Api, customer_id: str) -> None:
    at = datetime.now(UTC) - timedelta(hours=1)
    response = await api.post_events(
        [event(customer_id, "onboarding.phone_verified", at=at), event(customer_id, "onboarding.document_uploaded")]
    )
    assert response.status_code == 202, response.text


async def test_a_signed_green_records_document_approved(api: Api) -> None:
    customer_id = api.customer("sumsub-green")
    await start(api, customer_id)
    response = await post(api, body := review(customer_id, "GREEN"), signed(body))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "recorded"
    assert answer["type"] == "onboarding.document_approved"
    assert answer["event_id"].startswith("sumsub:")
    events = await journey_events(api, customer_id, 3)
    assert events[-1]["type"] == "onboarding.document_approved"
    assert events[-1]["event_id"] == answer["event_id"]


@pytest.mark.parametrize("algorithm", ["HMAC_SHA256_HEX", "HMAC_SHA1_HEX", "HMAC_SHA512_HEX"])
async def test_red_retry_with_blurry_is_a_rejection_for_blur(api: Api, algorithm: str) -> None:
    customer_id = api.customer(f"sumsub-blur-{algorithm[5:9].lower()}")
    await start(api, customer_id)
    body = review(customer_id, "RED", ["BLURRY", "FORGERY"], "RETRY")
    response = await post(api, body, signed(body, algorithm))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "recorded"
    events = await journey_events(api, customer_id, 3)
    assert events[-1]["type"] == "onboarding.document_rejected"
    assert attributes_recorded(events[-1]["event_id"]) == {"reason": "blur", "reject_type": "retry"}


async def test_a_missing_or_wrong_digest_is_403_and_records_nothing(api: Api) -> None:
    customer_id = api.customer("sumsub-forged")
    body = review(customer_id, "GREEN")
    for headers in (
        {"Content-Type": "application/json"},
        signed(body, secret="not-the-secret"),
        {**signed(body), "X-Payload-Digest-Alg": "HMAC_MD5_HEX"},
        signed(body + b" "),  # the digest of another body
    ):
        response = await post(api, body, headers)
        assert response.status_code == 403, (headers, response.text)
    assert (await api.journey(customer_id)).status_code == 404
    journal = api.bench.client.journal
    assert journal is not None
    assert not [r for r in read_rows(journal, customer_activity) if r["customer_id"] == customer_id]


async def test_without_a_configured_secret_every_webhook_is_403(live_bench: Bench) -> None:
    app = create_app(live_bench.settings.model_copy(update={"api_token": TOKEN}), recovery=live_bench.client)
    body = review("c-nosecret", "GREEN")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        response = await http.post("/v1/webhooks/sumsub", content=body, headers={**signed(body), **AUTH})
    assert response.status_code == 403


async def test_a_redelivered_webhook_is_a_duplicate(api: Api) -> None:
    customer_id = api.customer("sumsub-again")
    await start(api, customer_id)
    body = review(customer_id, "RED", ["UNSATISFACTORY_PHOTOS"], "FINAL")
    first = await post(api, body, signed(body))
    again = await post(api, body, signed(body))
    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert first.json()["status"] == "recorded"
    assert again.json()["status"] == "duplicate"
    assert again.json()["event_id"] == first.json()["event_id"]
    events = await journey_events(api, customer_id, 3)
    rejected = [e for e in events if e["type"] == "onboarding.document_rejected"]
    assert len(rejected) == 1
    assert attributes_recorded(rejected[0]["event_id"]) == {
        "reason": "other",
        "reason_detail": "UNSATISFACTORY_PHOTOS",
        "reject_type": "final",
    }


async def test_other_webhook_types_are_acknowledged_and_change_nothing(api: Api) -> None:
    customer_id = api.customer("sumsub-pending")
    body = json.dumps({"type": "applicantPending", "applicantId": "a1", "externalUserId": customer_id}).encode()
    response = await post(api, body, signed(body))
    assert response.status_code == 200
    assert response.json()["status"] == "skipped"
    assert (await api.journey(customer_id)).status_code == 404


# -- the mapping, without a server -------------------------------------------------------------------


def _event(answer: str, labels: list[str], reject: str | None = None) -> dict[str, Any]:
    made, why = event_of_review(json.loads(review("c-1", answer, labels, reject)))
    assert made is not None, why
    return made


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        (["BLURRY"], "blur"),
        (["BAD_QUALITY"], "blur"),
        (["GLARE"], "glare"),
        (["EXPIRATION_DATE"], "expired"),
        (["UNSUITABLE_DOCUMENT"], "unsupported_document"),
        (["DATA_MISMATCH"], "data_mismatch"),
        (["FORGERY", "PROBLEMATIC_APPLICANT_DATA"], "data_mismatch"),
        ([], "other"),
    ],
)
def test_labels_map_to_reasons(labels: list[str], reason: str) -> None:
    made = _event("RED", labels, "RETRY")
    assert made["type"] == "onboarding.document_rejected"
    assert made["attributes"] == {"reason": reason, "reject_type": "retry"}


def test_selfie_mismatch_is_a_failed_biometric_and_final_is_carried() -> None:
    assert _event("RED", ["SELFIE_MISMATCH"], "RETRY")["type"] == "onboarding.biometric_failed"
    assert _event("RED", ["GLARE"], "FINAL")["attributes"] == {"reason": "glare", "reject_type": "final"}


def test_the_event_id_is_the_webhooks_own_ids_and_created_at_ms_is_read_both_ways() -> None:
    body = json.loads(review("c-1", "GREEN"))
    body["createdAtMs"] = "2020-02-21 13:23:19.321"
    made, _ = event_of_review(body)
    assert made is not None
    assert made["event_id"] == f"sumsub:{body['applicantId']}:5cb56e8e0a975a35f333cb84:1582291399321"
    assert made["occurred_at"] == "2020-02-21T13:23:19.321000+00:00"
    assert created_at(1582291399321) == created_at("1582291399321") == created_at("2020-02-21 13:23:19.321")
    assert created_at("not a time") is None


def test_the_door_takes_reject_type_on_a_rejection_only_and_only_retry_or_final() -> None:
    base = {"event_id": "e-1", "customer_id": "c-1", "occurred_at": datetime.now(UTC).isoformat()}
    rejected = {**base, "type": "onboarding.document_rejected"}
    for reject_type in ("retry", "final"):
        event = IncomingEvent.model_validate({**rejected, "attributes": {"reason": "blur", "reject_type": reject_type}})
        assert event.attributes["reject_type"] == reject_type
    for bad in (
        {**rejected, "attributes": {"reason": "blur", "reject_type": "maybe"}},
        {**base, "type": "onboarding.biometric_failed", "attributes": {"reject_type": "final"}},
    ):
        with pytest.raises(ValidationError) as err:
            IncomingEvent.model_validate(bad)
        assert "maybe" not in str(err.value.errors(include_input=False))
