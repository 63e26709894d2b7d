"""Activities that reach people: push and SMS to customers, notifications to support and ops.

Thin on purpose: the journey has decided everything; these only deliver, once per message id.
"""

import structlog
from temporalio import activity

from activities.delivery import Delivery
from workflows.contracts import DeliveryReceipt, OutboundMessage, StaffNotification

log = structlog.get_logger(__name__)


class MessagingActivities:
    def __init__(self, push: Delivery, sms: Delivery, staff: Delivery) -> None:
        self._push = push
        self._sms = sms
        self._staff = staff

    @activity.defn
    async def send_push(self, message: OutboundMessage) -> DeliveryReceipt:
        return await self._send(self._push, message)

    @activity.defn
    async def send_sms(self, message: OutboundMessage) -> DeliveryReceipt:
        return await self._send(self._sms, message)

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
        duplicate = await provider.deliver(message.message_id, payload)
        log.info(
            "message_delivered",
            channel=message.channel.value,
            customer_id=message.customer_id,
            workflow_id=message.workflow_id,
            stage=message.stage.value,
            attempt=message.attempt,
            message_id=message.message_id,
            duplicate=duplicate,
        )
        return DeliveryReceipt(message_id=message.message_id, provider=provider.name, duplicate=duplicate)
