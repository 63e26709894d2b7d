"""Sign-in throttling, over real HTTP (uvicorn on a socket) with the real journal file: delays, then a
lockout answered 429 with Retry-After, per account and per client address, shared by API processes.
Time is moved by the throttle's clock, not slept."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from structlog.testing import capture_logs

from console.accounts import Role, add_agent
from starters.api import create_app
from tests.console.conftest import csrf_token
from tests.harness import Bench
from tests.serving import served, speaking_from

PASSWORDS = {"ana": "ana-correct-horse", "bob": "bob-battery-staple"}
LOCKOUT = timedelta(minutes=15)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Site:
    http: httpx.AsyncClient
    clock: Clock
    bench: Bench

    async def sign_in(self, username: str, password: str, address: str) -> httpx.Response:
        """The real form: fetch it (for its CSRF token and cookie), then post it, from `address`."""
        headers = speaking_from(address)
        async with httpx.AsyncClient(base_url=str(self.http.base_url), headers=headers) as browser:
            form = await browser.get("/console/sign-in")
            return await browser.post(
                "/console/sign-in",
                data={"csrf_token": csrf_token(form.text), "username": username, "password": password},
            )


@pytest.fixture
async def site(live_bench: Bench) -> AsyncIterator[Site]:
    journal = live_bench.client.journal
    assert journal is not None and live_bench.settings.journal_database_url.startswith("sqlite:///")
    for username, password in PASSWORDS.items():
        add_agent(journal, username, password, Role.AGENT)
    app = create_app(live_bench.settings, recovery=live_bench.client)
    clock = Clock(datetime.now(UTC))
    app.state.sign_in_throttle.clock = clock
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        yield Site(http, clock, live_bench)


async def test_thirty_wrong_passwords_lock_the_account_until_the_lockout_ends(site: Site) -> None:
    attacker = "203.0.113.7"
    statuses: list[int] = []
    with capture_logs() as logs:
        for _ in range(30):
            response = await site.sign_in("ana", "wrong-password-guess", attacker)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1
                assert "Too many failed sign-ins" in response.text
    first_429 = statuses.index(429)
    assert first_429 < 29 and set(statuses[:first_429]) == {401}, statuses
    assert statuses[-1] == 429

    # Locked: the right password is refused too, in plain words, for the whole lockout.
    refused = await site.sign_in("ana", PASSWORDS["ana"], attacker)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) == LOCKOUT.total_seconds()
    assert "is locked for 15 minutes" in refused.text
    site.clock.now += LOCKOUT - timedelta(seconds=5)
    assert (await site.sign_in("ana", PASSWORDS["ana"], "198.51.100.20")).status_code == 429  # from anywhere
    assert int((await site.sign_in("ana", PASSWORDS["ana"], attacker)).headers["Retry-After"]) <= 5

    # Another account from another address is not locked by it.
    assert (await site.sign_in("bob", PASSWORDS["bob"], "198.51.100.9")).status_code == 303

    # Every refusal and throttle was logged with the account and the client address, never the password.
    refusals = [entry for entry in logs if entry["event"] in ("console_sign_in_refused", "console_sign_in_throttled")]
    assert len(refusals) == 30
    assert all(entry["account"] == "ana" and entry["client"] == attacker for entry in refusals)
    assert not any("wrong-password-guess" in str(entry) for entry in logs)

    # After the lockout the right password is accepted.
    site.clock.now += timedelta(seconds=6)
    accepted = await site.sign_in("ana", PASSWORDS["ana"], attacker)
    assert accepted.status_code == 303, accepted.text
    assert accepted.headers["location"] == "/console/inbox"


async def test_the_lockout_is_shared_by_every_api_process(site: Site) -> None:
    """A second app on the same journal (another API process) refuses the locked account at once."""
    for _ in range(12):
        await site.sign_in("ana", "wrong-password-guess", "203.0.113.8")
    other = create_app(site.bench.settings, recovery=site.bench.client)
    other.state.sign_in_throttle.clock = site.clock
    async with served(other) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        form = await http.get("/console/sign-in", headers=speaking_from("198.51.100.30"))
        response = await http.post(
            "/console/sign-in",
            headers=speaking_from("198.51.100.30"),
            data={"csrf_token": csrf_token(form.text), "username": "ana", "password": PASSWORDS["ana"]},
        )
    assert response.status_code == 429
    assert "locked" in response.text


async def test_a_few_mistakes_cost_nothing_and_a_right_password_clears_them(site: Site) -> None:
    for _ in range(3):
        assert (await site.sign_in("bob", "not-my-password", "192.0.2.4")).status_code == 401
    assert (await site.sign_in("bob", PASSWORDS["bob"], "192.0.2.4")).status_code == 303
    for _ in range(4):  # counted afresh: still under the delays
        assert (await site.sign_in("bob", "not-my-password", "192.0.2.4")).status_code == 401


async def test_delays_grow_before_the_lockout(site: Site) -> None:
    waits: list[int] = []
    for _ in range(10):
        response = await site.sign_in("bob", "not-my-password", "192.0.2.5")
        assert response.status_code == 401
        if "wait" in response.text:
            waits.append(int(response.text.split("wait ", 1)[1].split(" second", 1)[0]))
            site.clock.now += timedelta(seconds=waits[-1])  # a patient person waits as told
    assert waits == [1, 2, 4, 8, 16]
    assert (await site.sign_in("bob", PASSWORDS["bob"], "192.0.2.5")).status_code == 429
