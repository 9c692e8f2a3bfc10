"""Rendering the chat: messages, answers, notices and tool steps (code, output, rich results)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
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


def as_message(code: str, language: str) -> str:
    """A chat message that runs ``code`` directly (a fenced block)."""
    return f"```{language}\n{code}\n```"


def _edit_and_rerun(code: str, language: str, key: str, rerun: Callable[[str], object]) -> None:
    with st.popover("Edit and re-run", icon=":material/edit:"):
        edited = st.text_area("Code", value=code, key=f"edit_{key}", height=220)
        if st.button("Run", key=f"rerun_{key}", type="primary", icon=":material/play_arrow:"):
            rerun(as_message(edited, language))
            st.rerun()


def render_tool_step(
    record: ToolRecord, *, direct: bool = False, key: str = "", rerun: Callable[[str], object] | None = None
) -> None:
    """A finished tool step: a collapsible box with the code, then everything it produced.

    Args:
        record: The step.
        direct: Whether the person ran it (not the agent).
        key: A key unique on the page, needed for the re-run editor.
        rerun: Sends a message that runs code directly; offers "Edit and re-run" when given with ``key``.

    """
    failed = record.status != "success"
    icon = ":material/error:" if failed else ":material/check_circle:"
    with st.expander(tool_title(record.tool, record.input, direct=direct), expanded=True, icon=icon):
        code, language = tool_code(record.tool, record.input)
        st.code(code, language=language)
        if rerun is not None and key and record.tool in ("execute_code", "execute_command"):
            _edit_and_rerun(code, language, key, rerun)
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


def render_event(event: ChatEvent, *, key: str = "", rerun: Callable[[str], object] | None = None) -> None:
    """One event inside a chat message (``key`` and ``rerun`` enable editing a tool step's code)."""
    if event.kind in ("user", "assistant"):
        st.markdown(event.text)
    elif event.kind == "tool" and event.tool is not None:
        render_tool_step(event.tool, direct=event.source == "direct", key=key, rerun=rerun)
    elif event.kind == "notice":
        {"error": st.error, "warning": st.warning}.get(event.level, st.info)(event.text)


def _role(event: ChatEvent) -> str:
    return "user" if event.kind == "user" else "assistant"


def render_transcript(events: Iterable[ChatEvent], rerun: Callable[[str], object] | None = None) -> None:
    """The conversation: consecutive events of one side share one chat message.

    Args:
        events: The events, oldest first.
        rerun: Sends a message that runs code directly; enables "Edit and re-run" on code steps.

    """
    group: list[tuple[int, ChatEvent]] = []
    for number, event in enumerate(events):
        if group and _role(group[-1][1]) != _role(event):
            _render_group(group, rerun)
            group = []
        group.append((number, event))
    if group:
        _render_group(group, rerun)


def _render_group(group: list[tuple[int, ChatEvent]], rerun: Callable[[str], object] | None) -> None:
    with st.chat_message(_role(group[0][1])):
        for number, event in group:
            render_event(event, key=f"step_{number}", rerun=rerun)
