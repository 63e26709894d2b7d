"""A stand-in for a push/SMS vendor's HTTP gateway: real HTTP on localhost, scripted failures.

It behaves like a well-made vendor: a request whose Idempotency-Key it has already accepted is
answered 409 and not delivered again.
"""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class VendorRequest:
    path: str
    idempotency_key: str | None
    authorization: str | None
    body: dict[str, Any]
    status: int


@dataclass
class FakeVendor:
    scripted_statuses: list[int] = field(default_factory=list)
    requests: list[VendorRequest] = field(default_factory=list)
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set: requests are answered at once. Cleared: each waits (the send is in flight) until it is set again.
    answering: threading.Event = field(default_factory=threading.Event)
    arrived: int = 0

    def __post_init__(self) -> None:
        self.answering.set()
        self._start()

    def _start(self) -> None:
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                vendor.arrived += 1
                vendor.answering.wait(timeout=60)
                key = self.headers.get("Idempotency-Key")
                status = vendor.scripted_statuses.pop(0) if vendor.scripted_statuses else 202
                if status < 300 and key in vendor.delivered:
                    status = 409
                elif status < 300 and key is not None:
                    vendor.delivered[key] = body
                vendor.requests.append(VendorRequest(self.path, key, self.headers.get("Authorization"), body, status))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.answering.set()
        self._server.shutdown()
        self._server.server_close()
