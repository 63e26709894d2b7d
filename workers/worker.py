"""The worker: runs journeys and their activities on a task queue, and stops cleanly on SIGTERM.

Stateless: add processes on the same task queue to scale out.
"""

import asyncio
import signal
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from activities.delivery import Delivery
from activities.journal_activities import JournalActivities
from activities.journal_store import migrate, open_journal
from activities.messaging import MessagingActivities
from activities.outbox import OutboxProvider
from activities.service_health import ServiceHealthActivities
from activities.stores import StoreActivities, StoreDirectory
from activities.webhook import WebhookProvider
from workers.logging import configure_logging
from workers.settings import Settings
from workers.temporal_client import connect
from workflows.journey import OnboardingJourney

log = structlog.get_logger(__name__)


def _provider(url: str | None, fallback: Delivery, settings: Settings) -> Delivery:
    return WebhookProvider(url, token=settings.webhook_token) if url else fallback


def build_worker(client: Client, settings: Settings, journal: JournalActivities | None = None) -> Worker:
    outbox = OutboxProvider(settings.outbox_path)
    messaging = MessagingActivities(
        push=_provider(settings.push_webhook_url, outbox, settings),
        sms=_provider(settings.sms_webhook_url, outbox, settings),
        staff=_provider(settings.staff_webhook_url, OutboxProvider(settings.staff_notifications_path), settings),
    )
    stores = StoreActivities(StoreDirectory.load(settings.store_directory))
    health = ServiceHealthActivities(settings.service_status_path, settings.service_status_url)
    if journal is None:
        journal_engine = open_journal(settings.journal_database_url)
        migrate(journal_engine)
        journal = JournalActivities(journal_engine)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[OnboardingJourney],
        activities=[
            messaging.send_push,
            messaging.send_sms,
            messaging.notify_staff,
            stores.find_nearest_store,
            health.check_service_health,
            journal.record_journal,
        ],
        max_concurrent_activities=settings.max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run_worker(settings: Settings) -> None:
    client = await connect(settings)
    worker = build_worker(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("worker_started", task_queue=settings.task_queue, temporal=settings.temporal_address, namespace=settings.namespace)
    async with worker:
        await stop.wait()
        log.info("worker_stopping", reason="signal")
    log.info("worker_stopped")


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
