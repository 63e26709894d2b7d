"""The contact directory: written through the API, never read back through it, resolved by the
delivery side from the journal (or the operator's customer API) at send time."""

import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import Client

from activities.contacts import HttpContactDirectory, JournalContactDirectory, contact_directory
from core.settings import Settings
from journal.store import migrate, open_journal
from starters.api import create_app
from starters.client import RecoveryClient
from workflows.playbook import load_playbook

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PHONE = "+998901234567"


@pytest.fixture
def journal(tmp_path: Path) -> Engine:
    engine = open_journal(f"sqlite:///{tmp_path / 'journal.db'}")
    migrate(engine)
    return engine


@pytest.fixture
async def http(journal: Engine, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    client = await Client.connect("127.0.0.1:9", lazy=True)  # no Temporal needed: the directory is the journal's
    recovery = RecoveryClient(client, load_playbook(), "nowhere", journal)
    app = create_app(Settings(api_token=TOKEN, data_dir=tmp_path), recovery=recovery)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        yield http


async def test_a_contact_is_written_and_only_its_channels_are_read_back(
    http: httpx.AsyncClient, journal: Engine
) -> None:
    response = await http.put("/v1/customers/c-1/contact", json={"phone": PHONE, "push_token": "tok-abc"}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == {"channels": ["push", "sms"]}
    response = await http.get("/v1/customers/c-1/contact", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"channels": ["push", "sms"]}
    assert PHONE not in response.text and "tok-abc" not in response.text

    directory = JournalContactDirectory(journal)
    contact = await directory.contact("c-1")
    assert contact is not None and (contact.phone, contact.push_token) == (PHONE, "tok-abc")
    assert PHONE not in repr(contact) and "tok-abc" not in repr(contact)
    assert await directory.customer_with_phone(PHONE) == "c-1"
    assert await directory.customer_with_phone("+15550000000") is None
    assert await directory.contact("c-unknown") is None


async def test_a_value_left_out_stays_and_null_removes_it(http: httpx.AsyncClient) -> None:
    await http.put("/v1/customers/c-2/contact", json={"phone": PHONE}, headers=AUTH)
    response = await http.put("/v1/customers/c-2/contact", json={"push_token": "tok"}, headers=AUTH)
    assert response.json() == {"channels": ["push", "sms"]}
    response = await http.put("/v1/customers/c-2/contact", json={"phone": None}, headers=AUTH)
    assert response.json() == {"channels": ["push"]}


async def test_an_unknown_customer_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/customers/c-nobody/contact", headers=AUTH)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body",
    [{"phone": "998901234567"}, {"phone": "+0123456789"}, {"phone": "+99890 123"}, {"push_token": ""}, {"x": 1}],
)
async def test_invalid_contacts_are_refused_without_echoing_the_value(
    http: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await http.put("/v1/customers/c-3/contact", json=body, headers=AUTH)
    assert response.status_code == 422
    value = next(iter(body.values()))
    if isinstance(value, str) and value:
        assert value not in response.text
    assert (await http.get("/v1/customers/c-3/contact", headers=AUTH)).status_code == 404


async def test_the_directory_needs_the_bearer_token(http: httpx.AsyncClient) -> None:
    assert (await http.put("/v1/customers/c-4/contact", json={"phone": PHONE})).status_code == 401
    assert (await http.get("/v1/customers/c-4/contact")).status_code == 401


@pytest.fixture
def customer_api() -> Iterator[str]:
    """The operator's customer API, as `RECOVERY_CONTACT_LOOKUP_URL` expects it."""
    contacts = {"c-9": {"phone": PHONE, "push_token": "tok-9"}}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            phone = parse_qs(parts.query).get("phone", [None])[0]
            if phone is not None:
                found = next(({"customer_id": c} for c, v in contacts.items() if v["phone"] == phone), None)
            else:
                found = contacts.get(parts.path.rsplit("/", 1)[-1])
            ok = found is not None and self.headers.get("Authorization") == "Bearer hook"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(found or {}).encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/contacts"
    server.shutdown()
    server.server_close()


async def test_the_operators_customer_api_is_the_directory_when_set(customer_api: str, journal: Engine) -> None:
    directory = contact_directory(journal, customer_api, "hook")
    assert isinstance(directory, HttpContactDirectory)
    contact = await directory.contact("c-9")
    assert contact is not None and (contact.phone, contact.push_token) == (PHONE, "tok-9")
    assert await directory.contact("c-unknown") is None
    assert await directory.customer_with_phone(PHONE) == "c-9"
    assert await directory.customer_with_phone("+15550000000") is None
    await directory.aclose()
    assert isinstance(contact_directory(journal, None), JournalContactDirectory)
