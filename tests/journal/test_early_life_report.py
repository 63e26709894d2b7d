"""The report's early-life figures on a journal file: retention at 7/30 days, dormancy, re-engagement and
its uplift over the holdout, in the API's report JSON and `recovery report`'s output."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from core.settings import Settings
from journal.early_life import write_early_life
from journal.early_life_report import early_life_figures
from journal.store import migrate, open_journal, record_activity
from tests.journal.test_store import journal
from tests.payload_keys import TEST_PAYLOAD_KEYS
from workflows.early_life_journal import EarlyLifeBatch, EarlyLifeSummary

__all__ = ["journal"]  # the fixture, on SQLite and PostgreSQL

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
D = timedelta(days=1)
UNTIL = T0 + 60 * D


def journey(
    engine: Engine,
    customer: str,
    group: str,
    *,
    active_days: list[int],
    dormant_day: int | None,
    re_engaged_day: int | None,
    outcome: str | None,
) -> None:
    for day in active_days:
        record_activity(engine, f"{customer}-a{day}", customer, T0 + day * D)
    summary = EarlyLifeSummary(
        journey_id=f"early-life-{customer}:run1",
        workflow_id=f"early-life-{customer}",
        customer_id=customer,
        playbook_version="default@test",
        recovery_group=group,
        status=outcome or "watching",
        activated_at=T0,
        last_activity_at=T0 + max(active_days) * D if active_days else None,
        dormant_at=T0 + dormant_day * D if dormant_day is not None else None,
        nudges=2 if dormant_day is not None and group == "treatment" else 0,
        re_engaged_at=T0 + re_engaged_day * D if re_engaged_day is not None else None,
        ended_at=T0 + 30 * D if outcome else None,
        outcome=outcome,
    )
    write_early_life(engine, EarlyLifeBatch(journey=summary, entries=[], tasks=[]))


def cohort(engine: Engine) -> None:
    # Treated: one always active, two went dormant (one came back after the nudges), one never active.
    journey(
        engine,
        "t1",
        "treatment",
        active_days=[3, 6, 12, 20, 27],
        dormant_day=None,
        re_engaged_day=None,
        outcome="retained",
    )
    journey(engine, "t2", "treatment", active_days=[2, 12, 26], dormant_day=9, re_engaged_day=12, outcome="retained")
    journey(engine, "t3", "treatment", active_days=[1], dormant_day=8, re_engaged_day=None, outcome="dormant")
    journey(engine, "t4", "treatment", active_days=[], dormant_day=7, re_engaged_day=None, outcome="dormant")
    # Holdout: both went dormant, none came back.
    journey(engine, "h1", "holdout", active_days=[5], dormant_day=12, re_engaged_day=None, outcome="dormant")
    journey(engine, "h2", "holdout", active_days=[], dormant_day=7, re_engaged_day=None, outcome=None)


def test_retention_dormancy_and_re_engagement_from_the_journal(journal: Engine) -> None:
    """On SQLite and PostgreSQL alike (the `journal` fixture: PostgreSQL when the server is there)."""
    engine = journal
    cohort(engine)
    cohort(engine)  # written twice (a retried activity): the same rows
    figures = early_life_figures(engine, since=None, until=UNTIL)
    assert (figures.journeys, figures.ended, figures.retained, figures.dormant) == (6, 5, 2, 3)
    # Active in days (0, 7]: t1 (3, 6), t2 (2), t3 (1), h1 (5); in days (23, 30]: t1 (27), t2 (26).
    assert figures.retention == {"7d": 4 / 6, "30d": 2 / 6}
    assert figures.eligible == {"7d": 6, "30d": 6}
    assert (figures.went_dormant, figures.dormancy_rate) == (5, 5 / 6)
    assert (figures.re_engaged, figures.re_engagement_rate) == (1, 1 / 3)
    uplift = figures.re_engagement_uplift
    assert (uplift.treated, uplift.treated_recovered, uplift.holdout, uplift.holdout_returned) == (3, 1, 2, 0)
    assert uplift.uplift == 1 / 3 and uplift.ci_low is not None and uplift.ci_low < 0 < uplift.ci_high  # type: ignore[operator]
    assert early_life_figures(engine, since=None, until=T0 + 20 * D).eligible == {"7d": 6, "30d": 0}


def test_recovery_report_prints_and_returns_the_early_life_figures(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    engine = open_journal(settings.journal_database_url)
    migrate(engine)
    cohort(engine)
    env = {
        "RECOVERY_DATA_DIR": str(tmp_path),
        "RECOVERY_ENV_FILE": os.devnull,
        "RECOVERY_PAYLOAD_KEYS": TEST_PAYLOAD_KEYS,
        "PATH": "/usr/bin:/bin",
        "COLUMNS": "200",
    }
    recovery = str(Path(sys.executable).parent / "recovery")
    until = ["--since", "2026-09-01", "--until", "2026-11-30"]
    text = subprocess.run([recovery, "report", *until], env=env, capture_output=True, text=True, check=True).stdout
    assert "Early life (after activation)" in text
    assert "retention at 7d: 66.7%" in text and "dormancy rate: 83.3%" in text
    raw = subprocess.run([recovery, "report", "--json", *until], env=env, capture_output=True, text=True, check=True)
    early = json.loads(raw.stdout)["early_life"]
    assert early["journeys"] == 6 and early["re_engagement_uplift"]["treated_recovered"] == 1
