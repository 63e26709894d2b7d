"""The door's reading of an event (`IncomingEvent`): what it refuses that the journey's lenient reading
would let through to fail later, and what makes two events the same."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from workflows.events import IncomingEvent, OnboardingEvent, fingerprint

NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


def door(**overrides: Any) -> IncomingEvent:
    data: dict[str, Any] = {
        "event_id": "e-1",
        "customer_id": "c-1",
        "type": "onboarding.started",
        "occurred_at": NOW.isoformat(),
    }
    return IncomingEvent.model_validate({**data, **overrides}, context={"now": NOW})


def refused(**overrides: Any) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as err:
        door(**overrides)
    return [(tuple(e["loc"]), e["msg"]) for e in err.value.errors()]


@pytest.mark.parametrize(
    "occurred_at",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "1900-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "1999-12-31T23:59:59Z",
        (NOW + timedelta(days=1, seconds=1)).isoformat(),
    ],
)
@pytest.mark.parametrize("event_type", ["onboarding.started", "customer.active"])
def test_occurred_at_lies_between_2000_and_a_day_ahead(occurred_at: str, event_type: str) -> None:
    [(loc, message)] = refused(occurred_at=occurred_at, type=event_type)
    assert loc == ("occurred_at",) and "2000-01-01" in message
    OnboardingEvent.model_validate(
        {"event_id": "e", "customer_id": "c", "type": event_type, "occurred_at": occurred_at}
    )  # the journey's reading replays it


def test_the_bounds_are_inclusive() -> None:
    door(occurred_at="2000-01-01T00:00:00Z")
    door(occurred_at=(NOW + timedelta(days=1)).isoformat())


@pytest.mark.parametrize(
    ("event_type", "attributes"),
    [
        ("onboarding.started", {"utm_source": "x"}),
        ("onboarding.document_rejected", {"reason": "blur", "photo": "AAAA"}),
        ("customer.opted_out", {"channel": "sms", "reason": "annoyed"}),
        ("onboarding.error", {"error": "maintenance", "trace": "..."}),
    ],
)
def test_each_type_takes_its_own_attributes_only(event_type: str, attributes: dict[str, str]) -> None:
    [(loc, message)] = refused(type=event_type, attributes=attributes)
    assert loc == ("attributes",) and "is not a known attribute" in message


def test_an_opt_out_may_carry_the_keyword_the_customer_sent_and_nothing_else() -> None:
    event = door(type="customer.opted_out", attributes={"channel": "sms", "words": "STOP"})
    assert event.attributes == {"channel": "sms", "words": "STOP"}
    for words in ("stop it, this is +998901234567", "STOP " * 5):
        [(loc, message)] = refused(type="customer.opted_out", attributes={"channel": "sms", "words": words})
        assert loc == ("attributes",) and "one keyword" in message and "998" not in message


def test_an_attribute_name_that_is_not_an_identifier_is_never_echoed() -> None:
    [(_, message)] = refused(attributes={"+998 90 123 45 67": "x"})
    assert "998" not in message


@pytest.mark.parametrize("value", [{"deep": {"er": "x"}}, ["blur"], 10**50, True, "x" * 101])
def test_attribute_values_are_short_flat_strings(value: Any) -> None:
    [(loc, _)] = refused(type="onboarding.document_rejected", attributes={"reason": value})
    assert loc == ("attributes", "reason")


def test_normalisation_is_kept_and_a_normalised_event_passes_the_door_again() -> None:
    event = door(type="onboarding.document_rejected", attributes={"reason": "torn_page"})
    assert event.attributes == {"reason": "other", "reason_detail": "torn_page"}
    assert IncomingEvent.model_validate(event.model_dump(), context={"now": NOW}) == event


def test_the_same_instant_in_another_offset_is_the_same_event_and_other_content_is_not() -> None:
    event = door(occurred_at="2026-11-23T05:00:00Z")
    assert fingerprint(door(occurred_at="2026-11-23T10:00:00+05:00")) == fingerprint(event)
    assert fingerprint(door(type="onboarding.phone_verified")) != fingerprint(event)
    assert fingerprint(OnboardingEvent.model_validate(event.model_dump())) == fingerprint(event)
