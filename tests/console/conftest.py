"""The console in-process over ASGI, against the real dev server, worker and journal: agents are
httpx clients with their own cookie jars, signing in through the real form."""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import Engine

from console.accounts import Role, add_agent
from starters.api import create_app
from tests.harness import Bench, eventually
from workflows.human_tasks import HumanTask

PASSWORDS = {"ana": "ana-correct-horse", "bob": "bob-battery-staple", "sue": "sue-supervises-all"}
ROLES = {"ana": Role.AGENT, "bob": Role.AGENT, "sue": Role.SUPERVISOR}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


@dataclass
class AgentClient:
    """One browser's worth of state: its cookies, and the CSRF token of the last page it read."""

    http: httpx.AsyncClient
    username: str
    token: str = ""

    async def sign_in(self, password: str | None = None) -> httpx.Response:
        form = await self.http.get("/console/sign-in")
        response = await self.http.post(
            "/console/sign-in",
            data={
                "csrf_token": csrf_token(form.text),
                "username": self.username,
                "password": PASSWORDS[self.username] if password is None else password,
            },
        )
        if response.status_code == 303:
            self.token = csrf_token((await self.http.get("/console/inbox")).text)
        return response

    async def page(self, path: str) -> httpx.Response:
        response = await self.http.get(path)
        if response.status_code == 200 and 'name="csrf_token"' in response.text:
            self.token = csrf_token(response.text)
        return response

    async def post(self, path: str, token: str | None = None, **fields: str) -> httpx.Response:
        return await self.http.post(path, data={"csrf_token": self.token if token is None else token, **fields})

    async def act(self, task_id: str, action: str, **fields: str) -> httpx.Response:
        await self.page(f"/console/tasks/{task_id}")
        return await self.post(f"/console/tasks/{task_id}/{action}", **fields)


@dataclass
class Console:
    bench: Bench
    app: object
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, username: str) -> AgentClient:
        transport = httpx.ASGITransport(app=self.app)  # type: ignore[arg-type]
        self.clients.append(httpx.AsyncClient(transport=transport, base_url="http://console"))
        return AgentClient(self.clients[-1], username)

    @property
    def journal(self) -> Engine:
        """The journal the console reads (every console test runs with one)."""
        journal = self.bench.client.journal
        assert journal is not None
        return journal

    async def signed_in(self, username: str) -> AgentClient:
        agent = self.client(username)
        response = await agent.sign_in()
        assert response.status_code == 303, response.text
        return agent

    async def customer_with_task(self, name: str) -> tuple[str, str]:
        """A customer who verified their phone and asked for help: the journey opens a task at once."""
        customer_id = f"{self.bench.customer_id}-{name}"
        await self.bench.send("onboarding.phone_verified", customer_id=customer_id)
        await self.bench.send("onboarding.help_requested", customer_id=customer_id)
        task = await self.task_when(customer_id, lambda t: t is not None)
        assert task is not None
        return customer_id, task.task_id

    async def task_when(self, customer_id: str, check: object) -> HumanTask | None:
        seen: list[HumanTask | None] = [None]

        async def reached() -> bool:
            view = await self.bench.view(customer_id)
            seen[0] = next(iter(view.tasks[-1:]), None)
            return bool(check(seen[0]))  # type: ignore[operator]

        await eventually(reached, timeout=10)
        return seen[0]


@pytest.fixture
async def console(live_bench: Bench) -> AsyncIterator[Console]:
    journal = live_bench.client.journal
    assert journal is not None
    for username, password in PASSWORDS.items():
        add_agent(journal, username, password, ROLES[username])
    app = Console(live_bench, create_app(live_bench.settings, recovery=live_bench.client))
    app.app.state.console.feed.ttl_seconds = 0  # type: ignore[attr-defined]  # each inbox read sees the latest (tests poll)
    yield app
    for http in app.clients:
        await http.aclose()
