"""The simulator's view of the HTTP API: a bounded number of requests in flight, patient retries, and
errors that say what the operator must fix."""

import asyncio
import json
import time
from typing import Any
from urllib.parse import quote

import httpx

from workflows.human_tasks import TaskOutcome

RETRY_FOR_S = 20.0  # how long a request is retried on 5xx / connection errors before the run gives up
ADMIT_LATENCY_S = 0.25  # events slower than this to be accepted: new customers wait (back-pressure)


class SimulationError(RuntimeError):
    """Something the operator must fix (API down, wrong token, ...); the message says what."""


class ApiUnavailable(SimulationError):
    """The API did not answer, or answered 5xx/429, for longer than the simulator waits."""


def already_ran(seed: int) -> SimulationError:
    return SimulationError(
        f"a cohort with seed {seed} already ran against this system: use another --seed or a fresh data folder"
    )


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    text = detail if isinstance(detail, str) else json.dumps(detail) if detail else response.text[:300]
    return text or response.reason_phrase


class Api:
    """The simulator's view of the HTTP API: a bounded number of requests in flight, patient retries."""

    def __init__(self, base_url: str, token: str, concurrency: int, retry_for: float = RETRY_FOR_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry_for = retry_for
        self._gate = asyncio.Semaphore(concurrency)
        self.last_ok = time.monotonic()
        self.event_latencies: list[float] = []  # seconds from sending an event to the API accepting it
        self.latency_ewma = 0.0
        self.last_event_at = 0.0
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(30.0, connect=5.0),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Any = None,
        expect: tuple[int, ...] = (200,),
        retry_for: float | None = None,
    ) -> httpx.Response:
        deadline = time.monotonic() + (self.retry_for if retry_for is None else retry_for)
        pause = 0.2
        while True:
            try:
                async with self._gate:
                    response = await self._http.request(method, path, json=body, params=params)
            except httpx.TransportError as err:
                problem = (
                    f"cannot reach the API at {self.base_url} ({type(err).__name__}: {err or 'no answer'}). "
                    "Is `recovery up --playbook playbooks/demo.toml` running, and is --api-url right?"
                )
            else:
                code = response.status_code
                if code in expect:
                    self.last_ok = time.monotonic()
                    return response
                if code == 401:
                    raise SimulationError(
                        f"the API at {self.base_url} refused the token (401: {_detail(response)}). Pass the token of "
                        "that API with --api-token or RECOVERY_API_TOKEN, or --data-dir of its `recovery up`."
                    )
                detail = _detail(response)
                if code == 503 and "RECOVERY_API_TOKEN" in detail:
                    raise SimulationError(f"the API at {self.base_url} has no token configured: {detail}")
                if code not in (429, 500, 502, 503, 504):
                    raise SimulationError(f"{method} {path}: the API answered {code}: {detail}")
                problem = f"{method} {path}: the API answered {code}: {detail}"
            if time.monotonic() + pause > deadline:
                raise ApiUnavailable(problem)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    async def preflight(self, first_customer: str) -> bool:
        """Reachable, and the token is right: an unknown journey answers 404 only past the auth check.
        True when the cohort's first customer already has a journey (200, or 409: one with no view yet)."""
        response = await self._request(
            "GET", f"/v1/journeys/{quote(first_customer, safe='')}", expect=(404, 200, 409), retry_for=3.0
        )
        return response.status_code != 404

    async def post_events(self, events: list[dict[str, Any]]) -> list[str]:
        """Sends events; the API's note for each customer in the batch ("recorded", "journey already ended; ...")."""
        sent = time.monotonic()
        response = await self._request(
            "POST", "/v1/events", body=events if len(events) > 1 else events[0], expect=(202,)
        )
        self.last_event_at = time.monotonic()
        latency = self.last_event_at - sent
        self.event_latencies.append(latency)
        self.latency_ewma = 0.8 * self.latency_ewma + 0.2 * latency
        try:
            journeys = response.json().get("journeys") or []
        except (ValueError, AttributeError):
            return []
        return [str(j.get("note", "")) for j in journeys if isinstance(j, dict)]

    def is_struggling(self) -> bool:
        """Events took long to be accepted lately: the system is behind, start no one new for now."""
        return self.latency_ewma > ADMIT_LATENCY_S and time.monotonic() - self.last_event_at < 1.0

    async def journey(self, customer_id: str) -> dict[str, Any] | None:
        """The journey view, or None while there is none (unknown, or no view yet).

        Raises `ApiUnavailable` when the API could not read it right now (busy, or the journey's workflow
        task is failing in the worker); the caller looks again later, and only a long outage ends the run.
        """
        try:
            response = await self._request(
                "GET", f"/v1/journeys/{quote(customer_id, safe='')}", expect=(200, 404, 409), retry_for=0
            )
        except ApiUnavailable:
            self.raise_if_down_for_long()
            raise
        return response.json() if response.status_code == 200 else None

    async def early_life(self, customer_id: str) -> dict[str, Any] | None:
        """The early-life journey's view (`GET /v1/early-life/{id}`), or None while there is none."""
        try:
            response = await self._request(
                "GET", f"/v1/early-life/{quote(customer_id, safe='')}", expect=(200, 404, 409), retry_for=0
            )
        except ApiUnavailable:
            self.raise_if_down_for_long()
            raise
        return response.json() if response.status_code == 200 else None

    async def report(self, since: str) -> dict[str, Any]:
        """The recovery report (`GET /v1/report`) over the journeys since `since` (ISO 8601)."""
        response = await self._request("GET", "/v1/report", params={"since": since})
        data = response.json()
        return data if isinstance(data, dict) else {}

    def raise_if_down_for_long(self) -> None:
        """A busy moment is waited out; no successful answer for a long time ends the run."""
        if time.monotonic() - self.last_ok > self.retry_for * 3:
            raise ApiUnavailable(
                f"the API at {self.base_url} has not answered a request successfully for {self.retry_for * 3:.0f}s"
            )

    async def open_tasks(self) -> list[dict[str, Any]]:
        try:
            response = await self._request("GET", "/v1/tasks", params={"state": "open"}, retry_for=0)
        except ApiUnavailable:
            self.raise_if_down_for_long()
            return []
        data = response.json()
        return data if isinstance(data, list) else []

    async def claim(self, task_id: str, agent_id: str) -> bool:
        response = await self._request(
            "POST", f"/v1/tasks/{quote(task_id, safe='')}/claim", body={"agent_id": agent_id}, expect=(200, 404, 409)
        )
        return response.status_code == 200

    async def complete(self, task_id: str, agent_id: str, outcome: TaskOutcome, note: str) -> bool:
        response = await self._request(
            "POST",
            f"/v1/tasks/{quote(task_id, safe='')}/complete",
            body={"agent_id": agent_id, "outcome": outcome.value, "note": note},
            expect=(200, 404, 409),
        )
        return response.status_code == 200
