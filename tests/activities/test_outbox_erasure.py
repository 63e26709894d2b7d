"""Erasing a customer's outbox lines: blanked in place, so every writer's index of the file stays valid."""

from pathlib import Path
from typing import Any

from activities.outbox import Outbox, blank_lines, read_outbox


def test_blanked_lines_are_gone_and_writers_carry_on(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    writer, other_writer = Outbox(path), Outbox(path)
    writer.append("onboarding-c-1:r1:m1", {"id": "onboarding-c-1:r1:m1", "customer_id": "c-1", "text": "Привет"})
    writer.append("onboarding-c-10:r1:m1", {"id": "onboarding-c-10:r1:m1", "customer_id": "c-10", "text": "hi"})
    other_writer.append("onboarding-c-1:r1:m2", {"id": "onboarding-c-1:r1:m2", "customer_id": "c-1", "text": "x"})
    size = path.stat().st_size

    def about(record: dict[str, Any]) -> bool:
        return bool(record["customer_id"] == "c-1")

    assert blank_lines(path, about) == 2
    assert path.stat().st_size == size  # in place: byte offsets unchanged
    assert "c-1:" not in path.read_text(encoding="utf-8") and "Привет" not in path.read_text(encoding="utf-8")
    assert [r["id"] for r in read_outbox(path)] == ["onboarding-c-10:r1:m1"]
    assert other_writer.append("onboarding-c-10:r1:m1", {"id": "onboarding-c-10:r1:m1"}) is True  # still a duplicate
    assert writer.append("onboarding-c-2:r1:m1", {"id": "onboarding-c-2:r1:m1", "customer_id": "c-2"}) is False
    assert [r["id"] for r in read_outbox(path)] == ["onboarding-c-10:r1:m1", "onboarding-c-2:r1:m1"]
    assert blank_lines(path, about) == 0
    assert blank_lines(tmp_path / "never-written.jsonl", about) == 0
