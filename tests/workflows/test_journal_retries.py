"""A journal write whose activity fails after the rows are in (a lost acknowledgement) is retried without duplicates."""

from pathlib import Path

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.journal_activities import JournalActivities
from journal.schema import journal_entries, journeys
from journal.store import migrate, open_journal, read_rows
from tests.harness import bench_settings, running_bench
from workers.worker import build_worker
from workflows.contracts import JournalBatch
from workflows.playbook import Playbook


class JournalThatLosesItsFirstAnswers(JournalActivities):
    attempts = 0

    @activity.defn(name="record_journal")
    async def record_journal(self, batch: JournalBatch) -> int:
        written = await super().record_journal(batch)
        JournalThatLosesItsFirstAnswers.attempts += 1
        if activity.info().attempt == 1:
            raise RuntimeError("connection reset after commit")
        return written


async def test_retried_journal_writes_leave_one_row_per_entry(
    time_skipping_env: WorkflowEnvironment, default_playbook: Playbook, tmp_path: Path
) -> None:
    settings = bench_settings(tmp_path)
    engine = open_journal(settings.journal_database_url)
    migrate(engine)
    flaky = JournalThatLosesItsFirstAnswers(engine)
    async with running_bench(
        time_skipping_env, default_playbook, settings, build_worker(time_skipping_env.client, settings, journal=flaky)
    ) as bench:
        await bench.send("onboarding.phone_verified")
        await bench.skip(hours=2)
        await bench.send("onboarding.completed")
        await bench.outcome()
    assert flaky.attempts >= 4, "every batch was written twice"
    view_entries = read_rows(engine, journal_entries)
    ids = [row["entry_id"] for row in view_entries]
    assert len(ids) == len(set(ids))
    names = sorted((row["kind"], row["name"]) for row in view_entries)
    assert names == sorted(
        [
            ("event", "onboarding.phone_verified"),
            ("event", "onboarding.completed"),
            ("decision", "sent"),
            ("decision", "ended"),
        ]
    )
    [journey] = read_rows(engine, journeys)
    assert (journey["outcome"], journey["preceded_by"], journey["messages_sent"]) == ("completed", "nudge_1", 1)
