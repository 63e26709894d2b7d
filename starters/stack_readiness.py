"""When the parts of `recovery up` answer: the Temporal dev server (its system info over gRPC) and the
HTTP API (any HTTP answer). The stack says "Press Ctrl-C to stop." only once both do."""

import asyncio
import subprocess
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client


async def wait_for_temporal(
    address: str, server: subprocess.Popen[bytes], stopping: Callable[[], bool], timeout_s: float = 60.0
) -> bool:
    """True once the dev server answers.

    False if it exited, stayed silent past `timeout_s`, or the stack is stopping.
    """
    deadline = time.monotonic() + timeout_s
    while not stopping() and server.poll() is None and time.monotonic() < deadline:
        try:
            client = await Client.connect(address)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return True
        except Exception:  # not up yet
            await asyncio.sleep(0.3)
    return False


async def when_answering(url: str, then: Callable[[], None], stopping: Callable[[], bool]) -> None:
    """Calls `then` once `url` gives any HTTP answer, however long the API's start (or restarts) take."""
    async with httpx.AsyncClient(timeout=2.0) as http:
        while not stopping():
            try:
                await http.get(url)
            except httpx.HTTPError:  # not listening yet
                await asyncio.sleep(0.2)
                continue
            then()
            return


async def alongside(main: Coroutine[Any, Any, None], side: Coroutine[Any, Any, None]) -> None:
    """Runs `main` to its end with `side` running next to it; `side` is cancelled if still going."""
    task = asyncio.create_task(side)
    try:
        await main
    finally:
        task.cancel()
