"""Every permission rule of the console, and CSRF protection of its forms, over HTTP against the
real dev server and worker: a refused request changes nothing in the journey."""

from urllib.parse import quote

from console.accounts import remove_agent
from console.sessions import COOKIE_NAME
from journal.schema import agent_actions
from journal.store import read_rows
from tests.console.conftest import Console, csrf_token
from tests.harness import eventually

ACTIONS = ("claim", "release", "complete", "reassign")


async def test_pages_redirect_to_sign_in_and_actions_answer_401_when_signed_out(console: Console) -> None:
    customer_id, task_id = await console.customer_with_task("signed-out")
    visitor = console.client("nobody")
    for path in ("/console/inbox", "/console/inbox?tab=all", f"/console/tasks/{task_id}", "/console/journeys/someone"):
        response = await visitor.http.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/console/sign-in?next={quote(path, safe='')}"
    assert (await visitor.http.get("/console/inbox/rows?tab=open")).status_code == 401
    for action in ACTIONS:
        response = await visitor.http.post(
            f"/console/tasks/{task_id}/{action}", data={"outcome": "verified_on_call", "agent": "ana"}
        )
        assert response.status_code == 401, action
        assert "not signed in" in response.text
    assert (await visitor.http.post("/console/sign-out")).status_code == 401
    task = await console.task_when(customer_id, lambda t: t is not None)
    assert task is not None and task.state.value == "open" and task.claimed_by is None


async def test_a_wrong_password_or_unknown_agent_is_refused(console: Console) -> None:
    for username, password in (("ana", "not-her-password"), ("mallory", "whatever-it-is"), ("ana", "")):
        agent = console.client(username)
        response = await agent.sign_in(password)
        assert response.status_code == 401
        assert "Wrong username or password." in response.text
        assert COOKIE_NAME not in response.cookies
        assert (await agent.http.get("/console/inbox")).status_code == 303


async def test_a_signed_in_agent_sees_the_inbox_and_a_signed_out_cookie_no_longer_works(console: Console) -> None:
    ana = await console.signed_in("ana")
    inbox = await ana.page("/console/inbox")
    assert inbox.status_code == 200
    assert "Signed in as <strong>ana</strong> (agent)" in inbox.text
    cookie = ana.http.cookies[COOKIE_NAME]

    signed_out = await ana.post("/console/sign-out")
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/console/sign-in?signed_out=1")
    assert "You are signed out." in (await ana.http.get("/console/sign-in?signed_out=1")).text
    assert (await ana.http.get("/console/inbox")).status_code == 303

    replay = console.client("ana")  # someone who kept a copy of the cookie
    replay.http.cookies.set(COOKIE_NAME, cookie, domain="console", path="/console")
    assert (await replay.http.get("/console/inbox")).status_code == 303
    assert (await replay.http.get("/console/inbox/rows")).status_code == 401
    journal = console.journal
    assert [r["action"] for r in read_rows(journal, agent_actions, [agent_actions.c.agent == "ana"])] == [
        "signed_in",
        "signed_out",
    ]


async def test_a_removed_agent_is_signed_out_everywhere(console: Console) -> None:
    bob = await console.signed_in("bob")
    assert (await bob.http.get("/console/inbox")).status_code == 200
    remove_agent(console.journal, "bob")
    assert (await bob.http.get("/console/inbox")).status_code == 303
    assert (await console.client("bob").sign_in()).status_code == 401


async def test_an_agent_cannot_complete_or_release_a_task_another_agent_claimed(console: Console) -> None:
    customer_id, task_id = await console.customer_with_task("theirs")
    ana, bob = await console.signed_in("ana"), await console.signed_in("bob")
    assert (await ana.act(task_id, "claim")).status_code == 303

    completed = await bob.act(task_id, "complete", outcome="verified_on_call")
    assert completed.status_code == 403
    assert f"Task {task_id} is claimed by ana: only they can complete it." in completed.text
    released = await bob.act(task_id, "release")
    assert released.status_code == 403
    assert "only they or a supervisor can release it" in released.text
    claimed = await bob.act(task_id, "claim")
    assert claimed.status_code == 409
    assert "claimed by another agent (ana)" in claimed.text
    reassigned = await bob.act(task_id, "reassign", agent="bob")
    assert reassigned.status_code == 403
    assert "Only a supervisor can reassign a task." in reassigned.text

    task = await console.task_when(customer_id, lambda t: t is not None)
    assert task is not None and (task.state.value, task.claimed_by) == ("claimed", "ana")
    page = await bob.page(f"/console/tasks/{task_id}")
    assert "Claimed by ana: only they can complete it." in page.text
    assert "Complete task" not in page.text and "Release" not in page.text
    refusals = read_rows(console.journal, agent_actions, [agent_actions.c.agent == "bob"])
    assert {r["action"] for r in refusals} >= {
        "complete_refused",
        "release_refused",
        "claim_refused",
        "reassign_refused",
    }


async def test_an_agent_completes_a_task_only_after_claiming_it(console: Console) -> None:
    customer_id, task_id = await console.customer_with_task("unclaimed")
    ana = await console.signed_in("ana")
    response = await ana.act(task_id, "complete", outcome="verified_on_call")
    assert response.status_code == 409
    assert "must be claimed before it is completed" in response.text
    view = await console.bench.view(customer_id)
    assert (view.stage.value, view.tasks[-1].state.value) == ("phone_verified", "open")


async def test_a_supervisor_releases_and_reassigns_and_an_agent_releases_their_own(console: Console) -> None:
    customer_id, task_id = await console.customer_with_task("supervised")
    ana, sue = await console.signed_in("ana"), await console.signed_in("sue")
    assert (await ana.act(task_id, "claim")).status_code == 303

    page = await sue.page(f"/console/tasks/{task_id}")
    assert "Release from ana" in page.text and "Reassign to" in page.text
    assert (await sue.act(task_id, "release")).status_code == 303
    assert await console.task_when(customer_id, lambda t: t.state.value == "open")

    assert (await sue.act(task_id, "reassign", agent="bob")).status_code == 303
    assert await console.task_when(customer_id, lambda t: t.claimed_by == "bob")
    moved = await sue.act(task_id, "reassign", agent="ana")
    assert moved.status_code == 303
    assert "The task was reassigned." in (await sue.page(moved.headers["location"])).text
    assert await console.task_when(customer_id, lambda t: t.claimed_by == "ana")
    assert (await sue.act(task_id, "reassign", agent="nobody-here")).status_code == 422

    assert (await ana.act(task_id, "release")).status_code == 303
    assert await console.task_when(customer_id, lambda t: t.state.value == "open")
    audit = [
        (r["agent"], r["action"], r["detail"])
        for r in read_rows(console.journal, agent_actions, [agent_actions.c.task_id == task_id])
    ]
    assert audit == [
        ("ana", "claim", ""),
        ("sue", "release", "from ana"),
        ("sue", "reassign", "to bob"),
        ("sue", "reassign", "from bob to ana"),
        ("ana", "release", ""),
    ]


async def test_forms_without_or_with_a_wrong_csrf_token_are_refused_and_change_nothing(console: Console) -> None:
    customer_id, task_id = await console.customer_with_task("csrf")
    ana, bob = await console.signed_in("ana"), await console.signed_in("bob")
    await bob.page("/console/inbox")
    for token in ("", "0" * 64, bob.token):  # missing, forged, and a real token of another session
        for action in ACTIONS:
            response = await ana.post(
                f"/console/tasks/{task_id}/{action}", token=token, outcome="verified_on_call", agent="ana"
            )
            assert response.status_code == 403, (action, token)
            assert "did not come from the console" in response.text
        assert (await ana.post("/console/sign-out", token=token)).status_code == 403
    no_field = await ana.http.post(f"/console/tasks/{task_id}/claim", data={})
    assert no_field.status_code == 403

    assert (await ana.http.get("/console/inbox")).status_code == 200, "the session survived the forged sign-outs"
    task = await console.task_when(customer_id, lambda t: t is not None)
    assert task is not None and (task.state.value, task.claimed_by) == ("open", None)
    assert read_rows(console.journal, agent_actions, [agent_actions.c.task_id == task_id]) == []


async def test_the_sign_in_form_needs_its_csrf_token(console: Console) -> None:
    agent = console.client("ana")
    await agent.http.get("/console/sign-in")
    for token in ("", "forged"):
        response = await agent.http.post(
            "/console/sign-in", data={"csrf_token": token, "username": "ana", "password": "ana-correct-horse"}
        )
        assert response.status_code == 403
        assert COOKIE_NAME not in response.cookies
    other = console.client("ana")  # a token from a form another browser loaded
    stolen = await other.http.get("/console/sign-in")
    response = await agent.http.post(
        "/console/sign-in",
        data={"csrf_token": csrf_token(stolen.text), "username": "ana", "password": "ana-correct-horse"},
    )
    assert response.status_code == 403


async def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(console: Console) -> None:
    _, task_id = await console.customer_with_task("next")
    asked = await console.client("ana").http.get(f"/console/tasks/{task_id}")
    for next_url, lands in (
        (f"/console/tasks/{task_id}", f"/console/tasks/{task_id}"),
        ("https://evil.example/", "/console/inbox"),
        ("//evil.example/console/", "/console/inbox"),
    ):
        agent = console.client("ana")
        form = await agent.http.get(asked.headers["location"] if lands != "/console/inbox" else "/console/sign-in")
        if lands != "/console/inbox":
            assert f'name="next" value="{next_url}"' in form.text
        response = await agent.http.post(
            "/console/sign-in",
            data={
                "csrf_token": csrf_token(form.text),
                "username": "ana",
                "password": "ana-correct-horse",
                "next": next_url,
            },
        )
        assert (response.status_code, response.headers["location"]) == (303, lands)


async def test_pages_are_not_cached_framed_or_scriptable_from_elsewhere(console: Console) -> None:
    ana = await console.signed_in("ana")
    response = await ana.page("/console/inbox")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    cookie = next(c for c in ana.http.cookies.jar if c.name == COOKIE_NAME)
    # On "/" so the codec server (/codec) knows the signed-in agent; HttpOnly, never readable by scripts.
    assert cookie.path == "/" and cookie.has_nonstandard_attr("HttpOnly")


async def test_an_agent_claims_and_completes_from_the_inbox_and_the_journey_moves_on(console: Console) -> None:
    customer_id, task_id = await console.customer_with_task("happy")
    ana = await console.signed_in("ana")

    async def listed(tab: str) -> bool:
        page = await ana.page(f"/console/inbox?tab={tab}")
        return f'href="/console/tasks/{task_id}">{customer_id}</a>' in page.text

    await eventually(lambda: listed("open"), timeout=10)
    open_inbox = await ana.page("/console/inbox?tab=open")
    assert "Help request</strong>: Customer asked for help" in open_inbox.text
    assert "act within 1h" in open_inbox.text

    claimed = await ana.act(task_id, "claim")
    assert (claimed.status_code, claimed.headers["location"]) == (303, f"/console/tasks/{task_id}?done=claim")
    page = await ana.page(claimed.headers["location"])
    assert "You claimed this task." in page.text and "claimed by ana" in page.text
    assert "The customer asked for help. Ask where they got stuck" in page.text  # the playbook's script
    assert (
        f'href="http://localhost:8233/namespaces/{console.bench.env.client.namespace}/workflows/onboarding-{customer_id}"'
        in page.text
    )
    await eventually(lambda: listed("mine"), timeout=10)

    done = await ana.act(task_id, "complete", outcome="verified_on_call", note="checked the passport on the call")
    assert done.status_code == 303
    page = await ana.page(done.headers["location"])
    assert "Task completed: the journey has acted on the outcome." in page.text
    assert "<strong>Verified on call</strong>" in page.text
    view = await console.bench.view(customer_id)
    assert view.stage.value == "document_approved"  # the agent's verification stands in for the document steps
    assert 'class="journey-stage">document approved<' in page.text
    for who_what in (
        "<td>ana</td><td>claim</td>",
        "<td>ana</td><td>complete verified_on_call</td>",
        "<td>ana</td><td>task completed (verified on call)</td>",
    ):
        assert who_what in page.text

    journey = await ana.page(f"/console/journeys/{customer_id}")
    assert (
        f'<a href="/console/tasks/{task_id}">{task_id}</a>: help request, completed by ana (verified on call)'
        in journey.text
    )
    assert f"/workflows/onboarding-{customer_id}" in journey.text
    assert "Customer's local time" in journey.text
