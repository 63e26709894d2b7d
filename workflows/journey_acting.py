"""Carrying out the journey's decisions: messages, the journal, lookups, staff notifications.

Thin on purpose: what to send and when is decided by the pure rules (`next_step`); this part only
calls the activities, with explicit timeouts and retries, and records what became of each call.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

from workflows import activity_stubs
from workflows.contracts import (
    CHANNEL_OPTED_OUT,
    CHANNEL_UNREACHABLE,
    DeliveryReceipt,
    OutboundMessage,
    ServiceHealthQuery,
    StaffNotification,
    StoreQuery,
)
from workflows.copy import nudge_text, store_offer_text
from workflows.funnel import Channel, Stage
from workflows.human_tasks import HumanTask
from workflows.journal_entries import journal_due, journal_position, mark_journaled, unjournaled_batch
from workflows.journey_base import JourneyBase
from workflows.journey_records import (
    record_agents_notified,
    record_attempt,
    record_channel_lost,
    record_delivered,
    record_delivery_cancelled,
    record_delivery_failed,
    record_held_back,
    record_ops_alerted,
    record_sent,
    record_service_unhealthy,
    record_store_lookup_failed,
    record_task_overdue,
)
from workflows.journey_rules import DELIVERY_OUTCOME_PATCH, JOURNAL_AND_HOLDOUT_PATCH, JOURNAL_BATCHING_PATCH
from workflows.journey_state import DecisionAction, JourneyState, MessageKind
from workflows.next_step import SendMessage

# Deliveries: quick attempts, patient retries; a message undeliverable for a day is not worth sending late.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=12,
    non_retryable_error_types=["DeliveryRejected"],
)
# The journal must not lose a decision, nor hold a journey up: retry a while, then try again next wake-up.
JOURNAL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=2))
LOOKUP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), maximum_attempts=5
)


def start_delivery(
    message: OutboundMessage,
    task_queue: str | None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
) -> workflow.ActivityHandle[DeliveryReceipt]:
    """A message's delivery (either journey type's): push or SMS by its channel, with the delivery retries.
    Cancelling it stops the wait between retries at once; an attempt under way (the activity does not
    heartbeat) runs to its end, and WAIT_CANCELLATION_COMPLETED tells the journey how it ended."""
    return workflow.start_activity(
        activity_stubs.send_push if message.channel is Channel.PUSH else activity_stubs.send_sms,
        message,
        start_to_close_timeout=timedelta(seconds=30),
        schedule_to_close_timeout=timedelta(hours=1),
        retry_policy=DELIVERY_RETRY,
        task_queue=task_queue,
        cancellation_type=cancellation_type,
    )


def notification_id(info: workflow.Info, kind: str, subject: object) -> str:
    """A staff notification's idempotency key: the journey's run, what happened, and to what."""
    return f"{info.workflow_id}:{info.first_execution_run_id[:8]}:{kind}:{subject}"


async def notify_staff(notification: StaffNotification, task_queue: str | None) -> None:
    """One staff notification (either journey type's); raises ActivityError when it could not be delivered."""
    await workflow.execute_activity(
        activity_stubs.notify_staff,
        notification,
        start_to_close_timeout=timedelta(seconds=30),
        schedule_to_close_timeout=timedelta(hours=1),
        retry_policy=DELIVERY_RETRY,
        task_queue=task_queue,
    )


B = TypeVar("B")  # a journal batch: onboarding's or early life's


async def write_journal(record: Callable[[B], Awaitable[int]], batch: B) -> bool:
    """One journal write (a billed activity) for either journey type; False when the journal stayed
    unavailable: what was not written stays in state and the next wake-up writes it."""
    try:
        await workflow.execute_activity(
            record,
            batch,
            start_to_close_timeout=timedelta(seconds=30),
            schedule_to_close_timeout=timedelta(minutes=10),
            retry_policy=JOURNAL_RETRY,
        )
    except ActivityError:
        return False
    return True


def _ignore_outcome(delivery: asyncio.Future[DeliveryReceipt]) -> None:
    """Takes the outcome of a delivery nobody awaits, so its failure is not reported as never retrieved."""
    if not delivery.cancelled():
        delivery.exception()


class JourneyActing(JourneyBase):
    async def _send(self, step: SendMessage) -> None:
        state = self._journey()
        stage, stage_since = state.stage, state.stage_since
        if step.check_service:
            healthy = await self._service_is_healthy(step.check_service)
            if self._moved_on(stage, stage_since):
                return
            if not healthy:
                retry_at = self._now() + self._playbook.guardrails.service_recheck
                record_service_unhealthy(state, step.check_service, retry_at, self._now())
                return
        if step.kind is MessageKind.SMS_STORE_OFFER:
            try:
                store = await workflow.execute_activity(
                    activity_stubs.find_nearest_store,
                    StoreQuery(customer_id=state.customer_id, location=state.profile.location),
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=LOOKUP_RETRY,
                )
            except ActivityError:
                record_store_lookup_failed(state, self._now())
                record_attempt(state, step, stage, stage_since, self._now(), self._now())
                return
            if self._moved_on(stage, stage_since):
                return
            text, deep_link = store_offer_text(state, self._playbook, store.name, store.address), None
        else:
            text, deep_link = nudge_text(state, self._playbook), self._playbook.for_stage(stage).deep_link
        if step.hold_back:
            record_held_back(state, step, text, self._now())
            record_attempt(state, step, stage, stage_since, self._now(), self._now())
            return
        state.message_seq += 1
        message = OutboundMessage(
            message_id=f"{workflow.info().workflow_id}:{workflow.info().first_execution_run_id[:8]}:m{state.message_seq}",
            customer_id=state.customer_id,
            workflow_id=workflow.info().workflow_id,
            channel=step.channel,
            kind=step.kind.value,
            stage=stage,
            attempt=step.attempt,
            text=text,
            deep_link=deep_link,
            created_at=self._now(),
        )
        sent = record_sent(state, step, message.message_id, stage, text, deep_link, message.created_at)
        try:
            receipt = await self._deliver(message, stage, stage_since)
        except ActivityError as err:
            lost = err.cause.type if isinstance(err.cause, ApplicationError) else None
            if lost in (CHANNEL_UNREACHABLE, CHANNEL_OPTED_OUT):
                record_channel_lost(state, sent, step.channel, lost == CHANNEL_OPTED_OUT, self._now())
                self._log("channel_lost", channel=step.channel.value, reason=lost)
                return  # not an attempt: the next step tries the other channel
            cause = err.cause.message if err.cause is not None and hasattr(err.cause, "message") else str(err)
            record_delivery_failed(state, sent, step.channel, cause, self._now())
            self._log("message_failed", channel=step.channel.value)
        else:
            if receipt is None:
                why = record_delivery_cancelled(state, sent, step, self._now())
                self._log("message_cancelled", channel=step.channel.value, reason=why)
                return
            record_delivered(state, sent, receipt.provider)
            self._log(
                "message_sent",
                channel=step.channel.value,
                kind=step.kind.value,
                attempt=step.attempt,
                provider=receipt.provider,
            )
        record_attempt(state, step, stage, stage_since, message.created_at, self._now())

    async def _deliver(self, message: OutboundMessage, stage: Stage, stage_since: datetime) -> DeliveryReceipt | None:
        """Delivers, unless the customer moves on (or the journey ends) first: then the delivery is
        called off, even while it waits between retries, and None says so; an attempt already under way
        is waited for (patch `delivery-outcome-kept`), and a message it got out is returned as sent.
        Journeys started before bounded-state wait for the delivery whatever happens, as they did."""
        state = self._journey()
        if state.bounds is None:
            return await start_delivery(message, self._messaging_queue)
        # The cancellation type is the SDK's own: no command differs at the start, so journeys from before
        # the patch replay with it, and the patch is asked only where a delivery is called off.
        delivery = start_delivery(message, self._messaging_queue, ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
        await workflow.wait_condition(
            lambda: (
                delivery.done() or state.outcome is not None or (state.stage, state.stage_since) != (stage, stage_since)
            )
        )
        if delivery.done():
            return await delivery  # raises the delivery's failure, if it failed
        delivery.cancel()
        if not workflow.patched(DELIVERY_OUTCOME_PATCH):
            # As before the patch: called off at once, whatever the attempt under way does. One turn of the
            # loop (no timer) lets the handle send its cancel request before anything this journey does next.
            delivery.add_done_callback(_ignore_outcome)
            await asyncio.sleep(0)
            return None
        try:
            return await delivery
        except (ActivityError, asyncio.CancelledError):
            return None

    async def _flush_journal(self) -> None:
        """One activity per wake-up, not per decision: the journal costs a few actions per journey."""
        if not workflow.patched(JOURNAL_AND_HOLDOUT_PATCH):
            return
        state = self._journey()
        if workflow.patched(JOURNAL_BATCHING_PATCH) and not journal_due(state, at_milestones=state.bounds is not None):
            return
        info = workflow.info()
        position = journal_position(state)
        batch = unjournaled_batch(state, info.workflow_id, info.first_execution_run_id[:8])
        if batch is None:
            return
        if not await write_journal(activity_stubs.record_journal, batch):
            self._log("journal_unavailable")  # kept in state: the next wake-up writes it
            return
        mark_journaled(state, position)

    def _moved_on(self, stage: Stage, stage_since: datetime) -> bool:
        """After an await: did the customer progress, or the journey end, meanwhile? Then the send is moot."""
        if not self._rules_of_this_journey().progress_guards:
            return False
        state = self._journey()
        return state.outcome is not None or (state.stage, state.stage_since) != (stage, stage_since)

    async def _service_is_healthy(self, service: str) -> bool:
        """A status endpoint that cannot be read counts as 'not healthy yet': the nudge waits, the journey lives.
        A report that the service is healthy, taken while the check was under way, makes it look once more:
        the check may have read the status from before that report."""
        while True:
            reports = self._service_reports[service]
            try:
                health = await workflow.execute_activity(
                    activity_stubs.check_service_health,
                    ServiceHealthQuery(service=service),
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=LOOKUP_RETRY,
                )
            except ActivityError:
                self._log("service_health_unknown", service=service)
                healthy = False
            else:
                healthy = health.healthy
            if healthy or self._service_reports[service] == reports:
                return healthy

    async def _notify_agents(self, task_id: str) -> None:
        state = self._journey()
        task = next(t for t in state.tasks if t.task_id == task_id)
        await self._notify_staff("task_opened", f"{task.kind.value}: {task.reason.value}", task)
        record_agents_notified(state, task_id)

    async def _escalate_overdue(self, task_id: str) -> None:
        state = self._journey()
        task = next(t for t in state.tasks if t.task_id == task_id)
        await self._notify_staff("task_overdue", f"{task.kind.value} unclaimed past its due time", task)
        record_task_overdue(state, task_id, self._now())

    async def _alert_ops(self, reason: str) -> None:
        state = self._journey()
        await self._notify_staff("review_stalled", reason, None)
        record_ops_alerted(state, reason, self._now())

    async def _notify_staff(self, kind: str, summary: str, task: HumanTask | None) -> None:
        """Best effort: a notification that cannot be delivered is recorded; the journey goes on."""
        state = self._journey()
        info = workflow.info()
        try:
            await self._deliver_staff_notification(kind, summary, task, state, info)
        except ActivityError:
            state.record(
                self._now(),
                DecisionAction.FAILED,
                "notification_failed",
                f"{kind} {task.task_id if task else ''}".strip(),
            )
            self._log("staff_notification_failed", kind=kind)

    async def _deliver_staff_notification(
        self, kind: str, summary: str, task: HumanTask | None, state: JourneyState, info: workflow.Info
    ) -> None:
        subject = task.task_id if task else state.decisions_recorded
        notification = StaffNotification(
            notification_id=notification_id(info, kind, subject),
            kind=kind,
            customer_id=state.customer_id,
            workflow_id=info.workflow_id,
            stage=state.stage,
            summary=summary,
            task_id=task.task_id if task else None,
            due_at=task.due_at if task else None,
            created_at=self._now(),
        )
        await notify_staff(notification, self._messaging_queue)
