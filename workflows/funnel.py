"""The onboarding funnel: stages, the events that move a customer through them, and which moves are allowed.

Events arrive late, twice and out of order, so whether an event moves the journey is a rule of the
funnel, decided here and nowhere else.
"""

from enum import StrEnum


class Stage(StrEnum):
    """Where a customer is: named after the last funnel event that took them there."""

    STARTED = "started"
    PHONE_VERIFIED = "phone_verified"
    DOCUMENT_UPLOADED = "document_uploaded"
    DOCUMENT_REJECTED = "document_rejected"
    DOCUMENT_APPROVED = "document_approved"
    BIOMETRIC_FAILED = "biometric_failed"
    BIOMETRIC_PASSED = "biometric_passed"
    COMPLETED = "completed"


class EventType(StrEnum):
    STARTED = "onboarding.started"
    PHONE_VERIFIED = "onboarding.phone_verified"
    DOCUMENT_UPLOADED = "onboarding.document_uploaded"
    DOCUMENT_REJECTED = "onboarding.document_rejected"
    DOCUMENT_APPROVED = "onboarding.document_approved"
    BIOMETRIC_FAILED = "onboarding.biometric_failed"
    BIOMETRIC_PASSED = "onboarding.biometric_passed"
    COMPLETED = "onboarding.completed"
    ERROR = "onboarding.error"
    HELP_REQUESTED = "onboarding.help_requested"
    OPTED_OUT = "customer.opted_out"
    OPTED_IN = "customer.opted_in"
    ACTIVE = "customer.active"  # activity after activation: goes to the journal, for post-recovery dormancy


class RejectionReason(StrEnum):
    BLUR = "blur"
    GLARE = "glare"
    EXPIRED = "expired"
    UNSUPPORTED_DOCUMENT = "unsupported_document"
    DATA_MISMATCH = "data_mismatch"
    OTHER = "other"


class ErrorKind(StrEnum):
    """Technical failures on our side, as the app reports them."""

    MAINTENANCE = "maintenance"
    HIGH_LATENCY = "high_latency"
    SERVICE_UNAVAILABLE = "service_unavailable"
    AUTH_FAILED = "auth_failed"
    OTHER = "other"


# Outages: a nudge for these waits until the failing service is healthy again.
OUTAGE_ERRORS = frozenset({ErrorKind.MAINTENANCE, ErrorKind.SERVICE_UNAVAILABLE, ErrorKind.HIGH_LATENCY})


class Channel(StrEnum):
    PUSH = "push"
    SMS = "sms"


class OptOutScope(StrEnum):
    PUSH = "push"
    SMS = "sms"
    ALL = "all"

    def channels(self) -> frozenset[Channel]:
        if self is OptOutScope.ALL:
            return frozenset(Channel)
        return frozenset({Channel(self.value)})


STAGE_OF_EVENT: dict[EventType, Stage] = {
    EventType.STARTED: Stage.STARTED,
    EventType.PHONE_VERIFIED: Stage.PHONE_VERIFIED,
    EventType.DOCUMENT_UPLOADED: Stage.DOCUMENT_UPLOADED,
    EventType.DOCUMENT_REJECTED: Stage.DOCUMENT_REJECTED,
    EventType.DOCUMENT_APPROVED: Stage.DOCUMENT_APPROVED,
    EventType.BIOMETRIC_FAILED: Stage.BIOMETRIC_FAILED,
    EventType.BIOMETRIC_PASSED: Stage.BIOMETRIC_PASSED,
    EventType.COMPLETED: Stage.COMPLETED,
}

# The way through when nothing goes wrong; rejections and failures are detours from it.
MAIN_PATH: tuple[Stage, ...] = (
    Stage.STARTED,
    Stage.PHONE_VERIFIED,
    Stage.DOCUMENT_UPLOADED,
    Stage.DOCUMENT_APPROVED,
    Stage.BIOMETRIC_PASSED,
    Stage.COMPLETED,
)

_RANK: dict[Stage, int] = {stage: rank for rank, stage in enumerate(Stage)}

# The only moves to a lower rank the funnel allows: a retry after a failure.
_RETRIES: frozenset[tuple[Stage, Stage]] = frozenset(
    {
        (Stage.DOCUMENT_REJECTED, Stage.DOCUMENT_UPLOADED),
        (Stage.DOCUMENT_REJECTED, Stage.DOCUMENT_REJECTED),
        (Stage.BIOMETRIC_FAILED, Stage.BIOMETRIC_FAILED),
    }
)

# What a support agent's verification on a call stands in for, by the stage the customer is stuck at.
STAGE_AFTER_AGENT_VERIFICATION: dict[Stage, Stage] = {
    Stage.STARTED: Stage.PHONE_VERIFIED,
    Stage.PHONE_VERIFIED: Stage.DOCUMENT_APPROVED,
    Stage.DOCUMENT_UPLOADED: Stage.DOCUMENT_APPROVED,
    Stage.DOCUMENT_REJECTED: Stage.DOCUMENT_APPROVED,
    Stage.DOCUMENT_APPROVED: Stage.BIOMETRIC_PASSED,
    Stage.BIOMETRIC_FAILED: Stage.BIOMETRIC_PASSED,
    Stage.BIOMETRIC_PASSED: Stage.COMPLETED,
}


def is_funnel_event(event_type: EventType) -> bool:
    return event_type in STAGE_OF_EVENT


def moves_forward(current: Stage, candidate: Stage) -> bool:
    """Whether a newer event for `candidate` may replace `current` as the customer's stage."""
    if current is Stage.COMPLETED:
        return False
    return _RANK[candidate] > _RANK[current] or (current, candidate) in _RETRIES


def funnel_position(stage: Stage) -> int:
    return _RANK[stage]
