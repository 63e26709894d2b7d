"""The embedded delivery provider: an append-only JSON-lines file, so the system runs with no vendor account.

Several worker processes may share one outbox; a lock and an index of the ids already written make
each append idempotent, so a retried activity never writes a message twice.
"""

import asyncio
import fcntl
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.private_files import create_owner_only


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids: set[str] = set()
        self._indexed_bytes = 0
        self._thread_lock = threading.Lock()

    def append(self, record_id: str, record: dict[str, Any]) -> bool:
        """Writes the record unless its id is already there. Returns True when it was a duplicate."""
        create_owner_only(self.path)  # message texts are the customer's business
        with self._thread_lock, open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self._catch_up(handle)
                if record_id in self._ids:
                    return True
                handle.seek(0, 2)
                line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
                handle.write(line)
                handle.flush()
                self._ids.add(record_id)
                self._indexed_bytes = handle.tell()
                return False
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _catch_up(self, handle: Any) -> None:
        """Index what other processes appended since this one last looked."""
        handle.seek(0, 2)
        if handle.tell() < self._indexed_bytes:  # the file was replaced: start over
            self._ids.clear()
            self._indexed_bytes = 0
        handle.seek(self._indexed_bytes)
        for line in handle:
            if line.endswith("\n") and line.strip():
                self._ids.add(json.loads(line)["id"])
        self._indexed_bytes = handle.tell()


def blank_lines(path: Path, about: Callable[[dict[str, Any]], bool]) -> int:
    """Overwrites with spaces, in place and under the writers' lock, every line whose record `about` picks
    (an erasure). Every byte stays where it was, so each process's index of the file stays valid and
    readers skip the blank lines. Returns how many lines were blanked."""
    if not path.exists():
        return 0
    with open(path, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            found: list[tuple[int, int]] = []
            offset = 0
            for line in handle:
                if line.endswith(b"\n") and line.strip() and about(json.loads(line)):
                    found.append((offset, len(line) - 1))
                offset += len(line)
            for start, length in found:
                handle.seek(start)
                handle.write(b" " * length)
            handle.flush()
            return len(found)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_outbox(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class OutboxProvider:
    """The `Delivery` interface over an outbox file."""

    name = "outbox"

    def __init__(self, path: Path) -> None:
        self.outbox = Outbox(path)

    async def deliver(self, idempotency_key: str, payload: dict[str, Any]) -> bool:
        return await asyncio.to_thread(self.outbox.append, idempotency_key, {"id": idempotency_key, **payload})
