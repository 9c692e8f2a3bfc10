"""Rendering the chat: messages, answers, notices, finished tool steps and the step happening now."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from components.approval import SKIPPED_ICON, skipped_title
from components.fragments import STEADY_RULE
from components.results import render_result
from components.state import first_delivery
from components.step_files import (
    download_address,
    render_answer_files,
    render_answer_images,
    render_changed_files,
)
from core.chat.direct import parse_direct_run
from core.chat.transcript import ChatEvent
from core.chat.turn import LiveStep
from core.files.outputs import SessionFiles, link_answer
from core.text import escape_markdown, safe_markdown, settled_blocks
from core.types import ToolRecord

TOOL_TITLES = {
    "execute_code": ("Ran {language} code", "Running {language} code", "Writing {language} code"),
    "execute_command": ("Ran a shell command", "Running a shell command", "Writing a shell command"),
    "execute_command_background": (
        "Started a shell command in the background",
        "Starting a shell command in the background",
        "Writing a shell command",
    ),
    "command_task": (
        "Checked background command {task_id}",
        "Following background command {task_id}",
        "Checking a background command",
    ),
    "command_task_stop": (
        "Stopped background command {task_id}",
        "Stopping background command {task_id}",
        "Stopping a background command",
    ),
    "command_task_list": ("Listed the background commands",) * 3,
    "file_operations": ("File operation: {operation}", "File operation: {operation}", "Preparing a file operation"),
    "ci_push_to_workspace": ("Saved files to the workspace", "Saving files to the workspace", "Choosing files"),
    "workspace_list": ("Listed the workspace", "Listing the workspace", "Listing the workspace"),
    "workspace_read": ("Read {path} from the workspace", "Reading {path}", "Choosing a workspace file"),
}
OTHER_TOOL_TITLES = ("Called {tool}", "Calling {tool}", "Writing a call to {tool}")
"""Titles of the tools of MCP servers (``core/mcp/``), whose names the server chose."""
TENSES = {"done": 0, "running": 1, "writing": 2}
EDITOR_STYLE = """<style>
[class*="st-key-code_editor_"] textarea {
  font-family: "Source Code Pro", ui-monospace, monospace; font-size: 0.875rem;
}
</style>"""


def tool_code(tool: str, tool_input: dict[str, Any]) -> tuple[str, str]:
    """The code a tool step shows and its language for highlighting."""
    if tool == "execute_code":
        return str(tool_input.get("code", "")), str(tool_input.get("language") or "python")
    if tool == "execute_command":
        return str(tool_input.get("command", "")), "bash"
    return json.dumps(tool_input, indent=2, ensure_ascii=False), "json"


def _title_kind(tool: str, tool_input: dict[str, Any]) -> str:
    """Which titles a step gets: a background start, a check, a stop and a listing of tasks differ."""
    if tool == "execute_command" and str(tool_input.get("background", "")).strip().lower() in ("true", "1", "yes"):
        return "execute_command_background"
    if tool == "command_task":
        if not tool_input.get("task_id"):
            return "command_task_list"
        return "command_task_stop" if tool_input.get("action") == "stop" else "command_task"
    return tool


def tool_title(tool: str, tool_input: dict[str, Any], *, direct: bool = False, tense: str = "done") -> str:
    """A short title for a tool step, safe to show as Markdown (its values come from the model).

    Args:
        tool: The tool's name.
        tool_input: Its arguments.
        direct: Whether the person ran it (not the agent).
        tense: ``done``, ``running`` or ``writing`` (the model is still writing the call).

    """
    templates = TOOL_TITLES.get(_title_kind(tool, tool_input), OTHER_TOOL_TITLES)  # MCP tools: the other titles
    template = templates[TENSES[tense]].replace("{tool}", tool[:80])
    values = {"language": "python", "operation": "?", "path": "a file", "task_id": ""} | {
        k: str(v)[:80] for k, v in tool_input.items()
    }
    try:
        title = template.format(**values)
    except (KeyError, IndexError, ValueError):
        title = tool
    return escape_markdown(f"{title} (run by you)" if direct else title)


# The main area follows new content at its bottom with the browser's own layout: a column laid out from the bottom
# up starts there and stays there while the page grows, and keeps a reader who scrolled up where they are (scroll
# anchoring). Streamlit's own follow (for a chat input it docks itself) polls the scroll position 60 times a
# second, idle or not: an idle tab cost 4 % of a core in Chromium, 2.8 % without it.
PAGE_STYLE = (
    "<style>main.stMain {flex-direction: column-reverse}"
    " main.stMain > [data-testid=stMainBlockContainer] {order: 1}"
    " main.stMain > [data-testid=stBottom] {order: -1}"  # below the filler that pushes it down
    " .st-key-prefetch-results, .st-key-prefetch-code {display: none}"  # components.results' prefetch
    # A caret that does not blink: each blink is a frame the browser draws, twice a second, on the cores a local
    # model decodes on (and steady carets are kinder to some readers).
    " [data-testid=stChatInputTextArea] {caret-animation: manual}"
    f" {STEADY_RULE}</style>"
)


def render_chat_input(**chat_input_args: Any) -> None:
    """The chat input, docked at the bottom, with the main area following new content without polling.

    Args:
        chat_input_args: Passed to ``st.chat_input``.

    """
    st.html(PAGE_STYLE)
    with st.bottom:  # placed explicitly: Streamlit's polling follow is for a chat input it docks itself
        st.chat_input(**chat_input_args)


def as_message(code: str, language: str) -> str:
    """A chat message that runs ``code`` directly (a fenced block)."""
    return f"```{language}\n{code}\n```"


def _run_edited(key: str, language: str, rerun: Callable[[str], object]) -> None:
    """The editor's submit callback: send the edited code as a direct run and close the editor."""
    code = str(st.session_state.get(f"edit_{key}", ""))
    if first_delivery("rerun_edited", key, code):
        rerun(as_message(code, language))
    st.session_state[f"edit_open_{key}"] = False


def _edit_and_rerun(code: str, language: str, key: str, rerun: Callable[[str], object]) -> None:
    """The "Edit and re-run" switch: a monospace editor as wide as the step; Ctrl+Enter runs the code."""
    if not st.toggle("Edit and re-run", key=f"edit_open_{key}"):
        return
    st.html(EDITOR_STYLE)
    lines = code.count("\n") + 1
    with st.container(key=f"code_editor_{key}"), st.form(key=f"edit_form_{key}", border=False):
        st.text_area("Code", value=code, key=f"edit_{key}", height=min(max(22 * lines + 30, 120), 480))
        st.form_submit_button(
            "Run",
            key=f"rerun_{key}",
            type="primary",
            icon=":material/play_arrow:",
            on_click=_run_edited,
            args=(key, language, rerun),
        )
        st.caption("Ctrl+Enter (⌘+Enter on a Mac) in the editor runs the code too.")


def render_tool_step(
    record: ToolRecord,
    *,
    direct: bool = False,
    key: str = "",
    rerun: Callable[[str], object] | None = None,
    files: SessionFiles | None = None,
    files_key: str = "",
) -> None:
    """A finished tool step: a collapsible box with the code, then everything it produced, in order.

    Args:
        record: The step.
        direct: Whether the person ran it (not the agent).
        key: A key unique on the page, needed for the re-run editor and long outputs.
        rerun: Sends a message that runs code directly; offers "Edit and re-run" when given with ``key``.
        files: The session's files; the files the step created or changed get download buttons when given.
        files_key: A key unique on the page for those buttons (``key`` when empty).

    """
    code, language = tool_code(record.tool, record.input)
    skipped, failed = record.status == "skipped", record.status not in ("success", "skipped")
    icon = SKIPPED_ICON if skipped else ":material/error:" if failed else ":material/check_circle:"
    title = skipped_title(record.tool, language) if skipped else tool_title(record.tool, record.input, direct=direct)
    if record.server and not skipped:
        title += escape_markdown(f" · MCP server {record.server}")
    if failed:
        title += outcome_label(record)
    with st.expander(title, expanded=True, icon=icon):
        st.code(code, language=language, wrap_lines=True)
        if rerun is not None and key and record.tool in ("execute_code", "execute_command"):
            _edit_and_rerun(code, language, key, rerun)
        if record.result is not None:
            render_result(record.result, key=key)
        elif failed:
            st.error(escape_markdown(record.text[:2000]), icon=":material/error:")
        elif skipped:
            st.info(escape_markdown(record.text[:2000]), icon=SKIPPED_ICON)
        else:
            st.code(record.text, language=None, wrap_lines=True)
        for name in record.saved_files:
            st.caption(f":material/save: Saved to the workspace: code-interpreter/{escape_markdown(name)}")
        if files is not None and (files_key or key):
            render_changed_files(record.changed_files, files, files_key or key)


def outcome_label(record: ToolRecord) -> str:
    """What the title of a step that did not succeed adds, in colour: read at a glance, not only by its icon."""
    result = record.result
    if result is not None and result.stopped is not None:
        return " · :orange[stopped]"
    if result is not None and result.error is None and result.exit_code not in (None, 0):
        return f" · :red[exit code {result.exit_code}]"
    return " · :red[failed]"


def render_live_step(step: LiveStep) -> DeltaGenerator:
    """The tool call happening now: its code as the model writes it, then its output as the code produces it.

    Returns:
        The code's slot, for updating it alone while the model writes more of it.

    """
    seconds = int(step.elapsed)
    title = tool_title(step.tool, step.input, tense=step.phase) + f" … {seconds} s"
    # Not ``with st.status(...)``: leaving that block marks the status complete (a success tick) until the next
    # redraw, though the step still runs. Its inner container is entered instead; the state stays "running".
    with st.status(title, state="running", expanded=True).container():
        code_box = render_live_code(step)
        if step.result is not None:
            render_result(step.result)
    return code_box


def render_live_code(step: LiveStep, code_box: DeltaGenerator | None = None) -> DeltaGenerator:
    """The live step's code, with a cursor while the model still writes it.

    Args:
        step: The step being written or run.
        code_box: What an earlier call returned, to draw the code in its place; None to draw it here.

    Returns:
        The code's element, to draw it again in place.

    """
    code, language = tool_code(step.tool, step.input)
    draw = st.code if code_box is None else code_box.code
    return draw(code + (" ▌" if step.phase == "writing" else ""), language=language, wrap_lines=True)


class LiveText:
    """An answer's text as it streams: each settled block drawn once, in an element of its own; the rest redrawn.

    Each update of a markdown element makes the browser parse, lay out and paint all of its text again: with the
    whole answer in one element, watching cost more the longer the answer grew (Chromium's renderer 5.9 % of a core
    over a story's first 20 s, 10.7 % over its third). See :func:`core.text.settled_blocks` for where it cuts.
    Settled blocks are drawn together once they hold :data:`BLOCK_CHARS` characters, so an answer of many tiny
    paragraphs does not fill the page with elements (each costs the browser a little at every update).
    """

    BLOCK_CHARS = 400

    def __init__(self, holder: DeltaGenerator, text: str) -> None:
        """Draw ``text`` into ``holder``, ready to grow.

        Args:
            holder: The container the answer's text takes (a container, not an ``st.empty`` filled afterwards:
                the browser keeps the elements of a container drawn again, so the text's element is updated in
                place; an empty sent on its own, as the server may flush between two calls, drops them).
            text: The answer so far.

        """
        self._holder = holder
        self._tail: DeltaGenerator | None = None  # the element of the text after the settled blocks
        self._drawn = 0  # blocks drawn for good
        self.show(text)

    def show(self, text: str) -> None:
        """Show ``text``, which starts with the text shown before: only what changed is sent."""
        blocks, rest = settled_blocks(text)
        pending = "\n\n".join(blocks[self._drawn :])  # a blank line between blocks renders as the blank lines did
        if len(pending) >= self.BLOCK_CHARS:
            self._draw_tail(safe_markdown(pending))
            self._tail, self._drawn, pending = None, len(blocks), ""
        self._draw_tail(safe_markdown(f"{pending}\n\n{rest}" if pending else rest) + " ▌")

    def _draw_tail(self, markdown: str) -> None:
        self._tail = (self._holder if self._tail is None else self._tail).markdown(markdown)


LANGUAGE_NAMES = {"python": "Python", "javascript": "JavaScript", "typescript": "TypeScript", "r": "R", "bash": "shell"}


def direct_run_summary(text: str) -> str | None:
    """What a message that runs code directly says in the chat, or None for any other message.

    The code itself is shown once, in the step that runs it; the message only says what was sent.
    """
    direct = parse_direct_run(text)
    if direct is None:
        return None
    if direct[0] == "execute_command":
        return ":material/terminal: Sent a shell command to run; it is shown in the step below."
    code = str(direct[1].get("code", ""))
    language = LANGUAGE_NAMES.get(language := str(direct[1].get("language") or "python"), language)
    lines = code.count("\n") + 1
    plural = "s" if lines != 1 else ""
    return f":material/play_arrow: Sent {language} code to run ({lines:,} line{plural}); it is shown in the step below."


def _render_message(text: str) -> None:
    """A person's message; code sent to run is summed up in one line (the step below shows the code)."""
    summary = direct_run_summary(text)
    st.markdown(safe_markdown(text) if summary is None else summary)


def render_event(
    event: ChatEvent,
    *,
    key: str = "",
    rerun: Callable[[str], object] | None = None,
    files: SessionFiles | None = None,
) -> None:
    """One event inside a chat message (``key`` and ``rerun`` enable editing a tool step's code).

    With ``files``, the files a step made and the files an answer names get download buttons.
    """
    files_key = key or f"event_{event.created!r}".replace(".", "_")
    if event.kind == "user":
        _render_message(event.text)
    elif event.kind == "assistant":
        answer = link_answer(event.text, files, download_address(files) if files is not None else None)
        st.markdown(safe_markdown(answer.markdown))
        if files is not None:
            render_answer_images(answer.images, files)
            render_answer_files(answer.files, files, files_key)
    elif event.kind == "tool" and event.tool is not None:
        source = event.source == "direct"
        render_tool_step(event.tool, direct=source, key=key, rerun=rerun, files=files, files_key=files_key)
    elif event.kind == "notice":
        {"error": st.error, "warning": st.warning}.get(event.level, st.info)(safe_markdown(event.text))


def _role(event: ChatEvent) -> str:
    return "user" if event.kind == "user" else "assistant"


def render_events(
    events: Sequence[ChatEvent],
    *,
    first: int = 0,
    rerun: Callable[[str], object] | None = None,
    files: SessionFiles | None = None,
) -> None:
    """Events as chat messages: consecutive events of one side share one message.

    Args:
        events: The events, oldest first.
        first: The number of the first event in the conversation (keys stay the same as the window moves).
        rerun: Sends a message that runs code directly; enables "Edit and re-run" on code steps.
        files: The session's files: steps' files and files answers name get download buttons.

    """
    group: list[tuple[int, ChatEvent]] = []
    for number, event in enumerate(events, start=first):
        if group and _role(group[-1][1]) != _role(event):
            _render_group(group, rerun, files)
            group = []
        group.append((number, event))
    if group:
        _render_group(group, rerun, files)


def _render_group(
    group: list[tuple[int, ChatEvent]], rerun: Callable[[str], object] | None, files: SessionFiles | None
) -> None:
    with st.chat_message(_role(group[0][1])):
        for number, event in group:
            render_event(event, key=f"step_{number}" if rerun is not None else "", rerun=rerun, files=files)
