"""The console's journeys page and close form: supervisors find journeys (search box, filters) and
close one with a reason; agents see neither."""

from journal.schema import agent_actions
from journal.store import read_rows
from tests.console.conftest import Console
from tests.harness import eventually


async def test_only_supervisors_find_and_close_journeys(console: Console) -> None:
    bench = console.bench
    customers = [f"{bench.customer_id}-{n}" for n in range(3)]
    for customer_id in customers:
        await bench.send("onboarding.phone_verified", customer_id=customer_id)
        await bench.view(customer_id)

    ana = await console.signed_in("ana")
    assert 'href="/console/journeys"' not in (await ana.page("/console/inbox")).text
    assert (await ana.page("/console/journeys")).status_code == 403
    page = await ana.page(f"/console/journeys/{customers[0]}")
    assert page.status_code == 200 and "Close this journey" not in page.text
    refused = await ana.post(f"/console/journeys/{customers[0]}/close", reason="not mine to close")
    assert refused.status_code == 403
    assert (await bench.view(customers[0])).status.value != "closed"

    sue = await console.signed_in("sue")
    assert 'href="/console/journeys"' in (await sue.page("/console/inbox")).text

    async def all_listed() -> bool:
        text = (await sue.page("/console/journeys")).text
        return all(f'href="/console/journeys/{c}"' in text for c in customers)

    await eventually(all_listed)
    found = await sue.page(f"/console/journeys?customer={customers[2]}")
    assert found.status_code == 200 and found.text.count('class="journey-row"') == 1
    assert f'href="/console/journeys/{customers[2]}"' in found.text
    assert (await sue.page("/console/journeys?status=sleeping")).status_code == 422

    journey = await sue.page(f"/console/journeys/{customers[2]}")
    assert "Close this journey" in journey.text
    closed = await sue.post(f"/console/journeys/{customers[2]}/close", reason="customer activated by phone")
    assert closed.status_code == 303 and closed.headers["location"].endswith("?done=close")
    after = await sue.page(closed.headers["location"])
    assert "The journey is closed." in after.text and "Close this journey" not in after.text
    assert 'class="journey-status">closed<' in after.text
    assert "by sue: customer activated by phone" in after.text

    async def closed_listed() -> bool:
        text = (await sue.page("/console/journeys?status=closed")).text
        return text.count('class="journey-row"') == 1 and customers[2] in text

    await eventually(closed_listed)
    again = await sue.post(f"/console/journeys/{customers[2]}/close", reason="twice")
    assert again.status_code == 409 and "already ended" in again.text

    audit = [(r["agent"], r["action"], r["customer_id"]) for r in read_rows(console.journal, agent_actions)]
    assert ("sue", "close_journey", customers[2]) in audit and ("sue", "close_journey_refused", customers[2]) in audit
