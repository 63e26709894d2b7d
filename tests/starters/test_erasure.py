"""Erasing a customer (the right to erasure): over real HTTP and the CLI, against the real dev server and
worker. Afterwards nothing of the customer is left in any journal table, the outbox files or Temporal's
visibility, a customer whose id starts with theirs keeps everything, and an erasure record remains."""

import hashlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner

from journal.erasure import latest_erasure
from starters.api import create_app
from starters.cli import app as cli
from tests.harness import Bench, eventually
from tests.serving import served
from tests.starters.test_cli import recovery
from workflows.early_life_input import early_life_workflow_id
from workflows.journey import workflow_id_for

TOKEN = "erasure-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Http:
    bench: Bench
    http: httpx.AsyncClient

    async def put_contact(self, customer_id: str) -> None:
        body = {"phone": "+998901234567", "push_token": f"token-of-{customer_id}"}
        response = await self.http.put(f"/v1/customers/{customer_id}/contact", json=body, headers=AUTH)
        assert response.status_code == 200, response.text

    async def erase(self, customer_id: str, actor: str = "ops-ana", headers: Any = AUTH) -> httpx.Response:
        return await self.http.delete(f"/v1/customers/{customer_id}", params={"actor": actor}, headers=headers)


@pytest.fixture
async def api(live_bench: Bench) -> AsyncIterator[Http]:
    app = create_app(live_bench.settings.model_copy(update={"api_token": TOKEN}), recovery=live_bench.client)
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield Http(live_bench, http)


def journal_text(path: Path) -> str:
    """Every value of every row of every table of the journal, read with sqlite3 (no schema assumed)."""
    connection = sqlite3.connect(path)
    try:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        lines = [f"{table}: {row!r}" for table in tables for row in connection.execute(f'SELECT * FROM "{table}"')]
    finally:
        connection.close()
    return "\n".join(lines)


def outbox_text(bench: Bench) -> str:
    paths = (bench.settings.outbox_path, bench.settings.staff_notifications_path)
    return "\n".join(p.read_text(encoding="utf-8") for p in paths if p.exists())


async def listed_in_visibility(bench: Bench, workflow_id: str) -> bool:
    return [e async for e in bench.env.client.list_workflows(f'WorkflowId = "{workflow_id}"')] != []


async def test_erasing_a_customer_leaves_nothing_of_them_and_a_record_of_the_erasure(api: Http) -> None:
    bench = api.bench
    journal = bench.client.journal
    assert journal is not None
    customer = bench.customer_id
    neighbour = f"{customer}0"  # an id that starts with theirs: nothing of it may go
    bench.customers.add(neighbour)
    two_and_a_half_hours_ago = await bench.now() - timedelta(hours=2, minutes=30)
    for who in (customer, neighbour):
        await api.put_contact(who)
        await bench.send("onboarding.phone_verified", customer_id=who, occurred_at=two_and_a_half_hours_ago)
    await bench.send("customer.active")

    async def nudged() -> bool:
        return bool(bench.outbox(customer)) and bool(bench.outbox(neighbour))

    await eventually(nudged, timeout=20)
    await bench.send("onboarding.help_requested")

    async def task_journaled() -> bool:
        return bool(bench.staff_notifications()) and f"{customer}:task-1" in journal_text(
            bench.settings.data_dir / "journal.db"
        )

    await eventually(task_journaled, timeout=20)
    assert (await bench.view()).status == "awaiting_agent"  # still running: erasure ends it first
    before = journal_text(bench.settings.data_dir / "journal.db")
    assert customer in before.replace(neighbour, "")

    response = await api.erase(customer)

    assert response.status_code in (200, 202), response.text  # 202: Temporal still deleting in the background
    body = response.json()
    assert body["temporal_done"] is (response.status_code == 200)
    assert body["customer_hash"] == hashlib.sha256(customer.encode()).hexdigest()
    assert body["actor"] == "ops-ana"
    erased = body["erased"]
    assert erased["journeys_ended"] == 1
    assert erased["workflow_runs_deleted"] >= 1
    assert erased["outbox_lines_deleted"] >= 2  # the nudge and the staff notification of the task
    rows = erased["journal_rows_deleted"]
    for table in ("journeys", "journal_entries", "human_tasks", "customer_contacts", "intake_events"):
        assert rows.get(table, 0) >= 1, (table, rows)
    assert rows["customer_activity"] == 1

    # Nothing of the customer in any journal table, their workflow id and message ids included.
    after = journal_text(bench.settings.data_dir / "journal.db").replace(neighbour, "")
    assert customer not in after
    # Nor in the outbox files; the neighbour's lines stay.
    outbox = outbox_text(bench)
    assert customer not in outbox.replace(neighbour, "")
    assert bench.outbox(neighbour)
    assert bench.outbox(customer) == [] and bench.staff_notifications(customer) == []  # blank lines are skipped

    # Nor in Temporal: the history is gone and visibility stops listing it.
    workflow_id = workflow_id_for(customer)

    async def gone_from_temporal() -> bool:
        try:
            await bench.env.client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            assert err.status == RPCStatusCode.NOT_FOUND
            return not await listed_in_visibility(bench, workflow_id)
        return False

    await eventually(gone_from_temporal, timeout=20)

    assert (await api.http.get(f"/v1/journeys/{customer}", headers=AUTH)).status_code == 404
    assert (await api.http.get(f"/v1/customers/{customer}/contact", headers=AUTH)).status_code == 404

    # The erasure record: the id's hash, when, who.
    record = latest_erasure(journal, customer)
    assert record is not None
    assert (record.customer_hash, record.actor) == (body["customer_hash"], "ops-ana")
    assert abs((record.erased_at - await bench.now()).total_seconds()) < 60

    # Idempotent: a second erasure finds nothing and says when the customer was erased.
    again = await api.erase(customer)
    assert again.status_code == 404
    assert "erased at" in again.json()["detail"]

    # The neighbour is untouched.
    await bench.env.client.get_workflow_handle(workflow_id_for(neighbour)).describe()
    assert (await api.http.get(f"/v1/customers/{neighbour}/contact", headers=AUTH)).status_code == 200


async def test_erasure_needs_the_token_an_actor_and_a_known_customer(api: Http) -> None:
    customer = api.bench.customer_id
    assert (await api.erase(customer, headers={})).status_code == 401
    refused = await api.http.delete(f"/v1/customers/{customer}", headers=AUTH)
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "actor"
    bad_actor = await api.erase(customer, actor="not an id!")
    assert bad_actor.status_code == 422 and bad_actor.json()["detail"][0]["field"] == "actor"
    unknown = await api.erase(customer)
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": f"nothing is known of customer {customer}"}
    assert latest_erasure(api.bench.client.journal, customer) is None  # type: ignore[arg-type]


async def test_recovery_customers_erase(api: Http) -> None:
    bench = api.bench
    customer = bench.customer_id
    await api.put_contact(customer)
    unconfirmed = CliRunner().invoke(
        cli, ["customers", "erase", customer], env={"RECOVERY_DATA_DIR": str(bench.settings.data_dir)}
    )
    assert unconfirmed.exit_code == 1 and "--yes" in unconfirmed.stderr
    assert (await api.http.get(f"/v1/customers/{customer}/contact", headers=AUTH)).status_code == 200

    code, out, err = await recovery(bench, "customers", "erase", customer, "--yes", "--actor", "ops-bob")
    assert code == 0, err
    assert f"customer {customer} erased by ops-bob" in out and "customer_contacts 1" in out
    assert (await api.http.get(f"/v1/customers/{customer}/contact", headers=AUTH)).status_code == 404
    record = latest_erasure(bench.client.journal, customer)  # type: ignore[arg-type]
    assert record is not None and record.actor == "ops-bob"


async def test_an_activated_customer_loses_their_early_life_journey_too(api: Http) -> None:
    bench = api.bench
    customer = bench.customer_id
    journal_db = bench.settings.data_dir / "journal.db"
    await bench.send("onboarding.phone_verified")
    await bench.send("onboarding.completed")
    early_life = early_life_workflow_id(customer)

    async def watched() -> bool:
        try:
            await bench.env.client.get_workflow_handle(early_life).describe()
        except RPCError:
            return False
        return "early_life_journeys" in journal_text(journal_db) and early_life in journal_text(journal_db)

    await eventually(watched, timeout=20)

    response = await api.erase(customer)

    assert response.status_code in (200, 202), response.text
    assert response.json()["erased"]["journeys_ended"] == 1  # early life was running; onboarding had completed
    assert response.json()["erased"]["workflow_runs_deleted"] == 2
    assert customer not in journal_text(journal_db)

    async def both_gone() -> bool:
        for workflow_id in (workflow_id_for(customer), early_life):
            if await listed_in_visibility(bench, workflow_id):
                return False
            try:
                await bench.env.client.get_workflow_handle(workflow_id).describe()
            except RPCError:
                continue
            return False
        return True

    await eventually(both_gone, timeout=20)
