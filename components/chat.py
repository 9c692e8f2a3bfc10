"""Rendering the chat: messages, answers, notices and tool steps (code, output, rich results)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import streamlit as st

from components.results import render_result
from core.transcript import ChatEvent
from core.types import ToolRecord

TOOL_TITLES = {
    "execute_code": "Ran {language} code",
    "execute_command": "Ran a shell command",
    "file_operations": "File operation: {operation}",
    "ci_push_to_workspace": "Saved files to the workspace",
    "workspace_list": "Listed the workspace",
    "workspace_read": "Read {path} from the workspace",
}


def tool_code(tool: str, tool_input: dict[str, Any]) -> tuple[str, str]:
    """The code a tool step shows and its language for highlighting."""
    if tool == "execute_code":
        return str(tool_input.get("code", "")), str(tool_input.get("language") or "python")
    if tool == "execute_command":
        return str(tool_input.get("command", "")), "bash"
    return json.dumps(tool_input, indent=2, ensure_ascii=False), "json"


def tool_title(tool: str, tool_input: dict[str, Any], *, direct: bool = False) -> str:
    """A short title for a tool step."""
    template = TOOL_TITLES.get(tool, tool)
    values = {"language": "python", "operation": "?", "path": "a file"} | {k: str(v) for k, v in tool_input.items()}
    try:
        title = template.format(**values)
    except (KeyError, IndexError):
        title = tool
    return f"{title} (run by you)" if direct else title


def render_tool_step(record: ToolRecord, *, direct: bool = False) -> None:
    """A finished tool step: a collapsible box with the code, then everything it produced."""
    failed = record.status != "success"
    icon = ":material/error:" if failed else ":material/check_circle:"
    with st.expander(tool_title(record.tool, record.input, direct=direct), expanded=True, icon=icon):
        code, language = tool_code(record.tool, record.input)
        st.code(code, language=language)
        if record.result is not None:
            render_result(record.result)
        else:
            (st.error if failed else st.code)(record.text)
        for name in record.saved_files:
            st.caption(f":material/save: Saved to the workspace: code-interpreter/{name}")


def render_running_tool(tool: str, tool_input: dict[str, Any]) -> None:
    """The tool step running now."""
    with st.status(tool_title(tool, tool_input) + " …", state="running", expanded=True):
        code, language = tool_code(tool, tool_input)
        st.code(code, language=language)


def render_event(event: ChatEvent) -> None:
    """One event inside a chat message."""
    if event.kind in ("user", "assistant"):
        st.markdown(event.text)
    elif event.kind == "tool" and event.tool is not None:
        render_tool_step(event.tool, direct=event.source == "direct")
    elif event.kind == "notice":
        {"error": st.error, "warning": st.warning}.get(event.level, st.info)(event.text)


def _role(event: ChatEvent) -> str:
    return "user" if event.kind == "user" else "assistant"


def render_transcript(events: Iterable[ChatEvent]) -> None:
    """The conversation: consecutive events of one side share one chat message."""
    group: list[ChatEvent] = []
    for event in events:
        if group and _role(group[-1]) != _role(event):
            _render_group(group)
            group = []
        group.append(event)
    if group:
        _render_group(group)


def _render_group(group: list[ChatEvent]) -> None:
    with st.chat_message(_role(group[0])):
        for event in group:
            render_event(event)
