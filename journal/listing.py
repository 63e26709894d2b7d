"""Finding journeys: the journal's `journeys` rows, newest first, a page at a time.

One indexed read per page, no Temporal call: what `GET /v1/journeys`, `recovery journeys list` and
the console's journeys page show. Pages are cut by keyset on (started_at, journey_id), carried in an
opaque cursor, so a journey started while someone pages never shifts a page under them and every
journey is listed exactly once. Rows lag a journey by a moment (the journal is written at milestones).
"""

import base64
import binascii
import json
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import Engine, and_, or_, select

from journal.schema import journeys
from journal.store import utc, utc_naive

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


class BadCursor(ValueError):
    """A cursor this listing did not hand out (or one from another version of it)."""


class JourneyItem(BaseModel):
    """One journey as the listing shows it; a customer back after an ended journey has one per run."""

    customer_id: str
    workflow_id: str
    journey_id: str = Field(description="<workflow id>:<first run id, 8 characters>")
    status: str
    stage: str
    group: str = Field(description="treatment or holdout")
    started_at: datetime
    updated_at: datetime | None = Field(description="when the journal last heard of the journey")
    ended_at: datetime | None
    outcome: str | None
    nudges: int


class JourneyPage(BaseModel):
    journeys: list[JourneyItem]
    next: str | None = Field(description="the cursor of the next page; null on the last one")


def encode_cursor(started_at: datetime, journey_id: str) -> str:
    raw = json.dumps([utc_naive(started_at).isoformat(), journey_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started, journey_id = json.loads(raw)
        if not isinstance(journey_id, str) or not isinstance(started, str):
            raise TypeError
        return datetime.fromisoformat(started), journey_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise BadCursor("cursor is not one this listing handed out") from None


def list_journeys(
    engine: Engine,
    *,
    status: str | None = None,
    stage: str | None = None,
    since: datetime | None = None,
    customer_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> JourneyPage:
    """Journeys started at or after `since`, with this status and stage (any when None), newest first."""
    j = journeys.c
    where = []
    if status is not None:
        where.append(j.status == status)
    if stage is not None:
        where.append(j.stage == stage)
    if since is not None:
        where.append(j.started_at >= utc_naive(since))
    if customer_id is not None:
        where.append(j.customer_id == customer_id)
    if cursor is not None:
        after_started, after_id = decode_cursor(cursor)
        where.append(or_(j.started_at < after_started, and_(j.started_at == after_started, j.journey_id < after_id)))
    limit = max(1, min(limit, MAX_LIMIT))
    statement = select(journeys).where(*where).order_by(j.started_at.desc(), j.journey_id.desc()).limit(limit + 1)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(statement)]
    page = rows[:limit]
    items = [
        JourneyItem(
            customer_id=r["customer_id"],
            workflow_id=r["workflow_id"],
            journey_id=r["journey_id"],
            status=r["status"],
            stage=r["stage"],
            group=r["recovery_group"],
            started_at=utc(r["started_at"]),
            updated_at=utc(r["updated_at"]),
            ended_at=utc(r["ended_at"]),
            outcome=r["outcome"],
            nudges=r["nudges_sent"] if r["nudges_sent"] is not None else r["messages_sent"],
        )
        for r in page
    ]
    more = len(rows) > limit
    return JourneyPage(
        journeys=items, next=encode_cursor(page[-1]["started_at"], page[-1]["journey_id"]) if more else None
    )
