"""The activities a journey asks for, by signature: the workflow calls these, workers run the real ones.

A stub names an activity and types its input and result, so the workflow calls activities by
reference rather than by string, and a renamed or retyped activity fails a test
(tests/workflows/test_activity_stubs.py) instead of a journey. The bodies never run.
"""

from temporalio import activity

from workflows.contracts import (
    DeliveryReceipt,
    JournalBatch,
    OutboundMessage,
    ServiceHealth,
    ServiceHealthQuery,
    StaffNotification,
    Store,
    StoreQuery,
)
from workflows.early_life_input import EarlyLifeStart
from workflows.early_life_journal import EarlyLifeBatch


def _stub() -> NotImplementedError:
    return NotImplementedError("a stub: the worker registers the real activity under this name")


@activity.defn
async def send_push(message: OutboundMessage) -> DeliveryReceipt:
    raise _stub()


@activity.defn
async def send_sms(message: OutboundMessage) -> DeliveryReceipt:
    raise _stub()


@activity.defn
async def notify_staff(notification: StaffNotification) -> DeliveryReceipt:
    raise _stub()


@activity.defn
async def find_nearest_store(query: StoreQuery) -> Store:
    raise _stub()


@activity.defn
async def check_service_health(query: ServiceHealthQuery) -> ServiceHealth:
    raise _stub()


@activity.defn
async def record_journal(batch: JournalBatch) -> int:
    raise _stub()


@activity.defn
async def record_early_life(batch: EarlyLifeBatch) -> int:
    raise _stub()


@activity.defn
async def start_early_life(request: EarlyLifeStart) -> bool:
    raise _stub()


ALL_STUBS = (
    send_push,
    send_sms,
    notify_staff,
    find_nearest_store,
    check_service_health,
    record_journal,
    record_early_life,
    start_early_life,
)
