"""The console's inbox, journey and task pages, and the task actions.

Task actions go to the journey as Temporal Updates; the journey's validators have the last word, and
their refusals are shown to the agent as they are.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console.accounts import get_agent, list_agents
from console.audit import actions_for_task, record_action
from console.context import (
    PREFIX,
    ConsoleError,
    Form,
    FragmentSession,
    PageSession,
    SignedForm,
    SignedIn,
    base,
    context_of,
    journal_for,
    journeys_for,
    redirect,
    render,
    temporal,
)
from console.glance import (
    find_task,
    funnel_steps,
    suggested_script,
    task_audit,
    task_heading,
    temporal_ui_link,
    timeline,
)
from console.inbox import (
    Tab,
    customer_local_time,
    due_label,
    inbox_rows,
    is_overdue,
    kind_label,
    reason_detail,
    reason_label,
    sla_label,
    stage_label,
    tab_counts,
)
from console.permissions import TaskAction, allowed_actions, forbidden
from core.deps import JourneyNotFound
from workflows.early_life_input import early_life_workflow_id, is_early_life_task
from workflows.early_life_state import EarlyLifeDecision
from workflows.human_tasks import HumanTask, TaskOutcome, TaskRefused, TaskState, customer_of_task
from workflows.journey import workflow_id_for
from workflows.journey_state import Decision
from workflows.journey_view import JourneyView

MAX_NOTE = 2000
OUTCOMES: dict[TaskOutcome, tuple[str, str]] = {
    TaskOutcome.VERIFIED_ON_CALL: ("Verified on call", "the customer moves past this step"),
    TaskOutcome.CUSTOMER_WILL_RETRY: (
        "Customer will retry",
        "this step's playbook restarts with a fresh recovery window",
    ),
    TaskOutcome.ACTIVATED_IN_STORE: ("Activated in store", "the journey ends as completed with help"),
    TaskOutcome.UNREACHABLE: ("Unreachable", "the customer gets the SMS offer to activate in a store"),
}
# A retention call (early life) records the agent's word; the customer's own activity ends the dormancy.
EARLY_LIFE_OUTCOMES: dict[TaskOutcome, tuple[str, str]] = {
    TaskOutcome.VERIFIED_ON_CALL: ("Talked on the call", "recorded; the customer's next activity ends the dormancy"),
    TaskOutcome.CUSTOMER_WILL_RETRY: ("Customer will use it again", "recorded; no more messages this dormancy"),
    TaskOutcome.ACTIVATED_IN_STORE: ("Helped in store", "recorded; no more messages this dormancy"),
    TaskOutcome.UNREACHABLE: ("Unreachable", "recorded; no more messages this dormancy"),
}
NOTICES = {
    "claim": "You claimed this task.",
    "release": "The task is back in the open inbox.",
    "reassign": "The task was reassigned.",
    "complete": "Task completed: the journey has acted on the outcome.",
}

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("")
@router.get("/")
async def home() -> Response:
    return redirect(f"{PREFIX}/inbox")


async def _inbox_context(request: Request, session: SignedIn, tab: Tab) -> dict[str, Any]:
    recovery = journeys_for(request)
    summaries = await temporal(request, context_of(request).feed.live_tasks(recovery), "Reading the inbox")
    now = datetime.now(UTC)
    me = session.agent.username
    return base(
        session,
        tab=tab,
        tabs=[(t, count) for t, count in tab_counts(summaries, me).items()],
        rows=inbox_rows(summaries, tab, me, recovery.playbook, now),
        refreshed_at=now,
        refresh_seconds=context_of(request).refresh_seconds,
    )


@router.get("/inbox")
async def inbox(request: Request, session: PageSession, tab: str | None = None) -> Response:
    return render(request, "inbox.html", await _inbox_context(request, session, Tab.parse(tab)))


@router.get("/inbox/rows")
async def inbox_rows_fragment(request: Request, session: FragmentSession, tab: str | None = None) -> Response:
    """The inbox body alone, refetched every few seconds so the page never reloads under the agent."""
    return render(request, "_inbox_body.html", await _inbox_context(request, session, Tab.parse(tab)))


# -- journeys and tasks ---------------------------------------------------------------------------


async def _journey(request: Request, customer_id: str) -> JourneyView:
    try:
        return await temporal(request, journeys_for(request).journey(customer_id), "Reading the journey")
    except JourneyNotFound:
        raise ConsoleError(404, f"No journey for customer {customer_id}.") from None


def _glance(request: Request, view: JourneyView) -> dict[str, Any]:
    settings = context_of(request).settings
    now = datetime.now(UTC)
    return {
        "view": view,
        "stage": stage_label(view.stage.value),
        "steps": funnel_steps(view),
        "timeline": timeline(view),
        "local": customer_local_time(view.timezone, now, journeys_for(request).playbook),
        "ui_link": temporal_ui_link(settings.temporal_ui_url, settings.namespace, view.workflow_id),
    }


@router.get("/journeys/{customer_id}")
async def journey_page(request: Request, session: PageSession, customer_id: str) -> Response:
    view = await _journey(request, customer_id)
    return render(request, "journey.html", base(session, **_glance(request, view)))


def _customer_of(task_id: str) -> str:
    try:
        return customer_of_task(task_id)
    except TaskRefused as err:
        raise ConsoleError(404, str(err)) from None


@dataclass(frozen=True)
class TaskAt:
    """A task with what its page shows of the customer: the journey holding it (its decisions, the
    customer's time zone and language) and the onboarding journey for the glance. An early-life task
    outlives the ended onboarding journey, which Temporal deletes after the namespace's retention: then
    the page goes without the glance."""

    task: HumanTask
    customer_id: str
    decisions: Sequence[Decision | EarlyLifeDecision]
    timezone: str | None
    locale: str | None
    onboarding: JourneyView | None


async def _task_of(request: Request, task_id: str, *, with_onboarding: bool = True) -> TaskAt:
    """`with_onboarding=False`: a task action needs only the task, not the ended onboarding journey."""
    customer_id = _customer_of(task_id)
    if not is_early_life_task(task_id):
        view = await _journey(request, customer_id)
        task = find_task(view, task_id)
        if task is None:
            raise ConsoleError(404, f"No task {task_id} in this customer's journey.")
        return TaskAt(task, customer_id, view.decisions, view.timezone, view.locale, view)
    try:
        early = await temporal(request, journeys_for(request).early_life(customer_id), "Reading the early-life journey")
    except JourneyNotFound:
        raise ConsoleError(404, f"No early-life journey for customer {customer_id}.") from None
    found = next((t for t in early.tasks if t.task_id == task_id), None)
    if found is None:
        raise ConsoleError(404, f"No task {task_id} in this customer's early-life journey.")
    onboarding: JourneyView | None = None
    if with_onboarding:
        try:
            onboarding = await temporal(request, journeys_for(request).journey(customer_id), "Reading the journey")
        except JourneyNotFound:
            pass  # deleted after the namespace's retention: the page goes without the glance
    return TaskAt(found, customer_id, early.decisions, early.timezone, early.locale, onboarding)


async def _task_page(
    request: Request,
    session: SignedIn,
    task_id: str,
    status_code: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    at = await _task_of(request, task_id)
    task = at.task
    recovery = journeys_for(request)
    journal = journal_for(request)
    actions = await asyncio.to_thread(actions_for_task, journal, task_id)
    offered = allowed_actions(session.agent, task)
    others = []
    if TaskAction.REASSIGN in offered:
        others = [a.username for a in await asyncio.to_thread(list_agents, journal) if a.username != task.claimed_by]
    now = datetime.now(UTC)
    glance: dict[str, Any] = _glance(request, at.onboarding) if at.onboarding is not None else {"view": None}
    glance["local"] = customer_local_time(at.timezone, now, recovery.playbook)  # of the journey holding the task
    return render(
        request,
        "task.html",
        base(
            session,
            **glance,
            customer_id=at.customer_id,
            task=task,
            heading=task_heading(task),
            kind=kind_label(task.kind),
            reason=reason_label(task),
            reason_detail=reason_detail(task),
            sla=sla_label(task),
            due=due_label(task, now),
            overdue=is_overdue(task, now),
            script=suggested_script(recovery.playbook, task, at.locale),
            audit=task_audit(at.decisions, task_id, actions),
            offered={a.value for a in offered},
            agents=others,
            outcomes=EARLY_LIFE_OUTCOMES if is_early_life_task(task_id) else OUTCOMES,
            error=error,
            notice=notice,
            max_note=MAX_NOTE,
        ),
        status_code,
    )


@router.get("/tasks/{task_id}")
async def task_page(request: Request, session: PageSession, task_id: str, done: str | None = None) -> Response:
    return await _task_page(request, session, task_id, notice=NOTICES.get(done or ""))


async def _act(
    request: Request, signed: SignedForm, task_id: str, action: TaskAction, work: Callable[[HumanTask], Awaitable[str]]
) -> Response:
    """Checks the agent may, runs the action on the journey, records it, and shows the result.

    `work` returns the audit detail. A refusal (by the console or the journey) is recorded too, and
    answered with the task page and the reason: 403 for who is asking, 409 for the task's state.
    """
    me = signed.session.agent.username
    journal = journal_for(request)
    customer_id = _customer_of(task_id)
    task = (await _task_of(request, task_id, with_onboarding=False)).task
    early = is_early_life_task(task_id)
    workflow_id = early_life_workflow_id(customer_id) if early else workflow_id_for(customer_id)
    audit = {"task_id": task_id, "customer_id": customer_id, "workflow_id": workflow_id}
    reason = forbidden(action, signed.session.agent, task)
    status_code = 403
    if reason is None:
        try:
            detail = await work(task)
        except TaskRefused as err:
            reason, status_code = str(err), 409
        else:
            context_of(request).feed.invalidate()
            await asyncio.to_thread(record_action, journal, me, action.value, detail=detail, **audit)
            return redirect(f"{PREFIX}/tasks/{quote(task_id, safe=':')}?done={action.value}")
    await asyncio.to_thread(record_action, journal, me, f"{action.value}_refused", detail=reason, **audit)
    return await _task_page(request, signed.session, task_id, status_code=status_code, error=reason)


@router.post("/tasks/{task_id}/claim")
async def claim(request: Request, signed: Form, task_id: str) -> Response:
    recovery, me, feed = journeys_for(request), signed.session.agent.username, context_of(request).feed

    async def work(_: HumanTask) -> str:
        feed.record(await temporal(request, recovery.claim_task(task_id, me), "Claiming the task"))
        return ""

    return await _act(request, signed, task_id, TaskAction.CLAIM, work)


@router.post("/tasks/{task_id}/release")
async def release(request: Request, signed: Form, task_id: str) -> Response:
    recovery, me, feed = journeys_for(request), signed.session.agent.username, context_of(request).feed

    async def work(task: HumanTask) -> str:
        # A supervisor releases on behalf of the claimer: the journey only lets the claimer release.
        claimer = task.claimed_by if task.state is TaskState.CLAIMED and task.claimed_by else me
        feed.record(await temporal(request, recovery.release_task(task_id, claimer), "Releasing the task"))
        return "" if claimer == me else f"from {claimer}"

    return await _act(request, signed, task_id, TaskAction.RELEASE, work)


@router.post("/tasks/{task_id}/reassign")
async def reassign(request: Request, signed: Form, task_id: str) -> Response:
    recovery, target, feed = journeys_for(request), signed.text("agent"), context_of(request).feed
    if not target or await asyncio.to_thread(get_agent, journal_for(request), target) is None:
        raise ConsoleError(422, "Choose an existing agent to reassign the task to.")

    async def work(task: HumanTask) -> str:
        claimer = task.claimed_by if task.state is TaskState.CLAIMED else None
        if claimer == target:
            return f"already with {target}"
        if claimer:
            feed.record(await temporal(request, recovery.release_task(task_id, claimer), "Releasing the task"))
        try:
            feed.record(await temporal(request, recovery.claim_task(task_id, target), "Claiming the task"))
        except TaskRefused as err:
            if claimer:
                raise TaskRefused(f"Released from {claimer}, but it could not be claimed for {target}: {err}") from None
            raise
        return f"from {claimer} to {target}" if claimer else f"to {target}"

    return await _act(request, signed, task_id, TaskAction.REASSIGN, work)


@router.post("/tasks/{task_id}/complete")
async def complete(request: Request, signed: Form, task_id: str) -> Response:
    recovery, me, feed = journeys_for(request), signed.session.agent.username, context_of(request).feed
    try:
        outcome = TaskOutcome(signed.text("outcome"))
    except ValueError:
        raise ConsoleError(422, "Choose an outcome from the list.") from None
    note = signed.text("note")
    if len(note) > MAX_NOTE:
        raise ConsoleError(422, f"The note is too long: at most {MAX_NOTE} characters.")

    async def work(_: HumanTask) -> str:
        feed.record(await temporal(request, recovery.complete_task(task_id, me, outcome, note), "Completing the task"))
        return outcome.value

    return await _act(request, signed, task_id, TaskAction.COMPLETE, work)
