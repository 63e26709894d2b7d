"""The door of the HTTP API, run for real (the app in-process over ASGI, the real dev server and worker):
what is refused before anything is recorded, duplicates told from conflicts, and a customer's return
after their journey ended."""

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from journal.intake import claim_events
from journal.schema import customer_activity, journeys
from journal.store import read_rows
from starters.api.events import MAX_BODY_BYTES
from starters.client import EventsRejected
from tests.harness import eventually
from tests.starters.test_api import AUTH, Api, api, event, now  # noqa: F401  (the `api` fixture)
from workflows.events import IncomingEvent, fingerprint
from workflows.journey import workflow_id_for

EDGES = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "1900-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "1999-12-31T23:59:59Z",
]


async def nothing_recorded(api: Api, *customer_ids: str) -> None:
    for customer_id in customer_ids:
        assert (await api.journey(customer_id)).status_code == 404
        journal = api.bench.client.journal
        assert journal is not None
        assert not [r for r in read_rows(journal, customer_activity) if r["customer_id"] == customer_id]


# -- occurred_at ----------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["onboarding.phone_verified", "customer.active"])
@pytest.mark.parametrize("occurred_at", [*EDGES, "in two days"])
async def test_occurred_at_outside_2000_to_tomorrow_is_refused_for_every_type(
    api: Api, event_type: str, occurred_at: str
) -> None:
    good, bad = api.customer("good"), api.customer("edge")
    when = (now() + timedelta(days=2)).isoformat() if occurred_at == "in two days" else occurred_at
    response = await api.post_events(
        [event(good, "onboarding.phone_verified"), {**event(bad, event_type), "occurred_at": when}]
    )
    assert response.status_code == 422, response.text
    assert [(e["index"], e["field"]) for e in response.json()["detail"]] == [(1, "occurred_at")]
    assert "2000-01-01" in response.json()["detail"][0]["message"]
    await nothing_recorded(api, good, bad)


async def test_the_bounds_themselves_are_accepted(api: Api) -> None:
    customer_id = api.customer("bounds")
    response = await api.post_events(
        [
            event(customer_id, "customer.active", at=datetime.fromisoformat("2000-01-01T00:00:00+00:00")),
            event(customer_id, "customer.active", at=now() + timedelta(hours=23)),
        ]
    )
    assert response.status_code == 202, response.text
    assert [e["status"] for e in response.json()["events"]] == ["recorded", "recorded"]


async def test_the_python_client_applies_the_same_door(api: Api) -> None:
    customer_id = api.customer("client")
    good = IncomingEvent.model_validate(event(customer_id, "onboarding.started"))
    bad = good.model_copy(update={"event_id": "edge", "occurred_at": datetime.fromisoformat(EDGES[0])})
    with pytest.raises(EventsRejected) as rejected:
        await api.bench.client.record_events([good, bad])
    assert [(index, [e["loc"] for e in err.errors()]) for index, err in rejected.value.failures] == [
        (1, [("occurred_at",)])
    ]
    await nothing_recorded(api, customer_id)


# -- attributes and bodies that used to pass validation and fail when recorded --------------------


def nested(depth: int) -> Any:
    value: Any = "blur"
    for _ in range(depth):
        value = {"x": value}
    return value


BAD_ATTRIBUTES = {
    "nested 300 deep": ("onboarding.document_rejected", {"reason": nested(300)}, "attributes.reason"),
    "a list": ("onboarding.document_rejected", {"reason": ["blur"]}, "attributes.reason"),
    "too long": ("onboarding.document_rejected", {"reason": "x" * 101}, "attributes.reason"),
    "unknown name": (
        "onboarding.document_rejected",
        {"reason": "blur", "photo_base64": "AAAA"},
        "attributes.photo_base64",
    ),
    "none for this type": ("onboarding.started", {"utm": "x"}, "attributes.utm"),
    "not a service name": ("onboarding.error", {"error": "maintenance", "service": "o c r"}, "attributes.service"),
}


@pytest.mark.parametrize("case", list(BAD_ATTRIBUTES))
async def test_attributes_outside_their_schema_reject_the_batch_whole(api: Api, case: str) -> None:
    event_type, attributes, field = BAD_ATTRIBUTES[case]
    good, bad = api.customer("good"), api.customer("attrs")
    response = await api.post_events(
        [event(good, "onboarding.phone_verified"), event(bad, event_type, attributes=attributes)]
    )
    assert response.status_code == 422, response.text
    assert [(e["index"], e["field"]) for e in response.json()["detail"]] == [(1, field)]
    await nothing_recorded(api, good, bad)


async def test_known_attributes_are_kept_and_normalised(api: Api) -> None:
    customer_id = api.customer("normal")
    start = now() - timedelta(minutes=5)
    response = await api.post_events(
        [
            event(customer_id, "onboarding.document_uploaded", start),
            event(
                customer_id,
                "onboarding.document_rejected",
                start + timedelta(minutes=1),
                attributes={"reason": "torn_page"},
            ),
            event(
                customer_id,
                "onboarding.error",
                start + timedelta(minutes=2),
                attributes={"error": "maintenance", "service": "ocr"},
            ),
            event(customer_id, "customer.opted_out", start + timedelta(minutes=3), attributes={"channel": "sms"}),
        ]
    )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 4


async def post_raw(api: Api, content: bytes, content_type: str | None = "application/json") -> httpx.Response:
    headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
    return await api.http.post("/v1/events", content=content, headers=headers)


async def test_huge_numbers_and_deep_json_are_422_never_500(api: Api) -> None:
    good, bad = api.customer("good"), api.customer("huge")
    huge = "9" * 5000
    cases = {
        "a 5,000-digit attribute": (
            json.dumps(
                [
                    event(good, "onboarding.phone_verified"),
                    {**event(bad, "onboarding.document_rejected"), "attributes": {"reason": "@"}},
                ]
            ).replace('"@"', huge),
            (1, "attributes.reason"),
        ),
        "a 5,000-digit time": (
            json.dumps(
                [event(good, "onboarding.phone_verified"), {**event(bad, "onboarding.started"), "occurred_at": "@"}]
            ).replace('"@"', huge),
            (1, "occurred_at"),
        ),
        "100,000 levels deep": ('[{"attributes": ' + "[" * 100_000 + "]" * 100_000 + "}]", (None, None)),
    }
    for name, (body, where) in cases.items():
        response = await post_raw(api, body.encode())
        assert response.status_code == 422, (name, response.status_code, response.text[:300])
        assert [(e["index"], e["field"]) for e in response.json()["detail"]] == [where], name
        assert huge not in response.text
    await nothing_recorded(api, good, bad)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
async def test_a_body_that_is_not_json_is_415(api: Api, content_type: str | None) -> None:
    customer_id = api.customer("media")
    response = await post_raw(api, json.dumps(event(customer_id, "onboarding.started")).encode(), content_type)
    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["detail"]
    await nothing_recorded(api, customer_id)


async def test_json_with_a_charset_is_fine(api: Api) -> None:
    customer_id = api.customer("charset")
    response = await post_raw(
        api, json.dumps(event(customer_id, "onboarding.started")).encode(), "application/json; charset=utf-8"
    )
    assert response.status_code == 202, response.text


class Chunks:
    """A request body that counts how much of it the server pulled."""

    def __init__(self, total: int, size: int = 256 * 1024) -> None:
        self.total, self.size, self.pulled = total, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"["
        while self.pulled < self.total:
            self.pulled += self.size
            yield b" " * self.size


async def test_an_oversized_body_is_refused_while_streaming(api: Api) -> None:
    body = Chunks(total=10 * MAX_BODY_BYTES)
    response = await api.http.post(
        "/v1/events", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )  # chunked: no length
    assert response.status_code == 413, response.text
    assert body.pulled <= MAX_BODY_BYTES + body.size, "stopped at the limit, not after reading it all"

    declared = Chunks(total=2 * MAX_BODY_BYTES)
    headers = {**AUTH, "Content-Type": "application/json", "Content-Length": str(2 * MAX_BODY_BYTES + 1)}
    response = await api.http.post("/v1/events", content=declared, headers=headers)
    assert response.status_code == 413
    assert declared.pulled == 0, "a declared length over the limit is refused before reading"


# -- duplicate or conflict ------------------------------------------------------------------------


async def test_duplicates_and_conflicts_are_answered_distinctly_and_only_new_events_count(api: Api) -> None:
    customer_id = api.customer("dupes")
    start = now() - timedelta(minutes=5)
    first = event(customer_id, "onboarding.phone_verified", start)
    assert (await api.post_events(first)).json()["events"][0]["status"] == "recorded"

    same_instant = {
        **first,
        "occurred_at": start.astimezone(datetime.fromisoformat("2026-01-01T00:00:00+05:00").tzinfo).isoformat(),
    }
    other = {**first, "type": "onboarding.document_uploaded"}
    new = event(customer_id, "onboarding.document_uploaded", start + timedelta(minutes=1))
    response = await api.post_events([new, first, same_instant, other, new, {**new, "profile": None}])
    assert response.status_code == 202, response.text
    body = response.json()
    assert [e["status"] for e in body["events"]] == [
        "recorded",
        "duplicate",
        "duplicate",
        "conflict",
        "duplicate",
        "conflict",
    ]
    assert (body["accepted"], body["received"]) == (1, 6)
    [journey] = body["journeys"]
    assert journey["accepted"] == 1 and "conflict" in journey["note"] and "duplicate" in journey["note"]

    view = (await api.journey(customer_id)).json()
    assert [(e["event_id"], e["type"]) for e in view["events"]] == [
        (first["event_id"], "onboarding.phone_verified"),
        (new["event_id"], "onboarding.document_uploaded"),
    ]


async def test_an_event_claimed_but_never_signalled_is_signalled_when_it_comes_back(api: Api) -> None:
    """A crash between the ledger's insert and the signal-with-start loses nothing."""
    customer_id = api.customer("crashed")
    sent = event(customer_id, "onboarding.phone_verified")
    admitted = IncomingEvent.model_validate(sent)
    claim_events(api.bench.client.journal, [(admitted.event_id, customer_id, fingerprint(admitted))], (), now())  # type: ignore[arg-type]
    assert (await api.journey(customer_id)).status_code == 404

    response = await api.post_events(sent)
    assert (response.json()["accepted"], response.json()["events"][0]["status"]) == (1, "recorded")
    assert [e["event_id"] for e in (await api.journey(customer_id)).json()["events"]] == [sent["event_id"]]
    again = await api.post_events(sent)
    assert again.json()["events"][0]["status"] == "duplicate"


# -- re-entry -------------------------------------------------------------------------------------


async def closed(api: Api, customer_id: str) -> str:
    """Waits until the customer's latest run has closed; its run id."""
    handle = api.bench.env.client.get_workflow_handle(workflow_id_for(customer_id))

    async def is_closed() -> bool:
        return (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING

    await eventually(is_closed)
    return (await handle.describe()).run_id


async def test_a_customer_back_after_an_ended_journey_gets_a_new_one_and_older_events_stay_ignored(api: Api) -> None:
    customer_id = api.customer("back")
    long_ago = now() - timedelta(days=30)
    assert (await api.post_events(event(customer_id, "onboarding.phone_verified", long_ago))).status_code == 202
    assert (await api.status_becomes(customer_id, "abandoned"))["outcome"]["kind"] == "abandoned"
    first_run = await closed(api, customer_id)

    back = await api.post_events(event(customer_id, "onboarding.document_uploaded"))
    assert (back.json()["accepted"], back.json()["events"][0]["status"]) == (1, "recorded"), back.text
    assert "new journey" in back.json()["journeys"][0]["note"]
    handle = api.bench.env.client.get_workflow_handle(workflow_id_for(customer_id))
    second = await handle.describe()
    assert (second.status, second.id) == (WorkflowExecutionStatus.RUNNING, workflow_id_for(customer_id))
    assert second.run_id != first_run
    view = (await api.journey(customer_id)).json()
    assert (view["status"], view["stage"], [e["type"] for e in view["events"]]) == (
        "active",
        "document_uploaded",
        ["onboarding.document_uploaded"],
    )

    older = event(customer_id, "onboarding.document_approved", long_ago + timedelta(days=1))
    for _ in range(2):
        response = await api.post_events(older)
        assert (response.json()["accepted"], response.json()["events"][0]["status"]) == (0, "ignored"), response.text
        assert response.json()["journeys"][0]["note"] == "journey already ended; event ignored"
    assert [e["type"] for e in (await api.journey(customer_id)).json()["events"]] == ["onboarding.document_uploaded"]

    async def both_journeys_in_the_journal() -> bool:
        rows = [r for r in read_rows(api.bench.client.journal, journeys) if r["customer_id"] == customer_id]  # type: ignore[arg-type]
        return len({r["journey_id"] for r in rows}) == 2

    await eventually(both_journeys_in_the_journal)
    rows = read_rows(api.bench.client.journal, journeys)  # type: ignore[arg-type]
    assert sorted(r["outcome"] or "running" for r in rows if r["customer_id"] == customer_id) == [
        "abandoned",
        "running",
    ]
    assert {r["journey_id"].split(":")[0] for r in rows if r["customer_id"] == customer_id} == {
        workflow_id_for(customer_id)
    }


async def test_a_completed_onboarding_is_never_reopened(api: Api) -> None:
    customer_id = api.customer("done")
    assert (
        await api.post_events(event(customer_id, "onboarding.completed", now() - timedelta(minutes=1)))
    ).status_code == 202
    run_id = await closed(api, customer_id)
    response = await api.post_events(event(customer_id, "onboarding.help_requested"))
    assert (response.json()["accepted"], response.json()["events"][0]["status"]) == (0, "ignored")
    assert (await api.bench.env.client.get_workflow_handle(workflow_id_for(customer_id)).describe()).run_id == run_id
