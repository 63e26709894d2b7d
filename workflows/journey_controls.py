"""Operators' controls over a running journey: closing it, with a reason and who closed it.

The `close_journey` Update's validator (`check_close`) refuses before anything is recorded; the
change itself is `record_close` (journey_records.py), a pure function like every other.
"""

from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from workflows.journey_state import JourneyState

OPERATOR_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:\-]{0,63}$"
NOT_BLANK = r"\S"
MAX_CLOSE_REASON = 500
CANCELLED_IN_TEMPORAL = "cancelled in Temporal"
TEMPORAL_OPERATOR = "temporal"  # who a cancel request from the Web UI (or `temporal workflow cancel`) is recorded as


class CloseJourney(BaseModel):
    """An operator's close: why (free text, shown in the journey and the journal) and who (an operator id)."""

    reason: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_CLOSE_REASON,
            pattern=NOT_BLANK,
            description="why the journey is closed: shown in the journey and the journal",
        ),
    ]
    by: Annotated[
        str,
        Field(pattern=OPERATOR_PATTERN, description="who closes it: 1-64 letters, digits, '_', '.', '@', ':', '-'"),
    ]

    @field_validator("reason")
    @classmethod
    def _one_line(cls, value: str) -> str:
        """One line, single-spaced, as the journal and the timeline show it."""
        return " ".join(value.split()) or value


class CloseRefused(ValueError):
    """A close the journey will not take (it has ended already); the message says why."""


def check_close(state: JourneyState) -> None:
    """A journey closes once, and only while it runs: an ended one keeps the end it had."""
    outcome = state.outcome
    if outcome is not None:
        raise CloseRefused(
            f"journey of {state.customer_id} already ended: {outcome.kind.value} at {outcome.ended_at.isoformat()}"
        )
