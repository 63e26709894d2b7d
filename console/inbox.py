"""The inbox as agents read it: which tasks each tab holds, in what order, and how late they are.

Pure functions of the tasks and the clock, so every rule here is tested without a server.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from journal.tasks import TaskSummary
from workflows.durations import format_duration
from workflows.human_tasks import HumanTask, TaskReason, TaskState
from workflows.playbook import Playbook, QuietHours, TaskKind
from workflows.quiet_hours import quiet_hours_end

# When the playbook sets no quiet hours, a call is still unwelcome at night.
DEFAULT_NIGHT = QuietHours(start=time(21, 0), end=time(9, 0))


class Tab(StrEnum):
    OPEN = "open"
    MINE = "mine"
    ALL = "all"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @classmethod
    def parse(cls, value: str | None) -> "Tab":
        try:
            return cls(value or cls.OPEN)
        except ValueError:
            return cls.OPEN


KIND_LABELS = {
    TaskKind.VIDEO_CALL: "Video call",
    TaskKind.HELP_REQUEST: "Help request",
    TaskKind.RETENTION_CALL: "Retention call",
}


def kind_label(kind: TaskKind) -> str:
    return KIND_LABELS.get(kind, kind.value.replace("_", " "))


def reason_label(task: HumanTask) -> str:
    """Why the task exists, in the words an agent needs before calling."""
    if task.reason is TaskReason.HELP_REQUESTED:
        return "Customer asked for help"
    if task.reason is TaskReason.DORMANCY:
        return "Gone quiet after activation: no activity, no answer to the nudges"
    if task.reason is TaskReason.REPEATED_REJECTION:
        return "Document rejected repeatedly"
    if task.reason is TaskReason.REPEATED_BIOMETRIC_FAILURE:
        return "Selfie failed repeatedly"
    return f"No answer to the nudges at {stage_label(task.stage.value)}"


def reason_detail(task: HumanTask) -> str:
    """What the journey noted about the reason (e.g. the rejection reasons), unless it only repeats it."""
    return "" if task.detail.strip().lower() == reason_label(task).lower() else task.detail


def stage_label(stage: str) -> str:
    return stage.replace("_", " ")


def sla_label(task: HumanTask) -> str:
    """The SLA the journey applied when it opened the task (from the playbook it pinned then)."""
    return f"act within {format_duration(task.due_at - task.opened_at)}"


def in_tab(summary: TaskSummary, tab: Tab, agent: str) -> bool:
    state = summary.task.state
    if tab is Tab.OPEN:
        return state is TaskState.OPEN
    if tab is Tab.MINE:
        return state is TaskState.CLAIMED and summary.task.claimed_by == agent
    return state in (TaskState.OPEN, TaskState.CLAIMED)


def tab_counts(summaries: Iterable[TaskSummary], agent: str) -> dict[Tab, int]:
    listed = list(summaries)
    return {tab: sum(1 for s in listed if in_tab(s, tab, agent)) for tab in Tab}


def span(delta: timedelta) -> str:
    """A duration an agent takes in at a glance: '45 min', '2 h 5 min', '3 d 4 h'."""
    minutes = int(abs(delta).total_seconds()) // 60
    if minutes < 1:
        return "under 1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def is_overdue(task: HumanTask, now: datetime) -> bool:
    return task.is_live and now > task.due_at


def due_label(task: HumanTask, now: datetime) -> str:
    if not task.is_live:
        return "-"
    if is_overdue(task, now):
        return f"Overdue by {span(now - task.due_at)}"
    return f"in {span(task.due_at - now)}"


@dataclass(frozen=True)
class LocalTime:
    """The customer's clock: whether a call now would reach them at night."""

    zone: str
    at: datetime
    zone_known: bool
    night_until: datetime | None  # when night ends there, if it is night now

    @property
    def label(self) -> str:
        return self.at.strftime("%H:%M %a")

    @property
    def at_night(self) -> bool:
        return self.night_until is not None


def customer_local_time(zone: str | None, now: datetime, playbook: Playbook) -> LocalTime:
    known = True
    name = zone or playbook.default_timezone
    try:
        tz = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        known, name, tz = False, playbook.default_timezone, ZoneInfo(playbook.default_timezone)
    known = known and zone is not None
    night = playbook.guardrails.quiet_hours or DEFAULT_NIGHT
    end = quiet_hours_end(now, name, night)
    return LocalTime(
        zone=name, at=now.astimezone(tz), zone_known=known, night_until=end.astimezone(tz) if end else None
    )


@dataclass(frozen=True)
class InboxRow:
    task_id: str
    customer_id: str
    kind: str
    reason: str
    detail: str
    stage: str
    state: str
    claimed_by: str | None
    age: str
    opened_at: datetime
    due_at: datetime
    due: str
    overdue: bool
    sla: str
    local_time: LocalTime


def inbox_rows(
    summaries: Iterable[TaskSummary], tab: Tab, agent: str, playbook: Playbook, now: datetime
) -> list[InboxRow]:
    """The tab's tasks, soonest due first (overdue ones lead, most overdue at the top)."""
    chosen = sorted((s for s in summaries if in_tab(s, tab, agent)), key=lambda s: (s.task.due_at, s.task.task_id))
    return [
        InboxRow(
            task_id=s.task.task_id,
            customer_id=s.customer_id,
            kind=kind_label(s.task.kind),
            reason=reason_label(s.task),
            detail=reason_detail(s.task),
            stage=stage_label(s.stage),
            state=s.task.state.value,
            claimed_by=s.task.claimed_by,
            age=span(now - s.task.opened_at),
            opened_at=s.task.opened_at,
            due_at=s.task.due_at,
            due=due_label(s.task, now),
            overdue=is_overdue(s.task, now),
            sla=sla_label(s.task),
            local_time=customer_local_time(s.timezone, now, playbook),
        )
        for s in chosen
    ]
