"""Screenshots of the agents' console for the README: docs/console-inbox.png and docs/console-task.png.

Runs everything here, with nothing else needed: a Temporal dev server, a worker, the API and console
under uvicorn, four customers stuck at different steps, three agents; then Debian's Chromium signs
in as agents, claims tasks through the console and takes the pictures.

    .venv/bin/python docs/make_screenshots.py

It takes about two minutes: one customer's journey pins a playbook whose help-request SLA is
one minute instead of one hour, so that the inbox shows an overdue task without waiting an hour.
"""

import asyncio
import socket
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import uvicorn
from playwright.async_api import Page, async_playwright, expect
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from console.accounts import Role, add_agent
from core.settings import Settings
from journal.store import migrate, open_journal
from starters.api import create_app
from starters.client import RecoveryClient
from workers.worker import build_worker
from workflows.events import OnboardingEvent
from workflows.playbook import TaskKind, load_playbook
from workflows.search_attributes import ALL_KEYS

DOCS = Path(__file__).resolve().parent
DEV_SERVER = Path(sys.executable).parent / "temporal"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "screenshot-only-password"
ZONES = [
    "Asia/Tashkent",
    "Asia/Almaty",
    "Europe/Istanbul",
    "Europe/Berlin",
    "Africa/Lagos",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Mexico_City",
    "America/Los_Angeles",
    "Asia/Jakarta",
    "Asia/Tokyo",
    "Australia/Sydney",
]


def zone_where(now: datetime, hours: range) -> str:
    """A real time zone where the local hour now is in `hours`: daytime for most customers, night for one."""
    return next(z for z in ZONES if now.astimezone(ZoneInfo(z)).hour in hours)


class Customers:
    def __init__(self, client: RecoveryClient) -> None:
        self.client = client

    async def send(
        self,
        customer_id: str,
        event_type: str,
        zone: str,
        ago: timedelta = timedelta(),
        client: RecoveryClient | None = None,
        **attributes: str,
    ) -> None:
        event = OnboardingEvent(
            event_id=f"shot-{uuid.uuid4().hex[:10]}",
            customer_id=customer_id,
            type=event_type,
            occurred_at=datetime.now(UTC) - ago,
            attributes=attributes,
            profile={"timezone": zone, "locale": "en", "location": {"lat": 41.31, "lon": 69.28}},
        )
        await (client or self.client).record_event(event)


async def sign_in(browser: object, url: str, username: str) -> Page:
    page = await (await browser.new_context(viewport={"width": 1320, "height": 860}, device_scale_factor=1)).new_page()  # type: ignore[attr-defined]
    await page.goto(f"{url}/console/sign-in")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    return page


async def claim(page: Page, url: str, task_id: str) -> None:
    await page.goto(f"{url}/console/tasks/{task_id}")
    await page.get_by_role("button", name="Claim this task").click()
    await expect(page.get_by_role("status")).to_have_text("You claimed this task.")


async def main() -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(DEV_SERVER),
        search_attributes=ALL_KEYS,
        data_converter=pydantic_data_converter,
        dev_server_extra_args=["--log-level", "error"],
    )
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            _env_file=None, data_dir=Path(data_dir), task_queue="screenshots", namespace=env.client.namespace
        )  # type: ignore[call-arg]
        journal = open_journal(settings.journal_database_url)
        migrate(journal)
        playbook = load_playbook().model_copy(update={"holdout_share": 0.0})
        recovery = RecoveryClient(env.client, playbook, settings.task_queue, journal)
        tight_tasks = dict(playbook.human_tasks)
        tight_tasks[TaskKind.HELP_REQUEST] = tight_tasks[TaskKind.HELP_REQUEST].model_copy(
            update={"sla": timedelta(minutes=1)}
        )
        hurried = RecoveryClient(
            env.client,
            playbook.model_copy(update={"human_tasks": tight_tasks, "version": "default@hurried"}),
            settings.task_queue,
            journal,
        )
        for username, role in (("ana", Role.AGENT), ("bob", Role.AGENT), ("sue", Role.SUPERVISOR)):
            add_agent(journal, username, PASSWORD, role)

        async with build_worker(env.client, settings):
            now = datetime.now(UTC)
            day, night = zone_where(now, range(10, 19)), zone_where(now, range(22, 24))
            customers = Customers(recovery)
            # Asked for help long past the (hurried) SLA: the overdue row at the top.
            await customers.send("c-20455", "onboarding.phone_verified", day, timedelta(minutes=40), client=hurried)
            await customers.send("c-20455", "onboarding.help_requested", day, client=hurried)
            # Verified the phone five hours ago, got a nudge, then asked for help: the task page.
            await customers.send("c-20417", "onboarding.phone_verified", day, timedelta(hours=5))
            await asyncio.sleep(3)  # the nudge for the drop-off goes out before the call for help
            await customers.send("c-20417", "onboarding.help_requested", day)
            # Approved document, stuck on the selfie, asked for help: claimed by another agent.
            await customers.send("c-20402", "onboarding.document_approved", day, timedelta(hours=2))
            await customers.send("c-20402", "onboarding.help_requested", day)
            # Two rejected passport photos, at night for the customer: a video call, not now.
            await customers.send("c-20388", "onboarding.document_uploaded", night, timedelta(minutes=50))
            await customers.send("c-20388", "onboarding.document_rejected", night, timedelta(minutes=45), reason="blur")
            await customers.send("c-20388", "onboarding.document_uploaded", night, timedelta(minutes=20))
            await customers.send(
                "c-20388", "onboarding.document_rejected", night, timedelta(minutes=15), reason="glare"
            )

            while len(await recovery.list_tasks()) < 4:
                await asyncio.sleep(0.5)
            tasks = {s.customer_id: s.task for s in await recovery.list_tasks()}
            wait = (tasks["c-20455"].due_at - datetime.now(UTC)).total_seconds() + 65
            print(f"waiting {wait:.0f}s for c-20455's task to be overdue", flush=True)
            await asyncio.sleep(max(wait, 0))

            app = create_app(settings, recovery=recovery)
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started:
                await asyncio.sleep(0.05)
            url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                bob = await sign_in(browser, url, "bob")
                await claim(bob, url, tasks["c-20402"].task_id)
                ana = await sign_in(browser, url, "ana")
                await claim(ana, url, tasks["c-20417"].task_id)
                await ana.goto(f"{url}/console/inbox?tab=all")
                await expect(ana.locator("tbody tr")).to_have_count(4)
                await ana.screenshot(path=str(DOCS / "console-inbox.png"), full_page=True)
                await ana.goto(f"{url}/console/tasks/{tasks['c-20417'].task_id}")
                await ana.screenshot(path=str(DOCS / "console-task.png"), full_page=True)
                await browser.close()
            server.should_exit = True
            await serving
    await env.shutdown()
    print(f"wrote {DOCS / 'console-inbox.png'} and {DOCS / 'console-task.png'}")


if __name__ == "__main__":
    asyncio.run(main())
