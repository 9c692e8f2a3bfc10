"""Malformed and enormous tool calls, made directly and through a Strands agent: plain errors, bounded answers."""

from __future__ import annotations

import os
from typing import Any

import pytest
from strands import Agent
from strands.agent.conversation_manager import NullConversationManager

from core.models.scripted import ScriptedModel
from tests.conftest import tool_results
from tests.hostile import MB, World, plain

# -- malformed tool calls --------------------------------------------------------------------------------------

MALFORMED_CALLS: list[tuple[str, dict[str, Any], str, str]] = [
    ("execute_code", {"code": 123}, "error", "'code' of execute_code must be text"),
    ("execute_code", {}, "error", "execute_code needs the argument 'code'"),
    ("execute_code", {"code": "1", "language": None}, "error", "'language' of execute_code must be text"),
    ("execute_code", {"code": "1", "output_filename": ["a.png"]}, "error", "'output_filename'"),
    ("execute_code", {"source": "print(1)"}, "error", "execute_code has no argument 'source'"),
    ("execute_command", {"command": ["ls", "-la"]}, "error", "'command' of execute_command must be text"),
    ("execute_command", {}, "error", "execute_command needs the argument 'command'"),
    ("file_operations", {"operation": None}, "error", "'operation' of file_operations must be text"),
    ("file_operations", {}, "error", "file_operations needs the argument 'operation'"),
    ("file_operations", {"operation": "chmod", "paths": ["a"]}, "error", "Unknown operation 'chmod'"),
    ("file_operations", {"operation": "list", "path": "."}, "error", "has no argument 'path'"),
    ("file_operations", {"operation": "read", "paths": "missing.txt"}, "error", "No file 'missing.txt'"),
    ("file_operations", {"operation": "read", "paths": [None, 3]}, "error", "Paths must be text, not NoneType"),
    ("file_operations", {"operation": "read", "paths": {"a": 1}}, "error", "Paths must be text, not dict"),
    ("file_operations", {"operation": "read", "paths": 42}, "error", "'paths' must be a list, not int"),
    ("file_operations", {"operation": "write", "content": {"path": "d.txt", "text": "hi"}}, "success", "Wrote d.txt"),
    ("file_operations", {"operation": "write", "content": "d.txt"}, "error", "needs a 'path' (text) and a 'text'"),
    ("file_operations", {"operation": "write", "content": [{"path": "d.txt", "text": 5}]}, "error", "'text' (text)"),
    ("file_operations", {"operation": "write", "content": [{"path": 5, "text": "x"}]}, "error", "'path' (text)"),
    ("file_operations", {"operation": "remove", "paths": []}, "error", "needs paths=[...]"),
    ("ci_push_to_workspace", {"paths": 5}, "error", "'paths' must be a list, not int"),
    ("ci_push_to_workspace", {"paths": "missing.txt"}, "error", "No file 'missing.txt'"),
    ("ci_push_to_workspace", {"path": ["x"]}, "error", "has no argument 'path'"),
    ("workspace_read", {"path": ["keep.txt"]}, "error", "'path' of workspace_read must be text"),
    ("workspace_read", {}, "error", "workspace_read needs the argument 'path'"),
    ("workspace_read", {"path": "nothere.txt"}, "error", "No file named 'nothere.txt'"),
    ("workspace_list", {"path": 7}, "error", "'path' of workspace_list must be text"),
]


def test_malformed_calls_made_directly_get_plain_errors(world: World) -> None:
    before = world.outside()
    for tool, arguments, status, words in MALFORMED_CALLS:
        result = world.tools[tool](**arguments)
        text = plain(result, world)
        assert result["status"] == status and words in text, (tool, arguments, text[:300])
    assert world.outside() == before
    assert len(world.session.history) == len(MALFORMED_CALLS)  # each call is shown in the chat too


# Strands checks the input against the tool's schema before the tool runs: wrong types and missing arguments
# come back as its validation errors, and unknown arguments are dropped (so those calls run without them).
AGENT_STATUS = {
    ("file_operations", "path"): "success",  # list '.' without the unknown 'path'
    ("ci_push_to_workspace", "path"): "error",  # save every root file: the root is empty
}


@pytest.mark.timeout(120)
def test_malformed_calls_through_the_agent_get_plain_errors(world: World) -> None:
    steps: list[dict[str, Any]] = [{"tool": tool, "input": arguments} for tool, arguments, _, _ in MALFORMED_CALLS]
    steps += [
        {"tool": "no_such_tool", "input": {}},
        {"tool": "execute_code", "input": {"code": "x = 1\n# " + "x" * (5 * MB) + "\nprint('big code ran')"}},
        {"tool": "file_operations", "input": {"operation": "write", "content": [{"path": "d.txt", "text": "d"}]}},
        {"tool": "file_operations", "input": {"operation": "read", "paths": ["d.txt"] * 10_000}},
        {"text": "done"},
    ]
    agent = Agent(
        model=ScriptedModel(steps),
        tools=list(world.session.tools),
        callback_handler=None,
        conversation_manager=NullConversationManager(),  # keep every message to check every result
    )
    answer = agent("go")
    assert "done" in str(answer)
    results = tool_results(agent.messages)
    assert len(results) == len(steps) - 1
    texts = ["\n".join(block.get("text", "") for block in result["content"]) for result in results]
    for step, text in zip(steps, texts, strict=False):
        assert text.strip() and "Traceback" not in text and "Internal error" not in text, (step["tool"], text[:300])
    expected = [
        AGENT_STATUS.get((tool, "path" if "path" in arguments else ""), "error")
        for tool, arguments, _, _ in MALFORMED_CALLS
    ]
    assert [r["status"] for r in results] == [*expected, "error", "success", "success", "success"]
    assert "Validation failed" in texts[0] and "code" in texts[0]  # code=123
    assert "Unknown tool" in texts[-4]
    assert "big code ran" in texts[-3]
    assert len(texts[-1]) < 3 * world.session.settings.max_output_chars and "not read" in texts[-1]


@pytest.mark.timeout(180)
def test_enormous_inputs_give_bounded_answers(world: World) -> None:
    limit = 2 * world.session.settings.max_output_chars + 1000
    tools = world.tools
    result = tools["execute_code"](code="x = 1\n# " + "x" * (5 * MB) + "\nprint('big code ran')")
    assert result["status"] == "success" and "big code ran" in plain(result, world)

    result = tools["execute_command"](command="echo hi # " + "x" * (5 * MB))
    assert result["status"] == "error" and "bytes long; the limit is 100,000" in plain(result, world)

    world.session.sandbox.write_file("big.txt", b"y" * 30_000)
    many = ["big.txt"] * 10_000
    for operation in ("read", "list"):
        result = tools["file_operations"](operation=operation, paths=many)
        text = plain(result, world)
        assert len(text) < limit and ("not read" in text or "not listed" in text), text[-300:]
    result = tools["ci_push_to_workspace"](paths=[f"missing-{i}.txt" for i in range(10_000)])
    text = plain(result, world)
    assert result["status"] == "error" and len(text) < limit and "characters omitted" in text

    written = tools["file_operations"](
        operation="write", content=[{"path": f"many/f{i}.txt", "text": str(i)} for i in range(10_000)]
    )
    assert written["status"] == "success" and len(plain(written, world)) < limit
    assert len(os.listdir(world.session.sandbox.root / "many")) == 10_000
    removed = tools["file_operations"](operation="remove", paths=[f"many/f{i}.txt" for i in range(10_000)])
    assert removed["status"] == "success" and len(plain(removed, world)) < limit
    assert os.listdir(world.session.sandbox.root / "many") == []


def test_tools_never_raise_even_on_internal_failures(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise OSError(28, "No space left on device", str(world.tmp_path / "x"))

    monkeypatch.setattr(world.session.sandbox, "read_file", broken)
    world.session.sandbox.write_file("a.txt", b"a")
    result = world.tools["ci_push_to_workspace"](paths=["a.txt"])
    assert result["status"] == "error" and "No space left on device" in plain(result, world)
