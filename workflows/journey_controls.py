"""Operators' controls over a running journey: closing it, with a reason and who closed it.

The `close_journey` Update's validator (`check_close`) refuses before anything is recorded; the
change itself is `record_close` (journey_records.py), a pure function like every other.
"""

import re
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from workflows.journey_state import JourneyState

OPERATOR_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:\-]{0,63}$"
MAX_CLOSE_REASON = 500
CANCELLED_IN_TEMPORAL = "cancelled in Temporal"
TEMPORAL_OPERATOR = "temporal"  # who a cancel request from the Web UI (or `temporal workflow cancel`) is recorded as


class CloseJourney(BaseModel):
    """An operator's close: why (free text, shown in the journey and the journal) and who (an operator id)."""

    reason: Annotated[str, Field(min_length=1, max_length=MAX_CLOSE_REASON)]
    by: str

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("reason must say why the journey is closed")
        return value

    @field_validator("by")
    @classmethod
    def _by(cls, value: str) -> str:
        if not re.fullmatch(OPERATOR_PATTERN, value):
            raise ValueError("by must be 1-64 characters: letters, digits, '_', '.', '@', ':', '-'")
        return value


class CloseRefused(ValueError):
    """A close the journey will not take (it has ended already); the message says why."""


def check_close(state: JourneyState) -> None:
    """A journey closes once, and only while it runs: an ended one keeps the end it had."""
    outcome = state.outcome
    if outcome is not None:
        raise CloseRefused(
            f"journey of {state.customer_id} already ended: {outcome.kind.value} at {outcome.ended_at.isoformat()}"
        )
