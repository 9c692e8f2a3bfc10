"""The transcript keeps what the person saw, rich outputs included, across restarts."""

from __future__ import annotations

from pathlib import Path

from core.chat.transcript import ChatEvent, Transcript
from core.types import TABLE_JSON, ExecutionError, ExecutionResult, RichOutput, StopReason, ToolRecord


def test_events_round_trip_with_images_tables_and_errors(tmp_path: Path) -> None:
    transcript = Transcript(tmp_path / "t.jsonl")
    result = ExecutionResult(
        stdout="42\n",
        error=ExecutionError("ValueError", "bad", "trace"),
        outputs=[RichOutput("image/png", b"\x89PNG\x00\xff"), RichOutput(TABLE_JSON, {"data": [{"a": 1}]}, "a\n1")],
        stopped=StopReason.TIMEOUT,
        notes=["cut"],
    )
    record = ToolRecord("execute_code", {"code": "print(42)"}, "error", "text", result, ["chart.png"])
    transcript.append(ChatEvent(kind="user", text="héllo"))
    transcript.append(ChatEvent(kind="tool", tool=record, source="direct"))
    first, second = Transcript(tmp_path / "t.jsonl").events()
    assert first.text == "héllo"
    assert second.tool == record and second.source == "direct"


def test_a_damaged_line_loses_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    transcript = Transcript(path)
    transcript.append(ChatEvent(kind="user", text="one"))
    with path.open("a") as handle:
        handle.write("{not json\n")
    transcript.append(ChatEvent(kind="assistant", text="two"))
    assert [e.text for e in transcript.events()] == ["one", "two"]
