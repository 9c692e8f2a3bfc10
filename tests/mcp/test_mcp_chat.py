"""MCP tools in the chat: the scripted model calls them through a real Strands agent, as steps, asked about like code.

The servers are the real one of :mod:`tests.mcp.server` and programs that fail or hang; nothing is mocked.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from core.chat.approval import Answer
from core.chat.engine import ChatEngine
from core.chat.notebook import transcript_to_notebook
from core.mcp.hub import hub_for
from core.models.scripted import ScriptedModel
from tests.conftest import finish, text_of, tool_results, wait_for
from tests.mcp.conftest import HANGING_SERVER, servers_setting, stdio_server


def engine_with(
    make_engine: Callable[..., ChatEngine], steps: list[dict[str, Any]], connect_timeout: float = 30, **servers: Any
) -> ChatEngine:
    """An engine with these MCP servers: a healthy one connects in about a second, within 30 s on a loaded machine."""
    settings = {"mcp_servers": SecretStr(servers_setting(servers)), "mcp_connect_timeout": connect_timeout}
    return make_engine(ScriptedModel(steps), **settings)


def test_the_agent_calls_an_mcp_tool_and_the_call_is_a_step(make_engine: Callable[..., ChatEngine]) -> None:
    engine = engine_with(
        make_engine, [{"tool": "t_add", "input": {"a": 2, "b": 3}}, {"text": "It is 5."}], t=stdio_server()
    )
    events = finish(engine.start_turn("Add 2 and 3 with the tool."))
    assert [event.kind for event in events] == ["user", "tool", "assistant"]
    step = events[1].tool
    assert step is not None and (step.tool, step.server, step.status, step.text) == ("t_add", "t", "success", "5")
    assert step.input == {"a": 2, "b": 3}
    assert engine.agent is not None and [text_of(r) for r in tool_results(engine.agent.messages)] == ["5"]
    assert "t_echo" in engine.agent.tool_names and "execute_code" in engine.agent.tool_names
    cells = transcript_to_notebook(engine.transcript.events()).cells
    assert any(
        cell.cell_type == "markdown"
        and "*Called `t_add` of the MCP server `t`; it answered:*" in cell.source
        and "```text\n5\n```" in cell.source
        for cell in cells
    ), [cell.source for cell in cells]


def test_failed_and_hung_servers_are_left_out_with_a_notice_and_the_chat_goes_on(
    make_engine: Callable[..., ChatEngine],
) -> None:
    steps = [{"tool": "t_add", "input": {"a": 1, "b": 1}}, {"text": "Done."}]
    hanging = {"command": sys.executable, "args": ["-c", HANGING_SERVER]}
    started = time.monotonic()
    servers = {"t": stdio_server(), "gone": {"command": "no-such-mcp-program"}, "stuck": hanging}
    engine = engine_with(make_engine, steps, connect_timeout=10, **servers)  # 't' must connect meanwhile
    events = finish(engine.start_turn("Go."))
    assert time.monotonic() - started < 45  # the hung server is given up at 10 s; without a deadline: never
    notices = [event.text for event in events if event.kind == "notice"]
    assert notices == [
        "The MCP server 'gone' is not available (the command 'no-such-mcp-program' was not found): its tools are "
        "left out.",
        "The MCP server 'stuck' is not available (it did not answer within 10 s): its tools are left out.",
    ]
    assert [event.tool.text for event in events if event.tool is not None] == ["2"]
    finish(engine.start_turn("Again."))  # a failure is told once
    assert sum(event.kind == "notice" for event in engine.transcript.events()) == 2


def test_a_crash_mid_call_is_an_error_step_and_its_tools_leave(make_engine: Callable[..., ChatEngine]) -> None:
    steps = [{"tool": "t_crash", "input": {}}, {"text": "It broke."}, {"tool": "t_add", "input": {"a": 1, "b": 1}}]
    engine = engine_with(make_engine, steps, t=stdio_server())
    events = finish(engine.start_turn("Crash it."))
    step = events[1].tool
    assert step is not None and step.status == "error"
    assert step.text == "The MCP server 't' stopped during the call; its tools are left out."
    events = finish(engine.start_turn("Add."))
    assert "The MCP server 't' is not available (it stopped during a call): its tools are left out." in [
        event.text for event in events
    ]
    assert engine.agent is not None and not any(name.startswith("t_") for name in engine.agent.tool_names)


def test_ask_before_running_covers_mcp_tools_and_edits_their_arguments(make_engine: Callable[..., ChatEngine]) -> None:
    steps = [{"tool": "t_add", "input": {"a": 2, "b": 3}}, {"text": "Done."}]
    engine = engine_with(make_engine, steps, t=stdio_server())
    engine.approval.set_asking(True)
    assert [event.kind for event in finish(engine.start_turn("Add."))] == ["user"]
    [step] = engine.approval.pending()
    assert (step.tool, step.server, step.language) == ("t_add", "t", "json")
    assert step.code == '{\n  "a": 2,\n  "b": 3\n}'
    assert engine.answer_step(step.interrupt_id, Answer("edit", code='{"a": 40, "b": 2}'))
    events = finish(engine.turn)  # type: ignore[arg-type]
    assert [event.text for event in events if event.kind == "notice"] == [
        "You edited the tool's arguments before running it."
    ]
    assert [event.tool.text for event in events if event.tool is not None] == ["42"]


def test_a_skipped_mcp_step_is_not_run(make_engine: Callable[..., ChatEngine]) -> None:
    engine = engine_with(make_engine, [{"tool": "t_crash", "input": {}}, {"text": "Fine."}], t=stdio_server())
    engine.approval.set_asking(True)
    finish(engine.start_turn("Crash it."))
    [step] = engine.approval.pending()
    engine.answer_step(step.interrupt_id, Answer("skip", reason="not that one"))
    events = finish(engine.turn)  # type: ignore[arg-type]
    skipped = [event.tool for event in events if event.tool is not None]
    assert [(s.status, s.server) for s in skipped if s is not None] == [("skipped", "t")]
    assert engine.agent is not None and "t_add" in engine.agent.tool_names  # the server did not crash


def test_stop_ends_a_hung_mcp_call_at_once(make_engine: Callable[..., ChatEngine]) -> None:
    engine = engine_with(make_engine, [{"tool": "t_hang", "input": {}}, {"text": "Never."}], t=stdio_server())
    turn = engine.start_turn("Hang.")
    hub = hub_for(engine.session.settings)
    assert hub is not None
    wait_for(lambda: hub.connections[0].in_flight, "the hung call to reach the server")
    stopped_at = time.monotonic()
    engine.stop()
    events = finish(turn)
    assert time.monotonic() - stopped_at < 20  # the call hangs for ever
    [step] = [event.tool for event in events if event.tool is not None]
    assert step.status == "error" and step.text.startswith("Stopped: the user pressed Stop")
