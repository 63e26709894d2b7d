"""The report page of the console: signed-in agents see the journal's figures and the chart."""

import re

from tests.console.conftest import Console
from tests.harness import eventually


async def test_the_report_page_shows_the_journal_and_its_chart(console: Console) -> None:
    visitor = console.client("nobody")
    assert (await visitor.http.get("/console/report")).status_code == 303, "signed-in agents only"
    assert (await visitor.http.get("/console/report/chart.png")).status_code == 303
    await console.bench.send("onboarding.completed")
    agent = await console.signed_in("ana")

    async def counted() -> bool:
        page = await agent.page("/console/report?period=all")
        return page.status_code == 200 and "completion rate 100.0%" in page.text

    await eventually(counted)
    page = await agent.page("/console/report?period=all")
    # Completed at once: time to completion in seconds, not "0.00" hours.
    assert re.search(r"<td>unassisted</td><td>1</td><td>\d+\.\d s</td><td>\d+\.\d s</td>", page.text), page.text
    # Delivery per channel: no message went out, and neither channel has receipts.
    assert "Delivery per channel" in page.text
    assert '<td>push</td><td>0</td><td colspan="5">no receipts</td>' in page.text, page.text
    page = await agent.page("/console/report?period=7d")
    assert "Uplift over the holdout" in page.text and 'aria-current="page">last 7 days' in page.text
    chart = await agent.http.get("/console/report/chart.png?period=7d")
    assert chart.status_code == 200 and chart.content[:4] == b"\x89PNG"
