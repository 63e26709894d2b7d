"""The console's pure rules, without a server: tabs, order, lateness, the customer's clock, the
funnel strip, the audit, who may do what, and the signing of cookies and forms."""

import asyncio
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from console.accounts import Agent, Role
from console.audit import AgentAction
from console.csrf import token_for, token_is_valid
from console.glance import funnel_steps, suggested_script, task_audit, temporal_ui_link
from console.inbox import Tab, customer_local_time, due_label, inbox_rows, span, tab_counts
from console.permissions import TaskAction, allowed_actions, forbidden
from console.sessions import console_secret, session_id_of
from console.task_feed import TaskFeed
from core.settings import Settings
from journal.tasks import TaskSummary
from workflows.early_life_input import EarlyLifeInput, plan_of
from workflows.early_life_records import new_early_life, record_claim, record_completion
from workflows.early_life_state import EarlyLifeDecision
from workflows.funnel import Stage
from workflows.human_tasks import CompleteTask, HumanTask, TaskOutcome, TaskReason, TaskState
from workflows.journey_state import Decision, DecisionAction, JourneyStatus
from workflows.journey_view import JourneyView
from workflows.playbook import Playbook, TaskKind, load_playbook

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ANA = Agent("ana", Role.AGENT, NOW)
BOB = Agent("bob", Role.AGENT, NOW)
SUE = Agent("sue", Role.SUPERVISOR, NOW)


def task(
    number: int,
    due_in: timedelta,
    state: TaskState = TaskState.OPEN,
    claimed_by: str | None = None,
    reason: TaskReason = TaskReason.HELP_REQUESTED,
    detail: str = "customer asked for help",
) -> HumanTask:
    return HumanTask(
        task_id=f"c-{number}:task-1",
        kind=TaskKind.HELP_REQUEST,
        reason=reason,
        stage=Stage.PHONE_VERIFIED,
        detail=detail,
        opened_at=NOW + due_in - timedelta(hours=1),
        due_at=NOW + due_in,
        state=state,
        claimed_by=claimed_by,
    )


def summary(t: HumanTask, zone: str | None = "Asia/Tashkent") -> TaskSummary:
    customer_id = t.task_id.split(":")[0]
    return TaskSummary(
        task=t, customer_id=customer_id, workflow_id=f"onboarding-{customer_id}", stage="phone_verified", timezone=zone
    )


def test_tabs_hold_open_mine_and_all_live_tasks_soonest_due_first(default_playbook: Playbook) -> None:
    tasks = [
        summary(task(1, timedelta(minutes=50))),
        summary(task(2, timedelta(minutes=-15))),  # overdue
        summary(task(3, timedelta(minutes=5), TaskState.CLAIMED, "ana")),
        summary(task(4, timedelta(minutes=1), TaskState.CLAIMED, "bob")),
    ]
    ids = {tab: [r.customer_id for r in inbox_rows(tasks, tab, "ana", default_playbook, NOW)] for tab in Tab}
    assert ids == {Tab.OPEN: ["c-2", "c-1"], Tab.MINE: ["c-3"], Tab.ALL: ["c-2", "c-4", "c-3", "c-1"]}
    assert tab_counts(tasks, "ana") == {Tab.OPEN: 2, Tab.MINE: 1, Tab.ALL: 4}
    first = inbox_rows(tasks, Tab.ALL, "ana", default_playbook, NOW)[0]
    assert (first.overdue, first.due, first.age, first.sla) == (
        True,
        "Overdue by 15 min",
        "1 h 15 min",
        "act within 1h",
    )
    assert first.detail == "", "a detail that only repeats the reason is not shown twice"
    assert Tab.parse("mine") is Tab.MINE and Tab.parse("bogus") is Tab.OPEN and Tab.parse(None) is Tab.OPEN


def test_rejection_reasons_are_shown_with_the_task(default_playbook: Playbook) -> None:
    rejected = task(5, timedelta(hours=2), reason=TaskReason.REPEATED_REJECTION, detail="2 rejections: blur, glare")
    row = inbox_rows([summary(rejected)], Tab.OPEN, "ana", default_playbook, NOW)[0]
    assert (row.reason, row.detail) == ("Document rejected repeatedly", "2 rejections: blur, glare")


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=20), "under 1 min"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(hours=2, minutes=5), "2 h 5 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(days=3, hours=4), "3 d 4 h"),
        (timedelta(days=2), "2 d"),
    ],
)
def test_spans_read_at_a_glance(delta: timedelta, text: str) -> None:
    assert span(delta) == text


def test_a_finished_task_has_no_due_time() -> None:
    assert due_label(task(6, timedelta(hours=-3), TaskState.COMPLETED), NOW) == "-"


def test_the_customers_clock_warns_at_night_and_says_until_when(default_playbook: Playbook) -> None:
    night = customer_local_time(
        "Asia/Tashkent", datetime(2026, 11, 22, 17, 30, tzinfo=UTC), default_playbook
    )  # 22:30 there
    assert (night.label, night.at_night, night.night_until.strftime("%H:%M") if night.night_until else None) == (
        "22:30 Sun",
        True,
        "09:00",
    )
    day = customer_local_time("Asia/Tashkent", NOW, default_playbook)  # 15:00 there
    assert (day.label, day.at_night, day.zone_known) == ("15:00 Sun", False, True)
    unknown = customer_local_time(None, NOW, default_playbook)
    assert (unknown.zone, unknown.zone_known) == ("UTC", False)


def view(stage: Stage, rejections: int = 0, decisions: list[Decision] | None = None) -> JourneyView:
    return JourneyView(
        workflow_id="onboarding-c-1",
        customer_id="c-1",
        playbook_version="default@x",
        recovery_group="treatment",
        status=JourneyStatus.AWAITING_AGENT,
        stage=stage,
        stage_since=NOW,
        started_at=NOW,
        recovery_deadline=NOW,
        attempts_at_stage=0,
        nudges_sent=0,
        drop_off_stage=None,
        rejections=rejections,
        last_error=None,
        opted_out=[],
        timezone=None,
        locale=None,
        next_action=None,
        next_action_at=None,
        open_task=None,
        tasks=[],
        messages=[],
        suppressed=[],
        decisions=decisions or [],
        events=[],
        duplicates_ignored=0,
        outcome=None,
    )


def test_the_funnel_strip_marks_where_the_customer_stopped() -> None:
    steps = funnel_steps(view(Stage.PHONE_VERIFIED))
    assert [(s.label, s.status) for s in steps] == [
        ("Started", "done"),
        ("Phone verified", "current"),
        ("Document uploaded", "todo"),
        ("Document approved", "todo"),
        ("Biometric passed", "todo"),
        ("Completed", "todo"),
    ]
    rejected = funnel_steps(view(Stage.DOCUMENT_REJECTED, rejections=2))
    assert [(s.status, s.note) for s in rejected[2:4]] == [("done", "done"), ("failed", "failed (2 rejections)")]
    assert [s.status for s in funnel_steps(view(Stage.COMPLETED))] == ["done"] * 6


def test_the_audit_merges_console_actions_with_what_the_journey_recorded_for_this_task_only() -> None:
    decisions = [
        Decision(
            at=NOW,
            action=DecisionAction.TASK_OPENED,
            stage=Stage.PHONE_VERIFIED,
            reason="help_requested",
            detail="c-1:task-1 (help_request)",
        ),
        Decision(
            at=NOW + timedelta(minutes=2),
            action=DecisionAction.TASK_CLAIMED,
            stage=Stage.PHONE_VERIFIED,
            reason="agent",
            detail="c-1:task-1 by ana",
        ),
        Decision(
            at=NOW + timedelta(minutes=3),
            action=DecisionAction.TASK_CLAIMED,
            stage=Stage.PHONE_VERIFIED,
            reason="agent",
            detail="c-1:task-10 by bob",
        ),
        Decision(
            at=NOW + timedelta(minutes=4),
            action=DecisionAction.SENT,
            stage=Stage.PHONE_VERIFIED,
            reason="nudge",
            detail="c-1:task-1",
        ),
        Decision(
            at=NOW + timedelta(hours=2),
            action=DecisionAction.TASK_OVERDUE,
            stage=Stage.PHONE_VERIFIED,
            reason="unclaimed_past_due",
            detail="c-1:task-1",
        ),
    ]
    actions = [AgentAction(NOW + timedelta(minutes=1), "ana", "claim", "c-1:task-1", "c-1", "")]
    audit = task_audit(view(Stage.PHONE_VERIFIED, decisions=decisions).decisions, "c-1:task-1", actions)
    assert [(a.who, a.what, a.source) for a in audit] == [
        ("journey", "task opened (help requested)", "journey"),
        ("ana", "claim", "console"),
        ("ana", "task claimed", "journey"),
        ("journey", "task overdue (unclaimed past due)", "journey"),
    ]


def test_an_early_life_tasks_audit_reads_the_early_life_journeys_decisions() -> None:
    decisions = [
        EarlyLifeDecision(at=NOW, action="dormant", reason="quiet", detail=""),
        EarlyLifeDecision(
            at=NOW + timedelta(hours=1), action="task_opened", reason="dormancy", detail="c-1:early-task-1"
        ),
        EarlyLifeDecision(
            at=NOW + timedelta(hours=2), action="task_opened", reason="dormancy", detail="c-1:early-task-2"
        ),
    ]
    task = HumanTask(
        task_id="c-1:early-task-1",
        kind=TaskKind.RETENTION_CALL,
        reason=TaskReason.DORMANCY,
        stage=Stage.STARTED,
        opened_at=NOW,
        due_at=NOW + timedelta(days=1),
    )
    state = new_early_life(
        EarlyLifeInput(customer_id="c-1", plan=plan_of(load_playbook()), activated_at=NOW, timezone="UTC"), NOW
    )
    state.decisions.extend(decisions)
    record_claim(state, task, "ana", NOW + timedelta(hours=3))
    done = CompleteTask(task_id=task.task_id, agent_id="ana", outcome=TaskOutcome.UNREACHABLE)
    record_completion(state, task, done, NOW + timedelta(hours=4))
    audit = task_audit(state.decisions, "c-1:early-task-1", [])
    assert [(a.who, a.what) for a in audit] == [
        ("journey", "task opened (dormancy)"),
        ("ana", "task claimed"),
        ("ana", "task completed (unreachable)"),
    ]


def test_the_temporal_ui_link_names_namespace_and_workflow() -> None:
    assert (
        temporal_ui_link("http://localhost:8233/", "default", "onboarding-c-42")
        == "http://localhost:8233/namespaces/default/workflows/onboarding-c-42"
    )


def test_who_may_do_what() -> None:
    open_task = task(7, timedelta(hours=1))
    anas = task(7, timedelta(hours=1), TaskState.CLAIMED, "ana")
    assert allowed_actions(ANA, open_task) == {TaskAction.CLAIM}
    assert allowed_actions(ANA, anas) == {TaskAction.RELEASE, TaskAction.COMPLETE}
    assert allowed_actions(BOB, anas) == set()
    assert allowed_actions(SUE, anas) == {TaskAction.RELEASE, TaskAction.REASSIGN}
    assert allowed_actions(SUE, open_task) == {TaskAction.CLAIM, TaskAction.REASSIGN}
    assert allowed_actions(SUE, task(7, timedelta(hours=1), TaskState.COMPLETED)) == set()
    assert forbidden(TaskAction.COMPLETE, SUE, anas) == "Task c-7:task-1 is claimed by ana: only they can complete it."
    assert forbidden(TaskAction.COMPLETE, ANA, open_task) is None, (
        "the journey says why an unclaimed task cannot be completed"
    )


def test_csrf_tokens_are_bound_to_their_session_and_secret() -> None:
    token = token_for("secret", "session-1")
    assert token_is_valid("secret", "session-1", token)
    assert not token_is_valid("secret", "session-2", token)
    assert not token_is_valid("other-secret", "session-1", token)
    assert not token_is_valid("secret", None, token)
    assert not token_is_valid("secret", "session-1", None)
    assert not token_is_valid("secret", "session-1", "")


def test_the_console_secret_is_made_once_kept_private_and_the_setting_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    secret = console_secret(settings)
    assert len(secret) >= 40 and console_secret(settings) == secret
    assert stat.S_IMODE((tmp_path / "var" / "console-secret").stat().st_mode) == 0o600
    assert list((tmp_path / "var").iterdir()) == [tmp_path / "var" / "console-secret"], "no draft left behind"
    assert (
        console_secret(settings.model_copy(update={"console_secret": "from-the-environment"})) == "from-the-environment"
    )


def test_a_cookie_signed_with_another_secret_or_tampered_with_carries_no_session() -> None:
    cookie = URLSafeTimedSerializer("secret", salt="console-session").dumps("session-1")
    assert session_id_of("secret", cookie) == "session-1"
    assert session_id_of("another", cookie) is None
    assert session_id_of("secret", cookie[:-2] + "xx") is None
    assert session_id_of("secret", None) is None


class CountingRecovery:
    def __init__(self) -> None:
        self.fetches = 0

    async def list_tasks(self, states: tuple[str, ...]) -> list[TaskSummary]:
        self.fetches += 1
        await asyncio.sleep(0.01)
        return [summary(task(self.fetches, timedelta(hours=1)))]


async def test_agents_refreshing_together_share_one_fetch_until_an_action_invalidates_it() -> None:
    recovery, feed = CountingRecovery(), TaskFeed(ttl_seconds=60)
    lists = await asyncio.gather(*(feed.live_tasks(recovery) for _ in range(5)))  # type: ignore[arg-type]
    assert recovery.fetches == 1 and all(found == lists[0] for found in lists)
    feed.invalidate()
    assert (await feed.live_tasks(recovery))[0].customer_id == "c-2"  # type: ignore[arg-type]


class LaggingJournal:
    """The journal's listing, which learns of an agent's action only when the journey next writes."""

    def __init__(self, listed: list[TaskSummary]) -> None:
        self.listed = listed

    async def list_tasks(self, states: tuple[str, ...]) -> list[TaskSummary]:
        return list(self.listed)


async def test_an_agents_own_action_wins_over_a_journal_that_has_not_caught_up() -> None:
    journal, feed = (
        LaggingJournal([summary(task(1, timedelta(hours=1))), summary(task(2, timedelta(hours=2)))]),
        TaskFeed(ttl_seconds=0),
    )
    feed.record(task(1, timedelta(hours=1), TaskState.CLAIMED, "agent-ana"))
    feed.record(task(2, timedelta(hours=2), TaskState.COMPLETED, "agent-ana"))
    shown = await feed.live_tasks(journal)  # type: ignore[arg-type]
    assert [(s.task.task_id, s.task.state, s.task.claimed_by) for s in shown] == [
        ("c-1:task-1", TaskState.CLAIMED, "agent-ana")
    ]
    journal.listed = [summary(task(1, timedelta(hours=1), TaskState.CLAIMED, "agent-ana"))]  # the journal caught up
    assert [s.task.state for s in await feed.live_tasks(journal)] == [TaskState.CLAIMED]  # type: ignore[arg-type]
    journal.listed = [
        summary(task(1, timedelta(hours=1)))
    ]  # released later by a supervisor: the journal's word stands now
    assert [s.task.state for s in await feed.live_tasks(journal)] == [TaskState.OPEN]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("locale", "starts"),
    [
        ("ru", "Клиент попросил"),
        ("uz-latn", "Mijoz yordam"),
        ("kk", "The customer asked"),
        (None, "The customer asked"),
    ],
)
def test_the_agents_script_is_in_the_customers_language_as_their_messages_are(locale: str | None, starts: str) -> None:
    task = HumanTask(
        task_id="c-1:task-1",
        kind=TaskKind.HELP_REQUEST,
        reason=TaskReason.HELP_REQUESTED,
        stage=Stage.PHONE_VERIFIED,
        opened_at=NOW,
        due_at=NOW,
    )
    assert suggested_script(load_playbook(), task, locale).startswith(starts)
