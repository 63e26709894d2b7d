"""The journey at a glance for an agent: where the customer stopped, what happened, what they
were already told, and who touched the task. Pure functions of the journey view."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from console.audit import AgentAction
from console.inbox import kind_label, reason_label
from workflows.copy import locale_fallbacks
from workflows.early_life_state import EarlyLifeDecision
from workflows.funnel import MAIN_PATH, Stage
from workflows.human_tasks import HumanTask
from workflows.journey_state import TASK_ACTIONS, Decision, DecisionAction
from workflows.journey_view import JourneyView
from workflows.playbook import Playbook

STEP_LABELS = {
    Stage.STARTED: "Started",
    Stage.PHONE_VERIFIED: "Phone verified",
    Stage.DOCUMENT_UPLOADED: "Document uploaded",
    Stage.DOCUMENT_APPROVED: "Document approved",
    Stage.BIOMETRIC_PASSED: "Biometric passed",
    Stage.COMPLETED: "Completed",
}
# A failed check leaves the customer before the step it failed: the step shown as failed.
FAILED_STEP = {Stage.DOCUMENT_REJECTED: Stage.DOCUMENT_APPROVED, Stage.BIOMETRIC_FAILED: Stage.BIOMETRIC_PASSED}


@dataclass(frozen=True)
class FunnelStep:
    label: str
    status: str  # done, current, failed, todo
    note: str

    @property
    def is_here(self) -> bool:
        return self.status in ("current", "failed")


def funnel_steps(view: JourneyView) -> list[FunnelStep]:
    """The main path with the customer's place on it; a failed check marks the step it failed."""
    ended = view.outcome is not None
    if view.stage in FAILED_STEP:
        here, status = FAILED_STEP[view.stage], "failed"
    else:
        here, status = view.stage, "current"
    position = MAIN_PATH.index(here)
    steps = []
    for index, stage in enumerate(MAIN_PATH):
        if index < position or (stage is Stage.COMPLETED and view.stage is Stage.COMPLETED):
            steps.append(FunnelStep(STEP_LABELS[stage], "done", "done"))
        elif index == position:
            if status == "failed":
                note = f"failed ({view.rejections} rejections)" if view.stage is Stage.DOCUMENT_REJECTED else "failed"
            else:
                note = "ended here" if ended else "stopped here"
            steps.append(FunnelStep(STEP_LABELS[stage], status, note))
        else:
            steps.append(FunnelStep(STEP_LABELS[stage], "todo", "not yet"))
    return steps


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # event, message, decision
    title: str
    detail: str


def timeline(view: JourneyView) -> list[TimelineEntry]:
    """Events, messages and decisions, oldest first. A sent message appears once, with its words."""
    entries = [
        TimelineEntry(e.occurred_at, "event", e.type.value, " ".join(p for p in (e.effect.value, e.detail) if p))
        for e in view.events
    ]
    entries += [
        TimelineEntry(
            m.sent_at, "message", f"{m.channel.value.upper()} {m.kind.value.replace('_', ' ')} {m.attempt}", m.text
        )
        for m in view.messages
    ]
    entries += [
        TimelineEntry(
            d.at, "decision", d.action.value.replace("_", " "), " ".join(p for p in (d.reason, d.detail) if p)
        )
        for d in view.decisions
        if d.action is not DecisionAction.SENT
    ]
    return sorted(entries, key=lambda entry: entry.at)


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    who: str
    what: str
    source: str  # console, journey


def task_audit(
    decisions: Sequence[Decision | EarlyLifeDecision], task_id: str, actions: list[AgentAction]
) -> list[AuditEntry]:
    """What agents did in the console, next to what the journey holding the task recorded about it."""
    entries = [
        AuditEntry(a.at, a.agent, " ".join(p for p in (a.action.replace("_", " "), a.detail) if p), "console")
        for a in actions
    ]
    for decision in decisions:
        words = decision.detail.split()
        if decision.action in TASK_ACTIONS and words and words[0] == task_id:
            who = words[-1] if len(words) >= 3 and words[-2] == "by" else "journey"
            what = str(decision.action).replace("_", " ")
            if decision.reason != "agent":  # claims and releases say nothing more than who did them
                what = f"{what} ({decision.reason.replace('_', ' ')})"
            entries.append(AuditEntry(decision.at, who, what, "journey"))
    return sorted(entries, key=lambda entry: entry.at)


def find_task(view: JourneyView, task_id: str) -> HumanTask | None:
    return next((t for t in view.tasks if t.task_id == task_id), None)


def suggested_script(playbook: Playbook, task: HumanTask, locale: str | None) -> str:
    policy = playbook.human_tasks.get(task.kind)
    if policy is None:
        return ""
    # The customer's language, as their messages choose it ('uz-latn', then 'uz'), else the playbook's default.
    return next(
        (policy.script[loc] for loc in locale_fallbacks(locale, playbook.default_locale) if loc in policy.script), ""
    )


def temporal_ui_link(ui_url: str, namespace: str, workflow_id: str) -> str:
    return f"{ui_url.rstrip('/')}/namespaces/{quote(namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"


def task_heading(task: HumanTask) -> str:
    return f"{kind_label(task.kind)}: {reason_label(task)}"
