"""How events and agents' outcomes change what a journey knows: pure functions, no I/O.

The workflow folds each event in (`apply_event`), carries out agents' outcomes (`apply_task_outcome`)
and ends journeys (`finish`) through these; tests drive them without a server.
"""

from datetime import datetime

from workflows.events import CustomerProfile, OnboardingEvent
from workflows.funnel import (
    STAGE_AFTER_AGENT_VERIFICATION,
    STAGE_OF_EVENT,
    Channel,
    EventType,
    Stage,
    is_funnel_event,
    moves_forward,
)
from workflows.human_tasks import HumanTask, TaskOutcome, TaskReason, TaskState, task_id_for
from workflows.journey_rules import JourneyRules
from workflows.journey_state import (
    DecisionAction,
    ErrorRecord,
    EventEffect,
    EventRecord,
    JourneyOutcome,
    JourneyState,
    MessageKind,
    OutcomeKind,
    StageProgress,
    keep_within_bounds,
)
from workflows.playbook import Playbook, TaskKind
from workflows.state_bounds import event_id_digest


def apply_event(state: JourneyState, event: OnboardingEvent, playbook: Playbook, now: datetime) -> EventEffect | None:
    """Fold one event into the journey. Returns None for a duplicate, which leaves no trace."""
    if _seen_before(state, event.event_id):
        state.duplicates_ignored += 1
        return None
    at = min(event.occurred_at, now)
    if state.outcome is not None:
        effect, detail = EventEffect.AFTER_END, "the journey had ended"
    else:
        effect, detail = _apply(state, event, at, playbook, now)
        if event.profile is not None and (state.profile_at is None or at >= state.profile_at):
            state.profile = _merge_profile(state.profile, event.profile)
            state.profile_at = at
    state.events.append(
        EventRecord(
            event_id=event.event_id,
            type=event.type,
            occurred_at=event.occurred_at,
            received_at=now,
            effect=effect,
            detail=detail,
            stage=state.stage,
        )
    )
    keep_within_bounds(state)
    return effect


def _seen_before(state: JourneyState, event_id: str) -> bool:
    """Remembers the id as it answers; a bounded journey remembers a digest, within its window."""
    if state.bounds is None:
        seen = event_id in state.seen_event_ids
        state.seen_event_ids.add(event_id)
        return seen
    digest = event_id_digest(event_id)
    if state._digest_index is None:
        state._digest_index = set(state.recent_event_digests)
    if digest in state._digest_index:
        return True
    state.recent_event_digests.append(digest)
    state._digest_index.add(digest)
    return False


def _merge_profile(old: CustomerProfile, new: CustomerProfile) -> CustomerProfile:
    return CustomerProfile(
        timezone=new.timezone or old.timezone,
        locale=new.locale or old.locale,
        location=new.location or old.location,
    )


def _apply(
    state: JourneyState, event: OnboardingEvent, at: datetime, playbook: Playbook, now: datetime
) -> tuple[EventEffect, str]:
    if is_funnel_event(event.type):
        target = STAGE_OF_EVENT[event.type]
        if state.stage_event_at is None and target is Stage.STARTED:  # the journey's first funnel step
            state.stage_since = state.stage_event_at = at
            return EventEffect.ADVANCED, ""
        if (state.stage_event_at is not None and at < state.stage_event_at) or not moves_forward(state.stage, target):
            return EventEffect.STALE, f"customer is already at {state.stage.value}"
        if event.type is EventType.DOCUMENT_REJECTED:
            state.rejections += 1
            state.rejection_reasons.append(event.rejection_reason.value)
        if event.type is EventType.BIOMETRIC_FAILED:
            state.biometric_failures += 1
        advance_to(state, target, at, now, reason=event.type.value)
        if event.type is EventType.BIOMETRIC_FAILED:
            # High intent, as for rejections below; the task is the next step's (`next_step`), so that
            # journeys started before the high-intent patch, which never open it, replay as they ran.
            state.stage_progress.video_call_requested = (
                state.biometric_failures >= playbook.guardrails.human_after_rejections
            )
        if event.type is EventType.DOCUMENT_REJECTED and event.attributes.get("reject_type") == "final":
            _escalate_final_rejection(state, playbook, now)
            return EventEffect.ADVANCED, "final rejection"
        if event.type is EventType.DOCUMENT_REJECTED and state.rejections >= playbook.guardrails.human_after_rejections:
            if state.in_holdout:
                state.record(
                    now,
                    DecisionAction.SUPPRESSED,
                    "holdout",
                    "would have opened a video_call task (repeated rejection)",
                )
                return EventEffect.ADVANCED, ""
            open_task(
                state,
                playbook,
                TaskKind.VIDEO_CALL,
                TaskReason.REPEATED_REJECTION,
                now,
                detail=f"{state.rejections} rejections: {', '.join(state.rejection_reasons)}",
            )
        return EventEffect.ADVANCED, ""
    if event.type is EventType.ERROR:
        if at < state.stage_since:
            return EventEffect.STALE, "error from an earlier stage"
        if state.last_error is None or at >= state.last_error.occurred_at:
            state.last_error = ErrorRecord(kind=event.error_kind, service=event.failing_service, occurred_at=at)
            state.stage_progress.service_retry_at = None
        return EventEffect.RECORDED, event.error_kind.value
    if event.type is EventType.HELP_REQUESTED:
        open_task(
            state, playbook, TaskKind.HELP_REQUEST, TaskReason.HELP_REQUESTED, now, detail="customer asked for help"
        )
        return EventEffect.RECORDED, "help requested"
    if event.type in (EventType.OPTED_OUT, EventType.OPTED_IN):
        changed = []
        # A fixed order: state must replay alike.
        for channel in (c for c in Channel if c in event.opt_scope.channels()):
            if channel in state.opt_changed_at and at < state.opt_changed_at[channel]:
                continue
            state.opt_changed_at[channel] = at
            if event.type is EventType.OPTED_OUT:
                state.opted_out.add(channel)
            else:
                state.opted_out.discard(channel)
            changed.append(channel.value)
        if not changed:
            return EventEffect.STALE, "a newer consent change is known"
        words = event.attributes.get("words")
        said = f" ({words})" if words else ""
        return EventEffect.RECORDED, f"{event.type.value.split('.')[-1]}: {', '.join(changed)}{said}"
    return EventEffect.RECORDED, ""


def _escalate_final_rejection(state: JourneyState, playbook: Playbook, now: datetime) -> None:
    """A rejection the vendor will not review again is no drop-off to nudge ("try again" cannot work):
    the stage goes straight to its escalation, a person (the shipped playbooks) or the store offer."""
    state.stage_progress.escalated = True  # the stage's nudges are over before they began
    escalation = playbook.for_stage(state.stage).escalation
    if escalation is not None and escalation.kind == "sms_store_offer":
        state.stage_progress.store_offer_requested = True
        return
    kind = escalation.task_kind if escalation is not None else TaskKind.VIDEO_CALL
    if state.in_holdout:
        state.record(
            now, DecisionAction.SUPPRESSED, "holdout", f"would have opened a {kind.value} task (final rejection)"
        )
        return
    open_task(
        state, playbook, kind, TaskReason.FINAL_REJECTION, now, detail="the document check will not take another try"
    )


def advance_to(state: JourneyState, stage: Stage, at: datetime, now: datetime, reason: str) -> None:
    """Progress: a new stage, a fresh recovery window, and the playbook starts over."""
    state.stage = stage
    state.stage_since = state.stage_event_at = at
    state.last_progress_at = max(state.last_progress_at, at)
    state.stage_progress = StageProgress()
    # A late event moves the stage, but what happened after it (an error, a call for help) still stands.
    if state.last_error is not None and state.last_error.occurred_at <= at:
        state.last_error = None
    for task in state.tasks:
        if task.is_live and task.stage is not stage and task.opened_at <= at:
            task.state = TaskState.CLOSED
            task.note = f"customer moved on to {stage.value}"
            state.record(now, DecisionAction.TASK_CLOSED, "customer_progressed", task.task_id)
    if stage is Stage.COMPLETED:
        finish(state, OutcomeKind.COMPLETED, now, reason=reason)


def open_task(
    state: JourneyState, playbook: Playbook, kind: TaskKind, reason: TaskReason, now: datetime, detail: str = ""
) -> HumanTask | None:
    """Open a task for an agent unless one is already live: one human at a time per customer."""
    live = state.live_task
    if live is not None:
        live.detail = f"{live.detail}; {detail}" if detail and detail not in live.detail else live.detail
        keep_within_bounds(state)
        return None
    number = max(state.tasks_opened, len(state.tasks)) + 1  # unbounded journeys never counted: their list did
    task = HumanTask(
        task_id=task_id_for(state.customer_id, number),
        kind=kind,
        reason=reason,
        stage=state.stage,
        detail=detail,
        opened_at=now,
        due_at=now + playbook.human_tasks[kind].sla,
    )
    state.tasks.append(task)
    state.tasks_opened = number
    state.record(now, DecisionAction.TASK_OPENED, reason.value, f"{task.task_id} ({kind.value})")
    return task


def apply_task_outcome(
    state: JourneyState, task: HumanTask, outcome: TaskOutcome, now: datetime, rules: JourneyRules
) -> None:
    """What an agent's outcome means for the journey.

    `unreachable` sends the SMS store offer; with `offer_ends_nudging` the agent's attempt also
    restarts the recovery window, so a task worked late still leaves the offer time to work.
    """
    if outcome is TaskOutcome.VERIFIED_ON_CALL:
        advance_to(state, STAGE_AFTER_AGENT_VERIFICATION[state.stage], now, now, reason="verified_on_call")
    elif outcome is TaskOutcome.CUSTOMER_WILL_RETRY:
        advance_to(state, state.stage, now, now, reason="customer_will_retry")
    elif outcome is TaskOutcome.ACTIVATED_IN_STORE:
        advance_to(state, Stage.COMPLETED, now, now, reason="activated_in_store")
    elif outcome is TaskOutcome.UNREACHABLE:
        state.stage_progress.store_offer_requested = True
        if rules.offer_ends_nudging:
            state.last_progress_at = max(state.last_progress_at, now)


def preceding_intervention(state: JourneyState) -> str:
    """The last thing we did for the customer before the end: what the recovery report credits."""
    last_message = state.messages_out[-1] if state.messages_out else None
    completions = [t.completed_at for t in state.tasks if t.state is TaskState.COMPLETED and t.completed_at]
    last_completion = max(completions, default=None)
    if last_completion and (last_message is None or last_completion >= last_message.sent_at):
        return "human_task"
    if last_message is None:
        return "none"
    if last_message.kind is MessageKind.SMS_STORE_OFFER:
        return "sms_store_offer"
    return f"nudge_{last_message.attempt}"


def recount_messages(state: JourneyState) -> None:
    """The outcome's message facts after a message it counted was called off."""
    if state.outcome is not None:
        state.outcome = state.outcome.model_copy(
            update={"messages_sent": len(state.messages_out), "preceded_by": preceding_intervention(state)}
        )


def finish(
    state: JourneyState, kind: OutcomeKind, now: datetime, reason: str, detail: str | None = None, by: str | None = None
) -> None:
    """Ends the journey: its outcome, its live tasks closed, and an `ended` decision (`detail`: the reason)."""
    preceded_by = preceding_intervention(state)
    state.outcome = JourneyOutcome(
        kind=kind,
        stage=state.stage,
        ended_at=now,
        reason=reason,
        assisted=any(t.state is TaskState.COMPLETED for t in state.tasks),
        preceded_by=preceded_by,
        drop_off_stages=list(state.drop_off_stages),
        messages_sent=len(state.messages_out),
        closed_by=by,
    )
    for task in state.tasks:
        if task.is_live:
            task.state = TaskState.CLOSED
            task.note = f"journey ended: {kind.value}"
    state.next_action, state.next_action_at = None, None
    state.record(now, DecisionAction.ENDED, kind.value, reason if detail is None else detail)
