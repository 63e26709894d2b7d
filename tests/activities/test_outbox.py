"""The embedded outbox: one line per message, idempotent across retries and across worker processes."""

import os
import stat
from pathlib import Path

from activities.outbox import Outbox, OutboxProvider, read_outbox


async def test_a_retried_send_writes_one_line(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path / "outbox.jsonl")
    assert await provider.deliver("m-1", {"customer_id": "c-1", "text": "hi"}) is False
    assert await provider.deliver("m-1", {"customer_id": "c-1", "text": "hi"}) is True
    assert read_outbox(tmp_path / "outbox.jsonl") == [{"id": "m-1", "customer_id": "c-1", "text": "hi"}]


def test_two_writers_on_one_file_see_each_others_messages(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    first, second = Outbox(path), Outbox(path)
    assert first.append("m-1", {"id": "m-1"}) is False
    assert second.append("m-1", {"id": "m-1"}) is True, "the other process already wrote it"
    assert second.append("m-2", {"id": "m-2"}) is False
    assert first.append("m-2", {"id": "m-2"}) is True
    assert [r["id"] for r in read_outbox(path)] == ["m-1", "m-2"]


def test_the_outbox_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        Outbox(tmp_path / "outbox.jsonl").append("m1", {"id": "m1", "text": "One more step"})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "outbox.jsonl").stat().st_mode) == 0o600
