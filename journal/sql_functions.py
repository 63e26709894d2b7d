"""The few expressions SQLite and PostgreSQL spell differently, as SQL functions compiled per dialect,
so the report's queries are written once for both."""

from datetime import datetime
from typing import Any

from sqlalchemy import Float, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class hours_between(FunctionElement[float]):
    """Hours from the first time to the second: what durations are ranked by."""

    type = Float()
    name = "hours_between"
    inherit_cache = True


@compiles(hours_between)
def hours_between_default(element: hours_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 3600.0)"


@compiles(hours_between, "sqlite")
def hours_between_sqlite(element: hours_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 24.0)"


class days_later(FunctionElement[datetime]):
    """A stored time moved by whole days, compared exactly with other stored times."""

    name = "days_later"
    inherit_cache = True


@compiles(days_later)
def days_later_default(element: days_later, compiler: Any, **kw: Any) -> str:
    moment, days = (compiler.process(c, **kw) for c in element.clauses)
    return f"({moment} + {days} * INTERVAL '1 day')"


@compiles(days_later, "sqlite")
def days_later_sqlite(element: days_later, compiler: Any, **kw: Any) -> str:
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff': the date moves, the time of day stays to the microsecond
    # (julianday arithmetic would round it to milliseconds).
    moment, days = (compiler.process(c, **kw) for c in element.clauses)
    return f"(date(substr({moment}, 1, 10), printf('%+d days', {days})) || substr({moment}, 11))"


class day_of(FunctionElement[str]):
    """The UTC day a stored time falls on (cohort weeks are made of days)."""

    type = String()
    name = "day_of"
    inherit_cache = True


@compiles(day_of)
def day_of_default(element: day_of, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


@compiles(day_of, "sqlite")
def day_of_sqlite(element: day_of, compiler: Any, **kw: Any) -> str:
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"
