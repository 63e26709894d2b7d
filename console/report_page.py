"""The recovery report in the console: the same figures as `recovery report`, for people who would rather look."""

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from console.context import PREFIX, ConsoleError, PageSession, base, journal_for, render
from journal.chart import chart_png
from journal.report import INTERVENTIONS, RecoveryReport, report_from_journal
from journal.time_spans import readable_hours

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PERIODS = {"7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90), "all": None}


def _period(value: str | None) -> str:
    return value if value in PERIODS else "30d"


async def _report(request: Request, period: str) -> RecoveryReport:
    now = datetime.now(UTC)
    span = PERIODS[period]
    try:
        return await asyncio.to_thread(
            report_from_journal, journal_for(request), since=now - span if span else None, until=now
        )
    except Exception as exc:  # a journal that cannot be read: say so on the page
        raise ConsoleError(503, f"The journal could not be read ({type(exc).__name__}).") from None


@router.get("/report")
async def report_page(request: Request, session: PageSession, period: str | None = Query(None)) -> Response:
    chosen = _period(period)
    report = await _report(request, chosen)
    return render(
        request,
        "report.html",
        base(
            session,
            report=report,
            period=chosen,
            periods=list(PERIODS),
            interventions=[*INTERVENTIONS, "none"],
            span=readable_hours,  # time to completion in s, min, h or d, as it fits
        ),
    )


@router.get("/report/chart.png")
async def report_chart(request: Request, session: PageSession, period: str | None = Query(None)) -> Response:
    report = await _report(request, _period(period))
    return Response(
        await asyncio.to_thread(chart_png, report), media_type="image/png", headers={"Cache-Control": "no-store"}
    )
