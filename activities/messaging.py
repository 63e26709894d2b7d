"""Activities that reach people: push and SMS to customers, notifications to support and ops.

Thin on purpose: the journey has decided everything; these only deliver, once per message id.
"""

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.delivery import Delivery
from activities.sms_failover import SmsFailover
from workflows.contracts import CHANNEL_OPTED_OUT, DeliveryReceipt, OutboundMessage, StaffNotification
from workflows.events import OnboardingEvent
from workflows.funnel import EventType

log = structlog.get_logger(__name__)


class MessagingActivities:
    """`sms_failover`: a second SMS provider behind `sms` for when it keeps failing (activities/sms_failover.py)."""

    def __init__(self, push: Delivery, sms: Delivery, staff: Delivery, sms_failover: SmsFailover | None = None) -> None:
        self._push = push
        self._sms = sms
        self._staff = staff
        self._sms_failover = sms_failover

    @activity.defn
    async def send_push(self, message: OutboundMessage) -> DeliveryReceipt:
        return await self._send(self._push, message)

    @activity.defn
    async def send_sms(self, message: OutboundMessage) -> DeliveryReceipt:
        """The receipt names the provider that sent it: the first, or the failover."""
        failover = self._sms_failover
        if failover is None:
            return await self._send(self._sms, message)
        provider = failover.provider_for(activity.info().attempt)
        if provider is failover.second and await failover.first_took(message.message_id):
            # An earlier attempt's answer was lost after the first provider took the message: not twice.
            return DeliveryReceipt(message_id=message.message_id, provider=failover.first.name, duplicate=True)
        try:
            receipt = await self._send(provider, message)
        except Exception as err:
            failover.failed(provider, err)
            raise
        failover.succeeded(provider)
        return receipt

    @activity.defn
    async def notify_staff(self, notification: StaffNotification) -> DeliveryReceipt:
        payload = notification.model_dump(mode="json")
        duplicate = await self._staff.deliver(notification.notification_id, payload)
        log.info(
            "staff_notified",
            kind=notification.kind,
            customer_id=notification.customer_id,
            workflow_id=notification.workflow_id,
            task_id=notification.task_id,
            duplicate=duplicate,
        )
        return DeliveryReceipt(message_id=notification.notification_id, provider=self._staff.name, duplicate=duplicate)

    async def _send(self, provider: Delivery, message: OutboundMessage) -> DeliveryReceipt:
        payload = message.model_dump(mode="json")
        payload["sent_at"] = activity.info().current_attempt_scheduled_time.isoformat()
        try:
            duplicate = await provider.deliver(message.message_id, payload)
        except ApplicationError as err:
            if err.type == CHANNEL_OPTED_OUT:
                await _tell_journey_opted_out(message, provider.name)
            raise
        log.info(
            "message_delivered",
            channel=message.channel.value,
            customer_id=message.customer_id,
            workflow_id=message.workflow_id,
            stage=message.stage.value,
            attempt=message.attempt,
            message_id=message.message_id,
            provider=provider.name,
            duplicate=duplicate,
        )
        return DeliveryReceipt(message_id=message.message_id, provider=provider.name, duplicate=duplicate)

    async def aclose(self) -> None:
        """Closes the providers' pooled HTTP clients: the worker calls it once it has stopped."""
        providers: list[object] = [self._push, self._staff, self._sms_failover or self._sms]
        for provider in providers:
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()


async def _tell_journey_opted_out(message: OutboundMessage, provider: str) -> None:
    """The vendor says the customer unsubscribed from SMS (Twilio 21610): the journey hears it as the
    customer's own `customer.opted_out` (channel sms), at once, so it stops texting and records why.
    Its id derives from the message's, so telling it twice is one event."""
    event = OnboardingEvent(
        event_id=f"{message.message_id}:sms-opted-out",
        customer_id=message.customer_id,
        type=EventType.OPTED_OUT,
        occurred_at=activity.info().current_attempt_scheduled_time,
        attributes={"channel": "sms"},
    )
    try:
        await activity.client().get_workflow_handle(message.workflow_id).signal("record_event", event)
    except RPCError as err:  # the journey ended meanwhile: nothing to tell
        log.warning("opt_out_not_signalled", customer_id=message.customer_id, provider=provider, error=err.message)
    else:
        log.info("sms_opt_out_signalled", customer_id=message.customer_id, provider=provider)
