"""How much of its past a journey carries: bounded, whatever the app sends.

A journey's state crosses continue-as-new as one payload (Temporal refuses payloads over 2 MB), so
everything that grows with the number of events is kept as a window here and in full in the journal.
Journeys started before the `bounded-state` patch carry `None` and keep their unbounded lists.
"""

import hashlib

from pydantic import BaseModel, ConfigDict, Field


class StateBounds(BaseModel):
    """The windows a journey keeps. The dedupe horizon is `event_ids`: a repeat of an event id older
    than the last `event_ids` distinct events of this journey is no longer recognised by the journey
    (the intake ledger at the door still recognises it)."""

    model_config = ConfigDict(frozen=True)

    event_ids: int = Field(1000, ge=1, description="distinct event ids remembered for deduplication")
    events: int = Field(50, ge=1, description="event records kept for the view")
    decisions: int = Field(100, ge=1, description="decisions kept for the view once journaled")
    unjournaled: int = Field(400, ge=1, description="records kept while the journal is out of reach")
    tasks: int = Field(10, ge=1, description="ended human tasks kept next to the live one")
    rejection_reasons: int = Field(10, ge=1)
    detail_chars: int = Field(500, ge=40, description="longest free text kept in a task's detail")


def event_id_digest(event_id: str) -> str:
    """A fixed-size stand-in for an event id (ids may be 200 characters): 64 bits is plenty per journey."""
    return hashlib.blake2b(event_id.encode("utf-8"), digest_size=8).hexdigest()


def keep_last(items: list, limit: int) -> int:  # type: ignore[type-arg]
    """Drops all but the last `limit` items in place; returns how many were dropped."""
    dropped = max(0, len(items) - limit)
    if dropped:
        del items[:dropped]
    return dropped


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
