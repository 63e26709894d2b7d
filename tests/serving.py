"""The API app served by uvicorn on a real socket in a thread, for tests that need real HTTP (client
addresses, headers as a proxy sends them). uvicorn trusts X-Forwarded-For from 127.0.0.1, as it
does behind a local proxy, so a test speaks from any client address it names."""

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """The app's base URL while it is served; stopped afterwards."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, lifespan="off", proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def speaking_from(address: str) -> dict[str, str]:
    """Headers that make the served app see the request as coming from `address`."""
    return {"X-Forwarded-For": address}
