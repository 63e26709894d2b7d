"""The event envelope the app backend sends, validated at the door so that bad input fails loudly.

Two readings of one envelope: `IncomingEvent` is the door's (the API and the Python client), strict
about time range, attribute names and sizes; `OnboardingEvent` is the journey's, lenient, so that
events recorded before the door's rules existed still replay.
"""

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

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


def _category(attrs: dict[str, Any], key: str, kind: type[StrEnum], fallback: StrEnum, event_type: EventType) -> str:
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


# -- the door -------------------------------------------------------------------------------------

OCCURRED_AT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
OCCURRED_AT_AHEAD = timedelta(days=1)  # clocks of phones and app servers drift; a day covers every time zone
ATTRIBUTE_MAX_LENGTH = 100
SERVICE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
WORDS_PATTERN = r"^[A-Za-z]{1,20}$"  # a keyword (STOP, START...), never free text: no personal data
# How final a rejection is (the eKYC vendor's word): `retry` the customer may upload again, `final` only
# a person can resolve it (a human task, never a "try again" nudge).
REJECT_TYPES = ("retry", "final")

# The attributes each event type takes (anything else is refused); `*_detail` is what normalisation
# keeps of an unknown category, and may come back in a resent event.
ATTRIBUTES_OF: dict[EventType, tuple[str, ...]] = {
    EventType.DOCUMENT_REJECTED: ("reason", "reason_detail", "reject_type"),
    EventType.ERROR: ("error", "error_detail", "service"),
    EventType.OPTED_OUT: ("channel", "words"),  # words: the keyword the customer sent (an SMS STOP)
    EventType.OPTED_IN: ("channel", "words"),
    EventType.ACTIVE: ("kind",),  # what the customer did: transaction, top_up, login...
}
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")

OCCURRED_AT_DESCRIPTION = (
    "when it happened, with a UTC offset; from 2000-01-01T00:00:00Z to one day ahead of the server's now "
    "(earlier or later is refused: 422)"
)
ATTRIBUTES_DESCRIPTION = (
    f"flat string values of at most {ATTRIBUTE_MAX_LENGTH} characters, by type: onboarding.document_rejected: "
    "reason (blur, glare, expired, unsupported_document, data_mismatch; anything else becomes other, kept as "
    "reason_detail), reject_type (retry, final: a final one is for a person, not a nudge); "
    "onboarding.error: error (maintenance, high_latency, service_unavailable, auth_failed; else "
    "other and error_detail), service (a name, letters, digits, '_', '.', '-'); customer.opted_out and "
    "customer.opted_in: channel (push, sms, all), words (the keyword the customer sent, e.g. STOP); "
    "customer.active: kind (transaction, top_up, login...); "
    "every other type takes none"
)


class IncomingProfile(CustomerProfile):
    timezone: Annotated[str, Field(max_length=64)] | None = None
    locale: Annotated[str, Field(max_length=35)] | None = None


class IncomingEvent(OnboardingEvent):
    """An event as the door reads it: everything that could fail later is refused here, before
    anything of a batch is recorded. `now` comes from the validation context (the server's clock)."""

    customer_id: str = Field(
        description="an opaque id, never a phone number or name",
        json_schema_extra={"pattern": CUSTOMER_ID_PATTERN, "maxLength": 128},
    )
    occurred_at: AwareDatetime = Field(description=OCCURRED_AT_DESCRIPTION)
    attributes: dict[str, Annotated[str, Field(max_length=ATTRIBUTE_MAX_LENGTH)] | None] = Field(
        default_factory=dict, description=ATTRIBUTES_DESCRIPTION
    )
    profile: IncomingProfile | None = None

    @field_validator("occurred_at")
    @classmethod
    def _in_range(cls, value: datetime, info: ValidationInfo) -> datetime:
        now = (info.context or {}).get("now") or datetime.now(UTC)
        if not occurred_in_range(value, now):
            raise ValueError("occurred_at must lie between 2000-01-01T00:00:00Z and one day ahead of now")
        return value

    @field_validator("attributes", mode="before")
    @classmethod
    def _known_names(cls, value: Any, info: ValidationInfo) -> Any:
        event_type = info.data.get("type")
        if not isinstance(value, dict) or event_type is None:
            return value  # the type check says what is wrong
        allowed = ATTRIBUTES_OF.get(event_type, ())
        takes = f"{event_type.value} takes {', '.join(allowed) or 'no attributes'}"
        for name in value:
            if name in allowed:
                continue
            if isinstance(name, str) and _ATTRIBUTE_NAME.fullmatch(name):
                raise ValueError(f"attributes.{name} is not a known attribute: {takes}")
            raise ValueError(f"attribute names are identifiers (letters, digits, '_'): {takes}")  # never echo it
        reject_type = value.get("reject_type")
        if reject_type is not None and reject_type not in REJECT_TYPES:
            raise ValueError(f"attributes.reject_type must be one of: {', '.join(REJECT_TYPES)}")
        words = value.get("words")
        if isinstance(words, str) and not re.fullmatch(WORDS_PATTERN, words):
            raise ValueError("attributes.words must be one keyword the customer sent: letters only, at most 20")
        service = value.get("service")
        if isinstance(service, str) and not re.fullmatch(SERVICE_PATTERN, service):
            raise ValueError("attributes.service must be a service name: letters, digits, '_', '.', '-', at most 64")
        return value


def occurred_in_range(moment: datetime, now: datetime) -> bool:
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 and the like have no UTC form
        return False
    return OCCURRED_AT_EARLIEST <= utc <= now + OCCURRED_AT_AHEAD


def fingerprint(event: OnboardingEvent) -> str:
    """What makes a resent event the same event: its content, with the time in UTC."""
    content = event.model_dump(mode="json")
    content["occurred_at"] = event.occurred_at.astimezone(UTC).isoformat()
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
