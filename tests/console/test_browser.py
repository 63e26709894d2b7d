"""The console in a real browser: Debian's Chromium driven by Playwright, against the app served by
uvicorn on a real port, the real dev server and worker. What an agent sees and clicks."""

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn

from tests.console.conftest import PASSWORDS, Console

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium: `apt-get install -y chromium` (.ci/run does it)"
)
if TYPE_CHECKING:
    from playwright import async_api as playwright_api
    from playwright.async_api import Browser, Page, expect
else:
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="Playwright for Python is a dev dependency: pip install -e '.[dev]'"
    )
    expect, Page = playwright_api.expect, playwright_api.Page


@dataclass
class Served:
    console: Console
    url: str
    browser: "Browser"

    async def signed_in_page(self, username: str) -> "Page":
        """A fresh browser profile (its own cookies) that signs in through the form."""
        page = await (await self.browser.new_context()).new_page()
        await page.goto(f"{self.url}/console/inbox")
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Password").fill(PASSWORDS[username])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
        return page


@pytest.fixture
async def served(console: Console) -> AsyncIterator[Served]:
    console.app.state.console.refresh_seconds = 1  # type: ignore[attr-defined]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(console.app, log_config=None, lifespan="off"))  # type: ignore[arg-type]
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not serving.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield Served(console, f"http://127.0.0.1:{sock.getsockname()[1]}", browser)
        finally:
            await browser.close()
            server.should_exit = True
            await serving
            sock.close()


async def row_appears(page: "Page", customer_id: str) -> None:
    """The inbox lists tasks through Temporal visibility, which lags a moment behind the journey."""
    link = page.get_by_role("link", name=customer_id)
    await expect(link).to_be_visible(timeout=10_000)


async def test_an_agent_claims_and_completes_a_task_and_the_journey_moves_on(served: Served) -> None:
    console = served.console
    customer_id, task_id = await console.customer_with_task("browser")
    ana = await served.signed_in_page("ana")

    await row_appears(ana, customer_id)
    row = ana.locator("tr", has=ana.get_by_role("link", name=customer_id))
    await expect(row).to_contain_text("Help request: Customer asked for help")
    await expect(row).to_contain_text("open")
    await ana.get_by_role("link", name=customer_id).click()

    await expect(ana.get_by_role("heading", name="Help request: Customer asked for help")).to_be_visible()
    await expect(ana.locator(".funnel [aria-current=step]")).to_contain_text("Phone verified")
    await expect(ana.get_by_text("The customer asked for help. Ask where they got stuck")).to_be_visible()
    await ana.get_by_role("button", name="Claim this task").click()
    await expect(ana.get_by_role("status")).to_have_text("You claimed this task.")
    await expect(ana.locator("#task-state")).to_have_text("claimed by ana")

    bob = await served.signed_in_page("bob")
    await bob.goto(f"{served.url}/console/tasks/{task_id}")
    await expect(bob.get_by_text("Claimed by ana: only they can complete it.")).to_be_visible()
    await expect(bob.get_by_role("button", name="Complete task")).to_have_count(0)
    token = await bob.locator("input[name=csrf_token]").first.get_attribute("value")
    forced = await bob.request.post(
        f"{served.url}/console/tasks/{task_id}/complete",
        form={"csrf_token": token or "", "outcome": "verified_on_call"},
    )
    assert forced.status == 403
    assert "only they can complete it" in await forced.text()

    await ana.get_by_label("Verified on call").check()
    await ana.get_by_label("Note (optional, no personal data)").fill("Checked the passport together on the call.")
    await ana.get_by_role("button", name="Complete task").click()
    await expect(ana.get_by_role("status")).to_have_text("Task completed: the journey has acted on the outcome.")
    await expect(ana.locator(".journey-stage")).to_have_text("document approved")
    await expect(ana.locator("table.audit")).to_contain_text("complete verified_on_call")
    view = await console.bench.view(customer_id)
    assert (view.stage.value, view.tasks[-1].state.value, view.tasks[-1].completed_by) == (
        "document_approved",
        "completed",
        "ana",
    )

    await ana.get_by_role("button", name="Sign out").click()
    await expect(ana.get_by_role("status")).to_have_text("You are signed out.")
    await ana.goto(f"{served.url}/console/tasks/{task_id}")
    await expect(ana.get_by_role("heading", name="Sign in")).to_be_visible()
    assert "/console/sign-in?next=" in ana.url


async def test_the_inbox_refreshes_in_place_keeping_the_agents_tab(served: Served) -> None:
    console = served.console
    first, _ = await console.customer_with_task("refresh-1")
    ana = await served.signed_in_page("ana")
    await ana.get_by_role("link", name="All").click()
    await row_appears(ana, first)
    await ana.evaluate("window.loadedOnce = true")

    second, _ = await console.customer_with_task("refresh-2")
    await row_appears(ana, second)
    assert await ana.evaluate("window.loadedOnce === true"), "the page reloaded instead of refreshing in place"
    await expect(ana.locator(".tabs [aria-current=page]")).to_contain_text("All")
