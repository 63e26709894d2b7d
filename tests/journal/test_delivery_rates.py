"""Delivery rate per channel in the report, from a real journal file: the journeys' `sent` decisions and
the SMS receipts Twilio's status callbacks left in `sms_messages`; push has no receipts and says so."""

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from journal.report import report_from_journal
from journal.sms import record_sms_status, record_sms_taken
from journal.store import migrate, open_journal, write_batch
from starters.api import create_app
from starters.client import RecoveryClient
from workflows.contracts import JournalBatch, JournalEntry, JourneySummary
from workflows.funnel import Stage
from workflows.playbook import Playbook

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
UNTIL = datetime(2026, 11, 20, tzinfo=UTC)
RECOVERY = str(Path(sys.executable).parent / "recovery")


def journey(customer_id: str, sends: list[str], started_at: datetime = START) -> JournalBatch:
    """A journey's decisions: `sent` per reason in `sends` (sms, push, fallback_to_sms...), `failed` for
    a message the vendor never took (push_unreachable, "delivery_failed sms: ...")."""
    workflow_id = f"onboarding-{customer_id}"
    return JournalBatch(
        journey=JourneySummary(
            workflow_id=workflow_id,
            journey_id=f"{workflow_id}:run00001",
            customer_id=customer_id,
            playbook_version="v1",
            recovery_group="treatment",
            started_at=started_at,
            stage=Stage.PHONE_VERIFIED,
            status="nudging",
            furthest_stage=Stage.PHONE_VERIFIED,
            drop_off_stages=[Stage.PHONE_VERIFIED],
            messages_sent=len(sends),
        ),
        entries=[
            JournalEntry(
                entry_id=f"{workflow_id}:run00001:d{n}",
                at=started_at + timedelta(hours=n + 1),
                kind="decision",
                name="sent" if reason.endswith(("push", "sms")) else "failed",
                stage=Stage.PHONE_VERIFIED,
                reason=reason.split(" ", 1)[0],
                detail=reason.split(" ", 1)[1] if " " in reason else f"nudge {n + 1}",
            )
            for n, reason in enumerate(sends)
        ],
    )


def sms(journal: Engine, customer_id: str, n: int, status: str, provider: str = "twilio") -> None:
    sid = f"SM{customer_id}{n}"
    at = START + timedelta(hours=n)
    record_sms_taken(journal, f"onboarding-{customer_id}:run00001:m{n}", sid, customer_id, provider, "queued", at)
    if status != "queued":
        record_sms_status(journal, sid, status, "30003" if status == "undelivered" else None, at)


@pytest.fixture
def journal(tmp_path: Path) -> Engine:
    engine = open_journal(f"sqlite:///{tmp_path / 'journal.db'}")
    migrate(engine)
    write_batch(engine, journey("c-1", ["push", "fallback_to_sms", "sms"]))
    write_batch(engine, journey("c-2", ["sms", "sms", "sms"]))
    write_batch(engine, journey("c-3", ["push", "push", "sms"]))
    # Sent decisions of messages no vendor took: not sent.
    write_batch(engine, journey("c-4", ["push", "push_unreachable", "sms", "delivery_failed sms: twilio answered 500"]))
    sms(journal=engine, customer_id="c-1", n=1, status="delivered")
    sms(engine, "c-1", 2, "undelivered")
    sms(engine, "c-2", 1, "delivered")
    sms(engine, "c-2", 2, "failed")
    sms(engine, "c-2", 3, "sent")  # on its way: no final word yet
    sms(engine, "c-3", 1, "delivered", provider="twilio-b")
    # Outside the report's scope: a customer whose journey started after `until`.
    write_batch(engine, journey("c-9", ["sms"], started_at=UNTIL + timedelta(days=1)))
    sms(engine, "c-9", 1, "undelivered")
    return engine


def test_the_report_shows_delivery_per_channel(journal: Engine) -> None:
    report = report_from_journal(journal, since=None, until=UNTIL)
    push, sms_ = report.delivery
    assert (push.channel, push.sent, push.with_receipts, push.delivery_rate, push.note) == (
        "push",
        3,
        0,
        None,
        "no receipts",
    )
    assert sms_.channel == "sms" and sms_.sent == 6
    assert (sms_.delivered, sms_.undelivered, sms_.failed, sms_.pending) == (3, 1, 1, 1)
    assert sms_.delivery_rate == pytest.approx(3 / 5), "delivered among the messages with a final word"
    assert sms_.by_provider == {"twilio": 5, "twilio-b": 1}
    assert sms_.note == "", "every SMS sent has a receipt"


def test_sms_without_receipts_say_so(tmp_path: Path) -> None:
    engine = open_journal(f"sqlite:///{tmp_path / 'journal.db'}")
    migrate(engine)
    write_batch(engine, journey("c-1", ["sms", "push"]))  # sent through the outbox: no receipts anywhere
    push, sms_ = report_from_journal(engine, since=None, until=UNTIL).delivery
    assert (sms_.sent, sms_.delivered, sms_.delivery_rate, sms_.note) == (1, None, None, "no receipts")
    assert (push.sent, push.note) == (1, "no receipts")
    sms(engine, "c-1", 1, "delivered")
    write_batch(engine, journey("c-2", ["sms"]))
    sms_ = report_from_journal(engine, since=None, until=UNTIL).delivery[1]
    assert (sms_.sent, sms_.delivered, sms_.delivery_rate) == (2, 1, 1.0)
    assert sms_.note == "1 sent through a provider without receipts"


async def test_the_api_report_carries_the_delivery_figures(
    journal: Engine, time_skipping_env: WorkflowEnvironment, default_playbook: Playbook
) -> None:
    client = RecoveryClient(time_skipping_env.client, default_playbook, "unused", journal)
    app = create_app(Settings(api_token="t0ken"), recovery=client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        response = await http.get(
            "/v1/report", params={"until": UNTIL.isoformat()}, headers={"Authorization": "Bearer t0ken"}
        )
    assert response.status_code == 200, response.text
    push, sms_ = response.json()["delivery"]
    assert (push["channel"], push["note"], push["delivered"]) == ("push", "no receipts", None)
    assert (sms_["delivered"], sms_["undelivered"], sms_["failed"], sms_["pending"]) == (3, 1, 1, 1)
    assert sms_["delivery_rate"] == pytest.approx(0.6)


async def test_the_cli_report_prints_the_delivery_table(journal: Engine, tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        RECOVERY,
        "report",
        "--until",
        UNTIL.strftime("%Y-%m-%d"),
        env={
            "RECOVERY_JOURNAL_URL": str(journal.url),
            "RECOVERY_DATA_DIR": str(tmp_path),
            "RECOVERY_ENV_FILE": os.devnull,
            "COLUMNS": "200",
            "PATH": "/usr/bin:/bin",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    text = out.decode()
    assert "Delivery per channel" in text
    [push_row] = [line for line in text.splitlines() if line.strip("│ ").startswith("push")]
    assert "no receipts" in push_row
    [sms_row] = [line for line in text.splitlines() if line.strip("│ ").startswith("sms ")]
    assert [c.strip() for c in sms_row.strip("│ ").split("│")] == ["sms", "6", "3", "1", "1", "1", "60.0%"]
