"""`GET /v1/report` and its chart: the recovery report from the journal, as `recovery report` and the
console's report page compute it (journal/report.py)."""

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BeforeValidator

from core.deps import journal_of
from journal.chart import chart_png
from journal.report import RecoveryReport, report_from_journal
from journal.store import utc
from starters.api.auth import ERRORS

router = APIRouter(prefix="/v1")  # prefixed here: the route keeps its full path (metrics label routes by it)


REPORT_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)  # before any journey: events date from 2000 on
REPORT_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _report_bound(moment: datetime | None) -> datetime | None:
    """In UTC and within 1900-9000, which select the same journeys as any wider bound: the report
    subtracts days from `until`, and year 1 or 9999 (valid date-times) overflowed into a 500."""
    if moment is None:
        return None
    aware = utc(moment)
    try:
        in_utc = aware.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 has no UTC form
        return REPORT_EARLIEST if aware.year < 5000 else REPORT_LATEST
    return min(max(in_utc, REPORT_EARLIEST), REPORT_LATEST)


async def _report(
    request: Request, since: datetime | None, until: datetime | None, playbook_version: str | None, dormancy_days: int
) -> RecoveryReport:
    return await asyncio.to_thread(
        report_from_journal,
        journal_of(request),
        since=_report_bound(since),
        until=_report_bound(until) or datetime.now(UTC),
        playbook_version=playbook_version,
        dormancy_days=dormancy_days,
    )


_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _date_time_only(value: Any) -> Any:
    """A date-time as the document says, not a number: pydantic would read "-1e-225" as a Unix time."""
    if isinstance(value, str) and not _DATE_TIME.match(value):
        raise ValueError("expected an ISO 8601 date-time, e.g. 2026-11-01T00:00:00Z")
    return value


ReportSince = Annotated[
    datetime | None,
    BeforeValidator(_date_time_only),
    Query(description="journeys started from (ISO 8601 date-time; naive means UTC)"),
]
ReportUntil = Annotated[
    datetime | None,
    BeforeValidator(_date_time_only),
    Query(description="journeys started before (ISO 8601 date-time; default: now)"),
]
ReportPlaybook = Annotated[str | None, Query(description="only journeys that pinned this playbook version")]
DormancyDays = Annotated[
    int, Query(ge=1, le=365, description="days without activity after completion that count as dormant")
]


@router.get("/report", response_model=RecoveryReport, responses=ERRORS, summary="The recovery report from the journal")
async def get_report(
    request: Request,
    since: ReportSince = None,
    until: ReportUntil = None,
    playbook_version: ReportPlaybook = None,
    dormancy_days: DormancyDays = 30,
) -> RecoveryReport:
    return await _report(request, since, until, playbook_version, dormancy_days)


@router.get(
    "/report/chart.png",
    responses={**ERRORS, 200: {"content": {"image/png": {}}}},
    summary="The funnel and recovery per stage as a PNG",
)
async def get_report_chart(
    request: Request, since: ReportSince = None, until: ReportUntil = None, playbook_version: ReportPlaybook = None
) -> Response:
    report = await _report(request, since, until, playbook_version, 30)
    return Response(await asyncio.to_thread(chart_png, report), media_type="image/png")
