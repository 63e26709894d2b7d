"""`recovery journeys list|close` as an operator uses them: a real process, an 80-column terminal, the
real dev server, worker and journal."""

import re

from tests.harness import Bench, eventually
from tests.starters.test_cli import recovery


async def test_list_at_80_columns_page_by_page_then_close_one(live_bench: Bench) -> None:
    customers = [f"{live_bench.customer_id}-{n}" for n in range(3)]
    for customer_id in customers:
        await live_bench.send("onboarding.phone_verified", customer_id=customer_id)
        await live_bench.view(customer_id)

    async def listed() -> bool:
        code, out, _ = await recovery(live_bench, "journeys", "list", COLUMNS="80")
        return code == 0 and all(c in out for c in customers)

    await eventually(listed)
    code, out, err = await recovery(live_bench, "journeys", "list", COLUMNS="80")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    rows = [line for line in out.splitlines() if line.startswith(live_bench.customer_id)]
    assert len(rows) == 3
    for row in rows:  # nothing important cut: the whole id, status, stage, group and nudges on the line
        assert re.search(r"-\d\s+active\s+phone_verified\s+treatment\s+\d\d-\d\d \d\d:\d\d\s+0$", row), row

    code, out, err = await recovery(live_bench, "journeys", "list", "--limit", "2", COLUMNS="80")
    assert code == 0, err
    match = re.search(r"more: --cursor (\S+)", out)
    assert match, out
    code, rest, err = await recovery(live_bench, "journeys", "list", "--limit", "2", "--cursor", match.group(1))
    assert code == 0, err
    assert sum(c in out for c in customers) + sum(c in rest for c in customers) == 3 and "more:" not in rest

    code, out, err = await recovery(
        live_bench, "journeys", "close", customers[1], "--reason", "asked us to stop", "--by", "ops-ana"
    )
    assert code == 0, err
    assert f"onboarding-{customers[1]}: closed at phone_verified (asked us to stop)" in out

    async def closed_listed() -> bool:
        code, out, _ = await recovery(live_bench, "journeys", "list", "--status", "closed", COLUMNS="80")
        return code == 0 and customers[1] in out and customers[0] not in out

    await eventually(closed_listed)
    code, out, err = await recovery(live_bench, "journey", customers[1])
    assert code == 0 and "closed" in out and "by ops-ana: asked us to stop" in out, out

    code, _, err = await recovery(live_bench, "journeys", "close", customers[1], "--reason", "again")
    assert code == 1 and "already ended" in err
    code, _, err = await recovery(live_bench, "journeys", "close", f"{live_bench.customer_id}-x", "--reason", "x")
    assert code == 1 and "no journey" in err
    code, _, err = await recovery(live_bench, "journeys", "list", "--status", "sleeping")
    assert code == 2 and "--status" in err
    code, _, err = await recovery(live_bench, "journeys", "list", "--cursor", "garbage")
    assert code == 1 and "--cursor" in err
