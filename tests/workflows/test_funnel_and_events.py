"""The funnel's move rules and the event envelope's validation: what the app may send, and what it means."""

from typing import Any

import pytest
from pydantic import ValidationError

from workflows.events import OnboardingEvent
from workflows.funnel import Channel, ErrorKind, OptOutScope, RejectionReason, Stage, moves_forward

S = Stage

# -- funnel -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "candidate"),
    [
        (S.STARTED, S.PHONE_VERIFIED),
        (S.PHONE_VERIFIED, S.DOCUMENT_UPLOADED),
        (S.DOCUMENT_UPLOADED, S.DOCUMENT_REJECTED),
        (S.DOCUMENT_UPLOADED, S.DOCUMENT_APPROVED),
        (S.DOCUMENT_REJECTED, S.DOCUMENT_APPROVED),
        (S.DOCUMENT_APPROVED, S.BIOMETRIC_FAILED),
        (S.DOCUMENT_APPROVED, S.BIOMETRIC_PASSED),
        (S.BIOMETRIC_FAILED, S.BIOMETRIC_PASSED),
        (S.BIOMETRIC_PASSED, S.COMPLETED),
        (S.STARTED, S.DOCUMENT_UPLOADED),  # a missed event in between does not block progress
        (S.PHONE_VERIFIED, S.COMPLETED),
    ],
)
def test_forward_moves_are_allowed(current: Stage, candidate: Stage) -> None:
    assert moves_forward(current, candidate)


@pytest.mark.parametrize(
    ("current", "candidate"),
    [
        (S.DOCUMENT_REJECTED, S.DOCUMENT_UPLOADED),  # a new upload after a rejection
        (S.DOCUMENT_REJECTED, S.DOCUMENT_REJECTED),  # rejected again
        (S.BIOMETRIC_FAILED, S.BIOMETRIC_FAILED),  # the selfie failed again
    ],
)
def test_the_funnel_allows_retries_after_a_failure(current: Stage, candidate: Stage) -> None:
    assert moves_forward(current, candidate)


@pytest.mark.parametrize(
    ("current", "candidate"),
    [
        (S.PHONE_VERIFIED, S.STARTED),
        (S.DOCUMENT_UPLOADED, S.PHONE_VERIFIED),
        (S.DOCUMENT_APPROVED, S.DOCUMENT_UPLOADED),
        (S.DOCUMENT_APPROVED, S.DOCUMENT_REJECTED),
        (S.BIOMETRIC_FAILED, S.DOCUMENT_APPROVED),
        (S.BIOMETRIC_PASSED, S.BIOMETRIC_FAILED),
        (S.PHONE_VERIFIED, S.PHONE_VERIFIED),
        (S.DOCUMENT_UPLOADED, S.DOCUMENT_UPLOADED),
        (S.DOCUMENT_APPROVED, S.DOCUMENT_APPROVED),
    ],
)
def test_backward_and_repeated_moves_are_refused(current: Stage, candidate: Stage) -> None:
    assert not moves_forward(current, candidate)


@pytest.mark.parametrize("candidate", list(Stage))
def test_nothing_leaves_completed(candidate: Stage) -> None:
    assert not moves_forward(S.COMPLETED, candidate)


def test_opt_out_scope_all_covers_both_channels() -> None:
    assert OptOutScope.ALL.channels() == {Channel.PUSH, Channel.SMS}
    assert OptOutScope.SMS.channels() == {Channel.SMS}


# -- events -----------------------------------------------------------------------------------


def envelope(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event_id": "e-123",
        "customer_id": "c-42",
        "type": "onboarding.phone_verified",
        "occurred_at": "2026-11-22T10:00:00Z",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def rejected_fields(**overrides: Any) -> set[str]:
    with pytest.raises(ValidationError) as info:
        OnboardingEvent.model_validate(envelope(**overrides))
    return {".".join(str(p) for p in err["loc"]) for err in info.value.errors()}


def error_text(**overrides: Any) -> str:
    with pytest.raises(ValidationError) as info:
        OnboardingEvent.model_validate(envelope(**overrides))
    return str(info.value)


def test_a_valid_envelope_parses() -> None:
    event = OnboardingEvent.model_validate(
        envelope(profile={"timezone": "Asia/Tashkent", "locale": "UZ_Latn", "location": {"lat": 41.31, "lon": 69.28}})
    )
    assert event.occurred_at.utcoffset() is not None
    assert event.profile is not None and event.profile.timezone == "Asia/Tashkent"
    assert event.profile.locale == "uz-latn"  # normalised so copy lookups find 'uz-latn' and 'uz'


def test_unknown_event_type_is_rejected() -> None:
    assert rejected_fields(type="onboarding.selfie_taken") == {"type"}


@pytest.mark.parametrize("occurred_at", [None, "2026-11-22T10:00:00", "yesterday"])
def test_missing_naive_or_garbled_timestamp_is_rejected(occurred_at: str | None) -> None:
    assert rejected_fields(occurred_at=occurred_at) == {"occurred_at"}


def test_naive_timestamp_error_says_a_timezone_is_needed() -> None:
    assert "timezone" in error_text(occurred_at="2026-11-22T10:00:00").lower()


@pytest.mark.parametrize("customer_id", ["", "+998 90 123 45 67", "-c42", "c/42", "x" * 129])
def test_unusable_customer_id_is_rejected(customer_id: str) -> None:
    assert rejected_fields(customer_id=customer_id) == {"customer_id"}


@pytest.mark.parametrize("customer_id", ["c-42", "C.42_a-b", "x" * 128])
def test_opaque_customer_ids_are_accepted(customer_id: str) -> None:
    assert OnboardingEvent.model_validate(envelope(customer_id=customer_id)).customer_id == customer_id


@pytest.mark.parametrize("event_id", ["", "   "])
def test_blank_event_id_is_rejected(event_id: str) -> None:
    assert rejected_fields(event_id=event_id) == {"event_id"}


@pytest.mark.parametrize("attributes", [{}, {"reason": ""}, {"reason": "   "}])
def test_rejection_without_a_reason_fails_with_a_clear_error(attributes: dict[str, str]) -> None:
    text = error_text(type="onboarding.document_rejected", attributes=attributes)
    assert "onboarding.document_rejected needs attributes.reason" in text
    assert "blur" in text and "data_mismatch" in text  # the allowed reasons are listed


def test_known_rejection_reason_is_normalised() -> None:
    event = OnboardingEvent.model_validate(
        envelope(type="onboarding.document_rejected", attributes={"reason": " GLARE "})
    )
    assert event.rejection_reason is RejectionReason.GLARE
    assert "reason_detail" not in event.attributes


def test_unknown_rejection_reason_becomes_other_and_keeps_the_detail() -> None:
    event = OnboardingEvent.model_validate(
        envelope(type="onboarding.document_rejected", attributes={"reason": "torn_page"})
    )
    assert event.rejection_reason is RejectionReason.OTHER
    assert event.attributes["reason_detail"] == "torn_page"


def test_unknown_error_kind_becomes_other_and_keeps_the_detail() -> None:
    event = OnboardingEvent.model_validate(
        envelope(type="onboarding.error", attributes={"error": "disk_full", "service": "ocr"})
    )
    assert event.error_kind is ErrorKind.OTHER
    assert event.attributes["error_detail"] == "disk_full"
    assert event.failing_service == "ocr"


def test_error_without_a_kind_is_rejected() -> None:
    assert "onboarding.error needs attributes.error" in error_text(
        type="onboarding.error", attributes={"service": "ocr"}
    )


def test_normalised_event_survives_a_json_round_trip() -> None:
    """The journey receives events as JSON signals: normalising twice must not change them."""
    event = OnboardingEvent.model_validate(
        envelope(type="onboarding.document_rejected", attributes={"reason": "torn_page"})
    )
    again = OnboardingEvent.model_validate_json(event.model_dump_json())
    assert again == event
    assert again.attributes == {"reason": "other", "reason_detail": "torn_page"}


@pytest.mark.parametrize("event_type", ["customer.opted_out", "customer.opted_in"])
@pytest.mark.parametrize("attributes", [{}, {"channel": "email"}, {"channel": None}])
def test_consent_change_needs_a_known_channel(event_type: str, attributes: dict[str, Any]) -> None:
    text = error_text(type=event_type, attributes=attributes)
    assert f"{event_type} needs attributes.channel, one of: push, sms, all" in text


@pytest.mark.parametrize(("channel", "channels"), [("push", {Channel.PUSH}), ("all", {Channel.PUSH, Channel.SMS})])
def test_opt_out_with_a_valid_channel_names_the_channels(channel: str, channels: set[Channel]) -> None:
    event = OnboardingEvent.model_validate(envelope(type="customer.opted_out", attributes={"channel": channel}))
    assert event.opt_scope.channels() == channels


def test_unknown_timezone_is_rejected() -> None:
    text = error_text(profile={"timezone": "Mars/Olympus_Mons"})
    assert "unknown IANA time zone 'Mars/Olympus_Mons'" in text


def test_extra_top_level_field_is_rejected() -> None:
    assert rejected_fields(phone="+998901234567") == {"phone"}
