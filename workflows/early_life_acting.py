"""Carrying out the early-life journey's decisions: messages, the retention call, the journal.

Thin, like the onboarding journey's acting part: what to send and when is decided by the pure rules
(`next_early_life_step`); this part calls the same delivery, store and staff activities (typed stubs),
with explicit timeouts and retries, and records what became of each call. A message's id (its
idempotency key) is made of the workflow id, the run, the dormancy and the attempt.
"""

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import activity_stubs
from workflows.contracts import CHANNEL_OPTED_OUT, CHANNEL_UNREACHABLE, OutboundMessage, StaffNotification, StoreQuery
from workflows.early_life_input import EarlyLifeInput, EarlyLifePlan
from workflows.early_life_journal import early_life_batch, mark_journaled
from workflows.early_life_records import (
    record_agents_notified,
    record_channel_lost,
    record_message,
    record_send_failed,
)
from workflows.early_life_rules import SendMessage, nudge_text, offer_text
from workflows.early_life_state import EarlyLifeState
from workflows.early_life_view import early_life_search_attributes
from workflows.funnel import Stage
from workflows.journey_acting import LOOKUP_RETRY, notification_id, notify_staff, start_delivery, write_journal
from workflows.journey_state import MessageKind
from workflows.search_attributes import publish


class EarlyLifeActing:
    def _set_up(self, journey: EarlyLifeInput) -> None:
        self._input = journey
        self._plan: EarlyLifePlan = journey.plan
        self._customer_id = journey.customer_id
        self._state: EarlyLifeState | None = journey.state
        self._changed = False
        self._published: dict[str, object] = {}
        self._messaging_queue = journey.messaging_task_queue

    def _journey(self) -> EarlyLifeState:
        assert self._state is not None, "the early-life state is set before any handler may read it"
        return self._state

    def _log(self, event: str, **fields: object) -> None:
        workflow.logger.info(event, extra={"customer_id": self._customer_id, "journey": "early_life", **fields})

    def _publish_search_attributes(self) -> None:
        self._published = publish(early_life_search_attributes(self._journey()), self._published)

    async def _send(self, step: SendMessage) -> None:
        state = self._journey()
        quiet_since, now = state.quiet_since, workflow.now()
        info = workflow.info()
        message_id = f"{info.workflow_id}:{info.first_execution_run_id[:8]}:d{state.dormancies}:m{step.attempt}"
        if step.hold_back:
            record_message(state, step, message_id, now)
            return
        if step.kind is MessageKind.SMS_STORE_OFFER:
            try:
                store = await workflow.execute_activity(
                    activity_stubs.find_nearest_store,
                    StoreQuery(customer_id=state.customer_id),
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=LOOKUP_RETRY,
                )
            except ActivityError:
                record_send_failed(state, step, "store_lookup_failed", workflow.now())
                return
            text, deep_link = offer_text(state, self._plan, store.name, store.address), None
        else:
            text, deep_link = nudge_text(state, self._plan, step.attempt), self._plan.deep_link
        if self._moved_on(quiet_since):
            return
        message = OutboundMessage(
            message_id=message_id,
            customer_id=state.customer_id,
            workflow_id=info.workflow_id,
            channel=step.channel,
            kind=f"early_life_{step.kind.value}",
            stage=Stage.COMPLETED,
            attempt=step.attempt,
            text=text,
            deep_link=deep_link,
            created_at=workflow.now(),
        )
        try:
            await start_delivery(message, self._messaging_queue)
        except ActivityError as err:
            lost = err.cause.type if isinstance(err.cause, ApplicationError) else None
            if lost in (CHANNEL_UNREACHABLE, CHANNEL_OPTED_OUT):
                record_channel_lost(state, step.channel, lost == CHANNEL_OPTED_OUT, workflow.now())
                self._log("channel_lost", channel=step.channel.value, reason=lost)
                return  # not an attempt: the next step takes the other channel
            record_send_failed(state, step, str(getattr(err.cause, "message", err)), workflow.now())
            self._log("message_failed", channel=step.channel.value)
            return
        record_message(state, step, message_id, message.created_at, moot=self._moved_on(quiet_since))
        self._log("message_sent", channel=step.channel.value, kind=step.kind.value, attempt=step.attempt)

    def _moved_on(self, quiet_since: datetime) -> bool:
        """After an await: was the customer active meanwhile (or did the journey end)? Then the send is moot."""
        state = self._journey()
        return state.outcome is not None or state.quiet_since != quiet_since

    async def _notify_agents(self, task_id: str) -> None:
        """Best effort: a notification that cannot be delivered is recorded; the journey goes on."""
        state = self._journey()
        task = next(t for t in state.tasks if t.task_id == task_id)
        info = workflow.info()
        try:
            await notify_staff(
                StaffNotification(
                    notification_id=notification_id(info, "task_opened", task_id),
                    kind="task_opened",
                    customer_id=state.customer_id,
                    workflow_id=info.workflow_id,
                    stage=Stage.COMPLETED,
                    summary=f"{task.kind.value}: {task.reason.value}",
                    task_id=task_id,
                    due_at=task.due_at,
                    created_at=workflow.now(),
                ),
                self._messaging_queue,
            )
        except ActivityError:
            state.record(workflow.now(), "failed", "notification_failed", task_id)
            self._log("staff_notification_failed", task_id=task_id)
        record_agents_notified(state, task_id)

    async def _flush_journal(self, *, force: bool = False) -> None:
        """At milestones only (dormancy, messages, tasks, re-engagement, the end): each write is a billed activity."""
        state = self._journey()
        if not (state.journal_due or force):
            return
        info = workflow.info()
        position = state.decisions_recorded
        batch = early_life_batch(state, info.workflow_id, info.first_execution_run_id[:8])
        if not await write_journal(activity_stubs.record_early_life, batch):
            self._log("journal_unavailable")  # kept in state: the next wake-up writes it
            return
        mark_journaled(state, position)
