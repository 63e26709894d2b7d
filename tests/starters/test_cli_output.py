"""What a new user reads in the terminal: the README's examples reach the outbox, `recovery journey` says
the customer's group, `recovery tasks list` never cuts a task id, the report's durations fit their unit."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from journal.figures import Duration
from journal.tasks import TaskSummary
from journal.time_spans import readable_hours
from starters.cli import app
from starters.cli.journeys import render_journey
from starters.cli.report import render_time_to_completion
from starters.cli.tasks import render_tasks
from workflows.events import OnboardingEvent
from workflows.funnel import Stage
from workflows.holdout import RecoveryGroup, recovery_group
from workflows.human_tasks import HumanTask, TaskReason, TaskState
from workflows.journey_state import new_journey
from workflows.journey_view import view_of
from workflows.playbook import PLAYBOOKS_DIR, TaskKind, load_playbook
from workflows.state_bounds import StateBounds

README = Path(__file__).resolve().parents[2] / "README.md"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def shown(renderable: object, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("name", ["default", "demo"])
def test_the_readmes_example_customers_are_in_the_treatment_group(name: str) -> None:
    """A holdout customer is never messaged: an example whose nudge never reaches the outbox misleads."""
    share = load_playbook(PLAYBOOKS_DIR / f"{name}.toml").holdout_share
    examples = set(re.findall(r"\bc-\d+\b", README.read_text(encoding="utf-8")))
    assert examples, "the README has example customers"
    assert {c for c in examples if recovery_group(c, share) is RecoveryGroup.HOLDOUT} == set()


@pytest.mark.parametrize(("share", "words"), [(0.0, "treatment"), (1.0, "holdout (watched, never messaged")])
def test_recovery_journey_shows_the_group(share: float, words: str) -> None:
    first = OnboardingEvent(
        event_id="e-1", customer_id="c-41", type="onboarding.phone_verified", occurred_at=T0, attributes={}
    )
    state = new_journey(first, load_playbook(), T0, holdout_share=share, bounds=StateBounds())
    text = shown(render_journey(view_of(state, "onboarding-c-41", T0 + timedelta(hours=48))), width=120)
    assert re.search(rf"^group\s+{re.escape(words)}", text, re.M), text


def task(customer_id: str, n: int) -> TaskSummary:
    return TaskSummary(
        task=HumanTask(
            task_id=f"{customer_id}:task-{n}",
            kind=TaskKind.VIDEO_CALL,
            reason=TaskReason.REPEATED_BIOMETRIC_FAILURE,
            stage=Stage.BIOMETRIC_FAILED,
            opened_at=T0,
            due_at=T0 + timedelta(hours=2),
            state=TaskState.CLAIMED,
            claimed_by="agent-anastasia",
        ),
        customer_id=customer_id,
        workflow_id=f"onboarding-{customer_id}",
        stage="biometric_failed",
        timezone="Asia/Tashkent",
    )


@pytest.mark.parametrize("width", [60, 80, 120])
def test_tasks_list_keeps_every_task_id_whole_at_any_width(width: int) -> None:
    summaries = [task("c-0123456789abcdef", 1), task("sim-20261207-customer-004217", 12)]
    text = shown(render_tasks(summaries), width=width)
    for s in summaries:
        assert s.task.task_id in text, text
    assert max(len(line) for line in text.splitlines()) <= width


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (None, "-"),
        (0.0, "0.0 s"),
        (9.8 / 3600, "9.8 s"),
        (59.96 / 3600, "1.0 min"),
        (25 / 60, "25.0 min"),
        (0.9999, "1.0 h"),
        (20.8, "20.8 h"),
        (47.99, "2.0 d"),
        (24 * 3.5, "3.5 d"),
    ],
)
def test_durations_read_in_a_unit_that_fits(hours: float | None, text: str) -> None:
    assert readable_hours(hours) == text


def test_the_cli_report_gives_time_to_completion_in_seconds_on_the_demo_playbook() -> None:
    durations = {
        "unassisted": Duration(customers=40, median_hours=9.8 / 3600, p90_hours=31.5 / 3600),
        "recovered": Duration(customers=0, median_hours=None, p90_hours=None),
    }
    text = shown(render_time_to_completion(durations), width=80)
    assert re.search(r"unassisted\s*│\s*40\s*│\s*9\.8 s\s*│\s*31\.5 s", text), text
    assert "0.00" not in text


def test_recovery_playbook_check_says_valid_or_names_the_missing_locale(tmp_path: Path) -> None:
    shipped = [str(PLAYBOOKS_DIR / "default.toml"), str(PLAYBOOKS_DIR / "demo.toml")]
    result = CliRunner().invoke(app, ["playbook", "check", *shipped], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.stdout.count("valid, version") == 2 and "locales en, ru, uz" in result.stdout
    text = (PLAYBOOKS_DIR / "default.toml").read_text(encoding="utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text(re.sub(r'(?m)^copy\.uz\.default = "Faqat selfi.*\n', "", text), encoding="utf-8")
    result = CliRunner().invoke(app, ["playbook", "check", str(broken)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "stages.document_approved.copy.uz is missing" in result.stderr and "Value error" not in result.stderr
