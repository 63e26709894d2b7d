"""The event envelope the app backend sends, validated at the door so that bad input fails loudly."""

import re
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.funnel import ErrorKind, EventType, OptOutScope, RejectionReason

CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"


class Location(BaseModel):
    model_config = ConfigDict(frozen=True)

    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class CustomerProfile(BaseModel):
    """What the journey needs to message well: when it is night for the customer, which language, where."""

    model_config = ConfigDict(frozen=True)

    timezone: str | None = None
    locale: str | None = None
    location: Location | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'Asia/Tashkent')") from None
        return value

    @field_validator("locale")
    @classmethod
    def _short_locale(cls, value: str | None) -> str | None:
        return value.strip().lower().replace("_", "-") or None if value else None


class OnboardingEvent(BaseModel):
    """One analytics event from the onboarding flow; `event_id` makes sending it twice harmless."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    customer_id: str
    type: EventType
    occurred_at: AwareDatetime
    attributes: dict[str, Any] = Field(default_factory=dict)
    profile: CustomerProfile | None = None

    @field_validator("customer_id")
    @classmethod
    def _usable_in_a_workflow_id(cls, value: str) -> str:
        if not re.fullmatch(CUSTOMER_ID_PATTERN, value):
            raise ValueError(
                "customer_id must be 1-128 characters: letters, digits, '_', '.', '-', "
                "starting with a letter or digit (an opaque id, never a phone number or name)"
            )
        return value

    @field_validator("event_id")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("event_id must not be blank")
        return value

    @model_validator(mode="after")
    def _attributes_fit_the_type(self) -> "OnboardingEvent":
        attrs = dict(self.attributes)
        if self.type is EventType.DOCUMENT_REJECTED:
            attrs["reason"] = _category(attrs, "reason", RejectionReason, RejectionReason.OTHER, self.type)
        elif self.type is EventType.ERROR:
            attrs["error"] = _category(attrs, "error", ErrorKind, ErrorKind.OTHER, self.type)
        elif self.type in (EventType.OPTED_OUT, EventType.OPTED_IN):
            channel = attrs.get("channel")
            allowed = ", ".join(scope.value for scope in OptOutScope)
            if channel not in {scope.value for scope in OptOutScope}:
                raise ValueError(f"{self.type.value} needs attributes.channel, one of: {allowed}")
        if attrs != self.attributes:
            object.__setattr__(self, "attributes", attrs)
        return self

    @property
    def rejection_reason(self) -> RejectionReason:
        return RejectionReason(self.attributes["reason"])

    @property
    def error_kind(self) -> ErrorKind:
        return ErrorKind(self.attributes["error"])

    @property
    def failing_service(self) -> str | None:
        service = self.attributes.get("service")
        return str(service) if service else None

    @property
    def opt_scope(self) -> OptOutScope:
        return OptOutScope(self.attributes["channel"])


def _category(attrs: dict[str, Any], key: str, kind: type, fallback: Any, event_type: EventType) -> str:
    """Known category as is; an unknown one becomes `other` (kept, not dropped); a missing one is an error."""
    raw = attrs.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        allowed = ", ".join(item.value for item in kind)
        raise ValueError(f"{event_type.value} needs attributes.{key}, one of: {allowed}")
    value = str(raw).strip().lower()
    if value in {item.value for item in kind}:
        return value
    attrs[f"{key}_detail"] = str(raw)
    return fallback.value


def event_order_key(event: OnboardingEvent) -> tuple[datetime, str]:
    return (event.occurred_at, event.event_id)
