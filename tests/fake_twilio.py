"""A stand-in for Twilio's Messages API: real HTTP on localhost, Twilio's wire format, scripted failures.

`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form encoded, basic auth with the account SID
and auth token; 201 with the message resource (`sid`, `status`), or Twilio's error body
(`{"code": 21610, "message": ..., "status": 400}`). Also signs callbacks the way Twilio does.
"""

import base64
import hashlib
import hmac
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

ACCOUNT_SID = "AC00000000000000000000000000000001"
AUTH_TOKEN = "twilio-auth-token-for-tests"
MESSAGING_SERVICE_SID = "MG00000000000000000000000000000001"


@dataclass
class TwilioReply:
    status: int
    code: int | None = None
    retry_after: str | None = None


@dataclass
class TwilioRequest:
    path: str
    authorization: str | None
    form: dict[str, str]
    status: int


def twilio_signature(url: str, params: dict[str, str], auth_token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL and the parameters sorted by name, name+value."""
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


@dataclass
class FakeTwilio:
    scripted: list[TwilioReply] = field(default_factory=list)
    requests: list[TwilioRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        twilio = self
        sids = itertools.count(1)
        expected_auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                reply = twilio.scripted.pop(0) if twilio.scripted else TwilioReply(201)
                if self.headers.get("Authorization") != expected_auth:
                    reply = TwilioReply(401, 20003)
                elif self.path != f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json":
                    reply = TwilioReply(404, 20404)
                twilio.requests.append(TwilioRequest(self.path, self.headers.get("Authorization"), form, reply.status))
                if reply.status == 201:
                    body: dict[str, Any] = {"sid": f"SM{next(sids):032d}", "status": "queued", "to": form.get("To")}
                else:
                    body = {"code": reply.code, "message": f"error about {form.get('To')}", "status": reply.status}
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                if reply.retry_after is not None:
                    self.send_header("Retry-After", reply.retry_after)
                self.end_headers()
                self.wfile.write(json.dumps(body).encode())

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def sent(self) -> list[TwilioRequest]:
        return [r for r in self.requests if r.status == 201]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
