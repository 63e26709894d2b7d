"""Prometheus metrics of the HTTP API: requests by route, method and status, and their latency.

The route label is the route's template (`/v1/journeys/{customer_id}`), never the path sent: a
customer id in a label would leak identities into the metric store and make one series per customer.
Requests no route matched are counted under `<unmatched>`. `GET /metrics` is open, like `/healthz`:
keep the API's port off the public internet or filter `/metrics` at the proxy.
"""

import time
from typing import Any

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "onboarding_api_requests",
    "HTTP requests to the API, by route template, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "onboarding_api_request_duration_seconds",
    "time to answer an HTTP request, by route template",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UNMATCHED = "<unmatched>"


def _route_of(app: Any, scope: Scope, as_received: Scope) -> str:
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return str(route.path)
    # Mounts (static files) and routes Starlette does not tag: find the first that matches, as routing did.
    for candidate in getattr(app, "routes", ()):
        match, _ = candidate.matches(as_received)
        if match is Match.FULL:
            return str(getattr(candidate, "path", UNMATCHED))
    return UNMATCHED


class MetricsMiddleware:
    """Pure ASGI: counts every HTTP request once, with the status actually sent."""

    def __init__(self, app: ASGIApp, router_owner: Any) -> None:
        self.app = app
        self.router_owner = router_owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        as_received = dict(scope)  # routing adds to the scope; the fallback matches against the original
        status = 500  # an exception before the response started is a 500 to the client

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = _route_of(self.router_owner, scope, as_received)
            method = scope.get("method", "GET")
            REQUESTS.labels(route=route, method=method, status=str(status)).inc()
            LATENCY.labels(route=route, method=method).observe(time.perf_counter() - started)


async def metrics(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def install_metrics(app: FastAPI) -> None:
    """Counts the app's requests and serves them, with the process's own metrics, at GET /metrics."""
    app.add_middleware(MetricsMiddleware, router_owner=app)
    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
