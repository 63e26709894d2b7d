"""The console's erase form: a supervisor erases a customer (the same erasure as `DELETE /v1/customers/...`)
after typing their id again; nothing of the customer is left in the journal (the console's audit of them
included), the outbox or Temporal, and the erasure's own audit line keeps only the id's hash. Agents are
refused; a wrong confirmation erases nothing."""

import hashlib

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest

from journal.erasure import latest_erasure
from journal.schema import agent_actions
from journal.store import read_rows
from tests.console.conftest import Console
from tests.harness import eventually
from tests.starters.test_erasure import journal_text, listed_in_visibility, outbox_text
from workflows.journey import workflow_id_for


async def test_only_supervisors_erase_a_customer_after_typing_their_id_again(console: Console) -> None:
    bench = console.bench
    customer, task_id = await console.customer_with_task("erase")
    database = bench.settings.data_dir / "journal.db"
    ana = await console.signed_in("ana")
    assert (await ana.act(task_id, "claim")).status_code == 303  # an audit line that names the customer

    journey = f"/console/journeys/{customer}"
    page = await ana.page(journey)
    assert page.status_code == 200 and "Erase customer" not in page.text
    refused = await ana.post(f"{journey}/erase", confirm_customer_id=customer)
    assert refused.status_code == 403 and "Only a supervisor can erase a customer." in refused.text

    sue = await console.signed_in("sue")
    page = await sue.page(journey)
    assert "Erase customer" in page.text and 'name="confirm_customer_id"' in page.text
    forged = await sue.post(f"{journey}/erase", token="not-the-token", confirm_customer_id=customer)
    assert forged.status_code == 403
    wrong = await sue.post(f"{journey}/erase", confirm_customer_id=f"{customer}x")
    assert wrong.status_code == 422 and "nothing was erased" in wrong.text
    assert (await bench.view(customer)).status.value == "awaiting_agent"
    assert latest_erasure(console.journal, customer) is None
    assert customer in journal_text(database)

    erased = await sue.post(f"{journey}/erase", confirm_customer_id=customer)

    assert erased.status_code == 200, erased.text
    assert f"Customer {customer} erased" in erased.text and "Erased by sue" in erased.text
    assert '<dd class="erased-journeys">1</dd>' in erased.text
    assert "human tasks: 1" in erased.text and "agent actions: " in erased.text
    digest = hashlib.sha256(customer.encode()).hexdigest()
    assert digest in erased.text
    record = latest_erasure(console.journal, customer)
    assert record is not None and (record.customer_hash, record.actor) == (digest, "sue")

    # Nothing of the customer in the journal (the audit of their task and the refused erasure included),
    # the outbox files or Temporal; the erasure's own audit line names them by the hash only.
    assert customer not in journal_text(database)
    assert customer not in outbox_text(bench)
    audit = [
        (r["agent"], r["action"], r["customer_id"], r["detail"]) for r in read_rows(console.journal, agent_actions)
    ]
    assert ("sue", "erase_customer", None, f"customer sha256 {digest}") in audit
    assert not [line for line in audit if line[1] in ("claim", "erase_customer_refused")]

    async def gone_from_visibility() -> bool:
        return not await listed_in_visibility(bench, workflow_id_for(customer))

    await eventually(gone_from_visibility, timeout=20)
    assert (await sue.page(journey)).status_code == 404

    again = await sue.post(f"{journey}/erase", confirm_customer_id=customer)
    assert again.status_code == 404 and "already erased" in again.text
    assert customer not in journal_text(database)


async def test_a_customer_temporal_no_longer_keeps_is_erased_from_the_journeys_page(console: Console) -> None:
    """Erasure is asked for long after onboarding, when the namespace's retention has deleted the ended
    journey and with it the journey page: the journeys page takes the customer id instead."""
    bench = console.bench
    customer, _ = await console.customer_with_task("kept-in-journal")
    database = bench.settings.data_dir / "journal.db"
    await bench.env.client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=bench.env.client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id_for(customer)),
        )
    )
    sue = await console.signed_in("sue")

    async def journey_page_gone() -> bool:
        return (await sue.page(f"/console/journeys/{customer}")).status_code == 404

    await eventually(journey_page_gone, timeout=20)
    assert customer in journal_text(database)

    ana = await console.signed_in("ana")
    assert (await ana.page("/console/journeys")).status_code == 403, "the journeys page is for supervisors"
    refused = await ana.post("/console/customers/erase", customer_id=customer, confirm_customer_id=customer)
    assert refused.status_code == 403

    assert "Erase a customer" in (await sue.page("/console/journeys")).text
    forged = await sue.post(
        "/console/customers/erase", token="not-the-token", customer_id=customer, confirm_customer_id=customer
    )
    assert forged.status_code == 403 and customer in journal_text(database)
    wrong = await sue.post("/console/customers/erase", customer_id=customer, confirm_customer_id="someone-else")
    assert wrong.status_code == 422 and customer in journal_text(database)
    erased = await sue.post("/console/customers/erase", customer_id=customer, confirm_customer_id=customer)
    assert erased.status_code == 200, erased.text
    assert f"Customer {customer} erased" in erased.text
    assert customer not in journal_text(database)
    assert latest_erasure(console.journal, customer) is not None
