"""The vendors' stand-ins (Twilio, FCM with Google's token endpoint) as small servers, for trying
`recovery up` against them by hand:

    .venv/bin/python -m tests.vendor_stand_ins /tmp/vendors

writes `/tmp/vendors/vendors.env` (the RECOVERY_* settings that point the stack at the stand-ins, a
service-account JSON for FCM included) and serves, until Ctrl-C, a control page on the port it prints:
`GET /twilio` and `GET /fcm` list what each stand-in received; `POST /fcm/next?reply=unregistered`
and `POST /twilio/next?status=503&code=...` script the next answer.
"""

import json
import secrets
import signal
import sys
import threading
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.activities.test_fcm_push import CLIENT_EMAIL, PROJECT, TOKEN_PATH, Google, unregistered
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID, FakeTwilio, TwilioReply


class StandIns:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.twilio = FakeTwilio()
        self.google = Google(key.public_key())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.account_file = folder / "service-account.json"
        self.account_file.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT,
                    "client_email": CLIENT_EMAIL,
                    "private_key": pem.decode(),
                }
            )
        )
        self.account_file.chmod(0o600)
        self.sumsub_secret = secrets.token_hex(16)

    def settings(self, public_url: str) -> dict[str, str]:
        return {
            "RECOVERY_SMS_PROVIDER": "twilio",
            "RECOVERY_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "RECOVERY_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "RECOVERY_TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID,
            "RECOVERY_TWILIO_BASE_URL": self.twilio.url,
            "RECOVERY_PUBLIC_URL": public_url,
            "RECOVERY_PUSH_PROVIDER": "fcm",
            "RECOVERY_FCM_SERVICE_ACCOUNT_FILE": str(self.account_file),
            "RECOVERY_FCM_BASE_URL": self.google.url,
            "RECOVERY_FCM_TOKEN_URL": self.google.url + TOKEN_PATH,
            "RECOVERY_SUMSUB_WEBHOOK_SECRET": self.sumsub_secret,
        }

    def close(self) -> None:
        self.twilio.close()
        self.google.close()


def control_server(stand_ins: StandIns) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/twilio":
                self._answer([asdict(r) for r in stand_ins.twilio.requests])
            elif self.path == "/fcm":
                self._answer(stand_ins.google.sends)
            else:
                self._answer({"error": "GET /twilio or /fcm"}, 404)

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/fcm/next" and query.get("reply") == "unregistered":
                stand_ins.google.scripted.append(unregistered())
                self._answer({"scripted": "UNREGISTERED"})
            elif parts.path == "/twilio/next":
                code = int(query["code"]) if "code" in query else None
                stand_ins.twilio.scripted.append(TwilioReply(int(query.get("status", "201")), code))
                self._answer({"scripted": query})
            else:
                self._answer({"error": "POST /fcm/next?reply=unregistered or /twilio/next?status=&code="}, 404)

        def _answer(self, body: Any, status: int = 200) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body, default=str).encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "var/vendors")
    public_url = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8000"
    stand_ins = StandIns(folder)
    control = control_server(stand_ins)
    env_file = folder / "vendors.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in stand_ins.settings(public_url).items()))
    print(f"settings in {env_file}; control on http://127.0.0.1:{control.server_address[1]}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    control.shutdown()
    stand_ins.close()


if __name__ == "__main__":
    main()
