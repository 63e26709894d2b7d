"""(4) `recovery report` time and peak memory at 10k / 100k / 1M journeys.

A SQLite journal made with the journal's own migrations is filled directly with synthetic journeys (a
tenth in the holdout, half completed, a third dropped off somewhere) and three entries each. The report
(`report_from_journal`, the code `GET /v1/report` and the console run) is timed in a fresh process whose
peak RSS is read from the kernel; its baseline is one GROUP BY over the same journeys in that process.
Run alone: `python -m bench.report <journal.db>` prints the figures of one journal as JSON.
"""

import json
import random
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.stack import Figure, ratio, say, verdict
from workflows.funnel import Stage

STAGES = [s.value for s in Stage if s is not Stage.COMPLETED]
BEGIN = datetime(2026, 1, 5)
ROWS_PER_COMMIT = 50_000


@dataclass
class ReportRun:
    journeys: int
    seconds: float
    peak_mb: float
    base_mb: float
    group_by_seconds: float


def fill(path: Path, n: int) -> None:
    """A migrated journal at `path` with n synthetic journeys and 3n entries."""
    from journal.store import migrate, open_journal

    migrate(open_journal(f"sqlite:///{path.resolve()}"))
    rng = random.Random(n)
    db = sqlite3.connect(path)
    for first in range(0, n, ROWS_PER_COMMIT):
        journeys, entries = [], []
        for i in range(first, min(n, first + ROWS_PER_COMMIT)):
            started = BEGIN + timedelta(seconds=i * 30)
            done, dropped = rng.random() < 0.5, rng.random() < 0.33
            stage = rng.choice(STAGES)
            ended = started + timedelta(hours=rng.uniform(0.1, 40)) if done or rng.random() < 0.4 else None
            wid, jid = f"onboarding-bench-{i}", f"onboarding-bench-{i}:{i % 99999999:08d}"
            journeys.append(
                (
                    jid,
                    wid,
                    f"bench-{i}",
                    "bench",
                    "holdout" if i % 10 == 0 else "treatment",
                    str(started),
                    "completed" if done else stage,
                    "completed" if done else ("abandoned" if ended else "nudging"),
                    "completed" if done else stage,
                    stage if dropped else "",
                    rng.randint(0, 3) if dropped else 0,
                    "completed" if done else ("abandoned" if ended else None),
                    None,
                    None,
                    int(rng.random() < 0.05),
                    str(ended) if ended else None,
                )
            )
            for k, (kind, name) in enumerate(
                [("event", "onboarding.phone_verified"), ("decision", "sent"), ("event", "onboarding.completed")]
            ):
                entries.append(
                    (
                        f"{jid}:{k}",
                        wid,
                        jid,
                        f"bench-{i}",
                        str(started + timedelta(minutes=k)),
                        kind,
                        name,
                        stage,
                        "recorded",
                        "",
                        "bench",
                    )
                )
        db.executemany(
            "INSERT INTO journeys (journey_id, workflow_id, customer_id, playbook_version, recovery_group, started_at, "
            "stage, status, furthest_stage, drop_off_stages, messages_sent, outcome, outcome_reason, preceded_by, "
            "assisted, ended_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            journeys,
        )
        db.executemany(
            "INSERT INTO journal_entries (entry_id, workflow_id, journey_id, customer_id, at, kind, name, stage, "
            "reason, detail, playbook_version) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            entries,
        )
        db.commit()
    db.close()


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM: ru_maxrss would start from the parent's RSS at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_once(path: Path) -> dict[str, float]:
    """In this process: the report (seconds, peak RSS, and the RSS it started from), then the GROUP BY."""
    from journal.report import report_from_journal
    from journal.store import open_journal

    engine = open_journal(f"sqlite:///{path.resolve()}")
    base = _peak_mb()
    began = time.perf_counter()
    report_from_journal(engine, since=None, until=datetime.now(UTC))
    seconds, peak = time.perf_counter() - began, _peak_mb()
    began = time.perf_counter()  # after the report: both read a journal the page cache holds
    with sqlite3.connect(path) as db:
        db.execute("SELECT recovery_group, outcome, count(*) FROM journeys GROUP BY recovery_group, outcome").fetchall()
    return {"seconds": seconds, "peak_mb": peak, "base_mb": base, "group_by_seconds": time.perf_counter() - began}


def measure(work: Path, sizes: list[int]) -> list[ReportRun]:
    runs = []
    for n in sizes:
        path = work / f"report-{n}.db"
        say(f"  report: filling a journal with {n:,} journeys")
        fill(path, n)
        say(f"  report: timing the report over {n:,} journeys in a fresh process")
        out = subprocess.run(
            [sys.executable, "-m", "bench.report", str(path)],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=Path(__file__).resolve().parent.parent,
        )
        if out.returncode:
            raise RuntimeError(f"the report over {n} journeys failed: {out.stderr[-2000:]}")
        runs.append(ReportRun(n, **json.loads(out.stdout.strip().splitlines()[-1])))
        path.unlink()
    return runs


def figures(runs: list[ReportRun]) -> list[Figure]:
    rows = [
        Figure(
            "report",
            f"{r.journeys:,} journeys",
            f"{r.seconds:.2f} s, peak {r.peak_mb:.0f} MB (+{r.peak_mb - r.base_mb:.0f})",
            f"{r.group_by_seconds:.3f} s (GROUP BY)",
            f"{ratio(r.seconds, r.group_by_seconds):.0f}x",
            "",
        )
        for r in runs
    ]
    largest = runs[-1]
    if largest.journeys >= 1_000_000:
        seconds, peak, how = largest.seconds, largest.peak_mb, "measured"
    else:  # QUICK: extrapolated linearly from the two largest sizes
        a, b = runs[-2], runs[-1]
        scale = (1_000_000 - b.journeys) / (b.journeys - a.journeys)
        seconds = b.seconds + (b.seconds - a.seconds) * scale
        peak = b.peak_mb + max(0.0, (b.peak_mb - b.base_mb) - (a.peak_mb - a.base_mb)) * scale  # growth is what scales
        how = f"extrapolated linearly from {a.journeys:,} and {b.journeys:,}"
    rows.append(
        Figure(
            "report",
            f"1M journeys ({how})",
            f"{seconds:.1f} s, peak {peak:.0f} MB",
            "-",
            "-",
            verdict(seconds < 10 and peak < 300, "target under 10 s and 300 MB at 1M journeys"),
        )
    )
    return rows


if __name__ == "__main__":
    print(json.dumps(run_once(Path(sys.argv[1]))))
