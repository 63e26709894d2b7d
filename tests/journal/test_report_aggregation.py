"""The report by aggregation in the database equals the plain Python computation over every row (the
report as it was before: load every journey, count in Python), on SQLite and on PostgreSQL; and its
memory does not grow with the journal."""

import math
import statistics
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, and_, func, select

from journal.report import (
    INTERVENTIONS,
    CohortWeek,
    Duration,
    Friction,
    FunnelStep,
    GuardrailFigures,
    RecoveryReport,
    StageRecovery,
    report_from_journal,
    uplift_of,
)
from journal.schema import customer_activity, journal_entries, journeys
from journal.store import migrate, open_journal, utc, utc_naive
from tests.journal.synthetic_journal import T0, write_synthetic_journal
from tests.journal.test_store import postgres_engine
from workflows.funnel import MAIN_PATH, Stage, funnel_position

UNTIL = (T0 + timedelta(days=200)).replace(tzinfo=UTC)


# -- the oracle: every row in memory, every figure by its definition ------------------------------


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _duration(rows: list[dict[str, Any]]) -> Duration:
    hours = [(utc(j["ended_at"]) - utc(j["started_at"])).total_seconds() / 3600 for j in rows]
    return Duration(
        customers=len(hours),
        median_hours=statistics.median(hours) if hours else None,
        p90_hours=_percentile(hours, 0.9),
    )


def python_report(
    engine: Engine,
    *,
    since: datetime | None,
    until: datetime,
    playbook_version: str | None = None,
    dormancy_days: int = 30,
) -> RecoveryReport:
    def naive(moment: datetime) -> datetime:
        return utc_naive(moment)

    scope = [journeys.c.started_at < naive(until)]
    if since is not None:
        scope.append(journeys.c.started_at >= naive(since))
    if playbook_version:
        scope.append(journeys.c.playbook_version == playbook_version)
    with engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(select(journeys).where(and_(*scope)))]
        joined = journal_entries.join(journeys, journal_entries.c.journey_id == journeys.c.journey_id)

        def count(*where: Any) -> int:
            return connection.execute(select(func.count()).select_from(joined).where(*scope, *where)).scalar_one()

        opt_outs = count(
            journal_entries.c.kind == "event",
            journal_entries.c.name == "customer.opted_out",
            journal_entries.c.reason == "recorded",
        )
        deferred = count(
            journal_entries.c.kind == "decision",
            journal_entries.c.name == "deferred",
            journal_entries.c.reason == "quiet_hours",
            journeys.c.recovery_group == "treatment",
        )
        activity: dict[str, list[datetime]] = defaultdict(list)
        for r in connection.execute(select(customer_activity)):
            activity[r.customer_id].append(utc(r.occurred_at))
        activity_reported = bool(activity)

    for j in rows:
        j["drops"] = [Stage(s) for s in j["drop_off_stages"].split(",") if s]
    total = len(rows)
    completed = [j for j in rows if j["outcome"] == "completed"]
    treated = [j for j in rows if j["recovery_group"] == "treatment"]
    holdout = [j for j in rows if j["recovery_group"] == "holdout"]
    weeks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for j in rows:
        year, week, _ = utc(j["started_at"]).isocalendar()
        weeks[f"{year}-W{week:02d}"].append(j)
    by_week = [
        CohortWeek(
            week=w,
            started=len(js),
            completed=sum(1 for j in js if j["outcome"] == "completed"),
            completion_rate=_rate(sum(1 for j in js if j["outcome"] == "completed"), len(js)),
        )
        for w, js in sorted(weeks.items())
    ]
    funnel = []
    for stage in MAIN_PATH:
        reached = sum(1 for j in rows if funnel_position(Stage(j["furthest_stage"])) >= funnel_position(stage))
        funnel.append(FunnelStep(stage=stage, reached=reached, share_of_started=_rate(reached, total)))
    drop_counts = Counter(s for j in rows for s in set(j["drops"]))
    friction = sorted(
        (Friction(stage=s, drop_offs=n, share_of_journeys=_rate(n, total)) for s, n in drop_counts.items()),
        key=lambda f: (-f.drop_offs, funnel_position(f.stage)),
    )
    recovery = []
    for stage in sorted(drop_counts, key=funnel_position):
        dropped = [j for j in treated if stage in j["drops"]]
        back = [j for j in dropped if j["outcome"] == "completed"]
        split = Counter(j["preceded_by"] or "none" for j in back)
        recovery.append(
            StageRecovery(
                stage=stage,
                dropped=len(dropped),
                recovered=len(back),
                recovery_rate=_rate(len(back), len(dropped)),
                by_intervention={k: split.get(k, 0) for k in (*INTERVENTIONS, "none")},
            )
        )
    recovered = [j for j in completed if j["drops"] and j["recovery_group"] == "treatment"]
    uplift = [uplift_of("any stage", [j for j in treated if j["drops"]], [j for j in holdout if j["drops"]])]
    for stage in sorted(drop_counts, key=funnel_position):
        uplift.append(
            uplift_of(
                stage.value, [j for j in treated if stage in j["drops"]], [j for j in holdout if stage in j["drops"]]
            )
        )
    messages = sum(j["messages_sent"] for j in rows)
    eligible = [j for j in completed if utc(j["ended_at"]) + timedelta(days=dormancy_days) <= until]
    dormant: int | None = None
    if activity_reported:
        dormant = len(
            [
                j
                for j in eligible
                if not any(
                    utc(j["ended_at"]) < t <= utc(j["ended_at"]) + timedelta(days=dormancy_days)
                    for t in activity[j["customer_id"]]
                )
            ]
        )
    return RecoveryReport(
        since=since,
        until=until,
        playbook_version=playbook_version,
        journeys=total,
        ended=sum(1 for j in rows if j["outcome"]),
        completed=len(completed),
        completion_rate=_rate(len(completed), total),
        holdout_journeys=len(holdout),
        by_cohort_week=by_week,
        funnel=funnel,
        friction=friction,
        recovery=recovery,
        time_to_completion={
            "unassisted": _duration([j for j in completed if not j["drops"]]),
            "recovered": _duration(recovered),
        },
        uplift=uplift,
        guardrails=GuardrailFigures(
            messages_sent=messages,
            opt_outs=opt_outs,
            opt_outs_per_1000_messages=1000 * opt_outs / messages if messages else None,
            recovered_customers=len(recovered),
            messages_per_recovered_customer=_rate(sum(j["messages_sent"] for j in treated), len(recovered)),
            deferred_by_quiet_hours=deferred,
            dormancy_days=dormancy_days,
            dormant_after_completion=dormant,
            completed_eligible_for_dormancy=len(eligible),
            dormancy_note=(
                f"completed customers with no activity in the {dormancy_days} days after completion"
                if activity_reported
                else "the app reports no customer.active events: dormancy cannot be measured"
            ),
        ),
    )


# -- the journals ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def synthetic(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """3,000 seeded journeys over four months, in a real journal of each kind."""
    if request.param == "sqlite":
        engine = open_journal(f"sqlite:///{tmp_path_factory.mktemp('synthetic') / 'journal.db'}")
        migrate(engine)
        write_synthetic_journal(engine, 3_000)
        yield engine
        engine.dispose()
    else:
        for engine in postgres_engine():
            migrate(engine)
            write_synthetic_journal(engine, 3_000)
            yield engine


SCOPES: list[dict[str, Any]] = [
    {"since": None, "until": UNTIL},
    {"since": (T0 + timedelta(days=30)).replace(tzinfo=UTC), "until": (T0 + timedelta(days=75)).replace(tzinfo=UTC)},
    {"since": None, "until": UNTIL, "playbook_version": "default@bbb", "dormancy_days": 7},
    {"since": None, "until": (T0 + timedelta(days=60)).replace(tzinfo=UTC)},
    {"since": UNTIL, "until": UNTIL + timedelta(days=1)},  # nothing in scope
]


# Figures from their own modules, each checked against its own journal by its own tests
# (tests/journal/test_delivery_rates.py, test_early_life_report.py); the reference above models the rest.
OWN_TESTS = {"delivery", "early_life"}


@pytest.mark.parametrize("scope", SCOPES, ids=["all", "window", "playbook", "early-until", "empty"])
def test_the_sql_report_equals_the_python_computation(synthetic: Engine, scope: dict[str, Any]) -> None:
    expected = python_report(synthetic, **scope)
    got = report_from_journal(synthetic, **scope)
    for field in RecoveryReport.model_fields.keys() - OWN_TESTS:
        assert getattr(got, field) == getattr(expected, field), field
    if scope["since"] is None and "playbook_version" not in scope and scope["until"] == UNTIL:
        assert (
            got.journeys == 3_000
            and got.guardrails.dormant_after_completion
            and got.time_to_completion["recovered"].customers > 30
        )


def test_an_empty_journal_reports_zeros(tmp_path: Path) -> None:
    engine = open_journal(f"sqlite:///{tmp_path / 'empty.db'}")
    migrate(engine)
    got, expected = report_from_journal(engine, since=None, until=UNTIL), python_report(engine, since=None, until=UNTIL)
    assert got.model_copy(update=dict.fromkeys(OWN_TESTS)) == expected.model_copy(update=dict.fromkeys(OWN_TESTS))


# A bound far from both sides: the rows-in-memory report peaked at about 170 MB of Python objects
# here (1.7 KB a journey); the aggregates need a few hundred numbers and SQLAlchemy's statement cache.
PEAK_BOUND_BYTES = 32 * 1024 * 1024


def test_peak_memory_does_not_grow_with_the_journal(tmp_path: Path) -> None:
    engine = open_journal(f"sqlite:///{tmp_path / 'large.db'}")
    migrate(engine)
    write_synthetic_journal(engine, 100_000, seed=7, chunk=10_000)
    report_from_journal(engine, since=None, until=UNTIL)  # warm: imports, dialect and statement caches
    tracemalloc.start()
    try:
        report = report_from_journal(engine, since=None, until=UNTIL)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.journeys == 100_000
    assert peak < PEAK_BOUND_BYTES, f"peak {peak / 1e6:.1f} MB of Python objects for 100,000 journeys"
