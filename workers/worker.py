"""The worker: runs journeys and their activities on a task queue, and stops cleanly on SIGTERM.

Stateless: add processes on the same task queue to scale out. With `RECOVERY_MESSAGING_TASK_QUEUE`,
deliveries (push, SMS, staff notifications) run on their own task queue, where
`RECOVERY_MESSAGING_RATE_LIMIT_PER_SECOND` holds the provider's limit across all workers. A process
runs one role (`RECOVERY_WORKER_ROLE`):

- all (default): the journeys and every activity on the task queue, and, when a messaging queue is
  set, a second worker on that queue;
- journeys: the journeys and every activity but deliveries;
- messaging: only the deliveries, on the messaging queue.
"""

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.worker import Worker

from activities.contacts import contact_directory
from activities.delivery import Delivery
from activities.early_life_start import start_early_life
from activities.fcm_push import FcmPush, ServiceAccountError
from activities.journal_activities import JournalActivities
from activities.messaging import MessagingActivities
from activities.outbox import OutboxProvider
from activities.service_health import ServiceHealthActivities
from activities.sms_failover import SmsFailover
from activities.stores import StoreActivities, StoreDirectory
from activities.twilio_sms import TwilioSms
from activities.webhook import WebhookProvider
from core.logging import configure_logging
from core.payload_codec import PayloadKeyError
from core.settings import Settings, settings_error_text
from core.temporal_client import connect
from journal.store import migrate, open_journal
from workers.metrics import MetricsPortError, prometheus_runtime
from workflows.early_life import EarlyLifeJourney
from workflows.journey import OnboardingJourney

log = structlog.get_logger(__name__)


def _provider(url: str | None, fallback: Delivery, settings: Settings) -> Delivery:
    return WebhookProvider(url, token=settings.webhook_token) if url else fallback


def _sms(settings: Settings, outbox: Delivery) -> Delivery:
    """The SMS provider `RECOVERY_SMS_PROVIDER` names (unset: the webhook when its URL is set, else the outbox)."""
    return _sms_provider(settings.sms_provider_name, settings, outbox)


def _sms_failover(settings: Settings, first: Delivery, outbox: Delivery) -> SmsFailover | None:
    """`RECOVERY_SMS_FAILOVER_PROVIDER`: the second SMS provider, for when the first keeps failing."""
    if settings.sms_failover_provider is None:
        return None
    return SmsFailover(
        first,
        _sms_provider(settings.sms_failover_provider, settings, outbox),
        after=settings.sms_failover_after,
        cooldown=timedelta(seconds=settings.sms_failover_cooldown_seconds),
    )


def _sms_provider(provider: str, settings: Settings, outbox: Delivery) -> Delivery:
    if provider == "twilio":
        journal = open_journal(settings.journal_database_url)
        assert settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_messaging_service_sid
        return TwilioSms(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            sender=settings.twilio_messaging_service_sid,
            contacts=contact_directory(journal, settings.contact_lookup_url, settings.webhook_token),
            journal=journal,
            public_url=settings.public_url,
            base_url=settings.twilio_base_url,
        )
    return _provider(settings.sms_webhook_url if provider == "webhook" else None, outbox, settings)


def _push(settings: Settings, outbox: Delivery) -> Delivery:
    """The push provider `RECOVERY_PUSH_PROVIDER` names (unset: the webhook when its URL is set, else the outbox)."""
    provider = settings.push_provider_name
    if provider == "fcm":
        assert settings.fcm_service_account_file is not None  # the setting's own check
        contacts = contact_directory(
            open_journal(settings.journal_database_url), settings.contact_lookup_url, settings.webhook_token
        )
        return FcmPush.from_file(
            settings.fcm_service_account_file,
            contacts,
            base_url=settings.fcm_base_url,
            token_url=settings.fcm_token_url,
        )
    return _provider(settings.push_webhook_url if provider == "webhook" else None, outbox, settings)


def _messaging(settings: Settings) -> MessagingActivities:
    outbox = OutboxProvider(settings.outbox_path)
    sms = _sms(settings, outbox)
    return MessagingActivities(
        push=_push(settings, outbox),
        sms=sms,
        staff=_provider(settings.staff_webhook_url, OutboxProvider(settings.staff_notifications_path), settings),
        sms_failover=_sms_failover(settings, sms, outbox),
    )


class _Worker(Worker):
    """A worker that closes its providers' pooled HTTP clients once it has stopped."""

    def __init__(self, client: Client, *, closing: MessagingActivities, **options: Any) -> None:
        super().__init__(client, **options)
        self._closing = closing

    async def shutdown(self) -> None:
        try:
            await super().shutdown()
        finally:
            await self._closing.aclose()


def build_worker(client: Client, settings: Settings, journal: JournalActivities | None = None) -> Worker:
    """The worker of `settings.task_queue`: the journeys and their activities.

    Deliveries run here too, unless the role is journeys.
    """
    if settings.worker_role == "messaging":
        raise ValueError("role messaging runs no journeys: use build_workers or build_messaging_worker")
    messaging = _messaging(settings)
    stores = StoreActivities(StoreDirectory.load(settings.store_directory))
    if journal is None:
        journal_engine = open_journal(settings.journal_database_url)
        migrate(journal_engine)
        journal = JournalActivities(journal_engine)
    health = ServiceHealthActivities(journal.engine, settings.service_status_url)
    deliveries: list[Callable[..., Any]] = [messaging.send_push, messaging.send_sms, messaging.notify_staff]
    return _Worker(
        client,
        closing=messaging,
        task_queue=settings.task_queue,
        workflows=[OnboardingJourney, EarlyLifeJourney],
        activities=[
            # Role all keeps deliveries here too: journeys started before a messaging queue was set deliver on this one.
            *(deliveries if settings.worker_role == "all" else []),
            stores.find_nearest_store,
            health.check_service_health,
            journal.record_journal,
            journal.record_early_life,
            start_early_life,
        ],
        max_concurrent_activities=settings.max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def build_messaging_worker(client: Client, settings: Settings) -> Worker:
    """The worker of the messaging task queue: deliveries only, under the queue-wide rate limit."""
    if not settings.messaging_task_queue:
        raise ValueError("no messaging task queue: set RECOVERY_MESSAGING_TASK_QUEUE")
    messaging = _messaging(settings)
    return _Worker(
        client,
        closing=messaging,
        task_queue=settings.messaging_task_queue,
        activities=[messaging.send_push, messaging.send_sms, messaging.notify_staff],
        max_concurrent_activities=settings.max_concurrent_activities,
        # Held by the server for the whole queue, whatever the number of workers: the provider's limit.
        max_task_queue_activities_per_second=settings.messaging_rate_limit_per_second,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def build_workers(client: Client, settings: Settings, journal: JournalActivities | None = None) -> list[Worker]:
    """Every worker this process runs for its role."""
    workers: list[Worker] = []
    if settings.worker_role in ("all", "journeys"):
        workers.append(build_worker(client, settings, journal))
    if settings.messaging_task_queue and settings.worker_role in ("all", "messaging"):
        workers.append(build_messaging_worker(client, settings))
    return workers


def task_queues(settings: Settings) -> list[str]:
    queues = [settings.task_queue] if settings.worker_role != "messaging" else []
    if settings.messaging_task_queue and settings.worker_role != "journeys":
        queues.append(settings.messaging_task_queue)
    return queues


async def run_worker(settings: Settings) -> None:
    runtime = prometheus_runtime(settings.metrics_port, settings.metrics_host) if settings.metrics_port else None
    client = await connect(settings, runtime=runtime)
    workers = build_workers(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncExitStack() as running:
        for worker in workers:
            await running.enter_async_context(worker)
        log.info(  # polling from here on
            "worker_started",
            role=settings.worker_role,
            task_queues=task_queues(settings),
            temporal=settings.temporal_address,
            namespace=settings.namespace,
            metrics_port=settings.metrics_port,
            identity=client.identity,
            messaging_rate_limit_per_second=settings.messaging_rate_limit_per_second,
        )
        await stop.wait()
        log.info("worker_stopping", reason="signal")
    log.info("worker_stopped")


def exit_after_clean_shutdown(settings: Settings) -> None:
    """The worker has stopped cleanly: with a metrics runtime, leave without interpreter teardown.

    Tearing the SDK's native runtime down during interpreter finalization, with its Prometheus
    exporter thread, was seen to abort the process (SIGABRT) now and then after a clean stop.
    """
    if settings.metrics_port is None:
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as err:
        sys.exit(f"error: bad RECOVERY_* setting: {settings_error_text(err)}")
    configure_logging(settings.log_format, settings.log_level)
    try:
        asyncio.run(run_worker(settings))
    except MetricsPortError as err:
        sys.exit(f"error: {err}")
    except PayloadKeyError as err:
        sys.exit(f"error: bad payload keys: {err}")
    except ServiceAccountError as err:
        sys.exit(f"error: bad RECOVERY_FCM_SERVICE_ACCOUNT_FILE: {err}")
    exit_after_clean_shutdown(settings)


if __name__ == "__main__":
    main()
