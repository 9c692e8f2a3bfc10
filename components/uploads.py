"""Uploads: files from the sidebar uploader or the chat input go into the sandbox before the next turn.

The uploader empties itself once it handled its files (a new widget key per round) and lists below it what
arrived and what was refused, with the reason; the chat says the same. The server's copy of each handled file is
released at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import streamlit as st
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

from components.state import holder
from core.chat.engine import ChatEngine
from core.chat.transcript import ChatEvent
from core.errors import InterpreterError
from core.files.uploads import describe_tree
from core.text import escape_markdown, fence


class UploadedFile(Protocol):
    """What Streamlit's uploaded files offer."""

    file_id: str
    name: str
    size: int

    def getvalue(self) -> bytes:
        """The file's bytes."""
        ...


def upload_notice(name: str, tree: str) -> str:
    """The chat's note on an upload, as Markdown: its name and the tree of what arrived, both shown literally.

    The tree sits in a code fence longer than any run of backticks in it, so an entry named with backticks
    cannot close the fence and turn the rest into Markdown.
    """
    return f":material/attach_file: **{escape_markdown(name)}** is in the sandbox:\n\n{fence(tree, 'text')}"


@dataclass(frozen=True)
class UploadOutcome:
    """What became of one uploaded file: in the sandbox (``refused`` empty), or refused and why."""

    name: str
    refused: str = ""
    count: int = 0


def _preload_one(engine: ChatEngine, upload: UploadedFile) -> UploadOutcome:
    """Put one upload into the sandbox, tell the agent, and note it in the chat (a refusal too)."""
    with st.spinner(f"Unpacking {escape_markdown(upload.name)} into the sandbox…"):
        try:
            paths = engine.session.preload(upload.name, upload.getvalue())
        except InterpreterError as exc:
            engine.add_event(ChatEvent(kind="notice", level="error", text=escape_markdown(f"Upload refused: {exc}")))
            return UploadOutcome(upload.name, refused=str(exc))
    engine.tell_agent(engine.session.describe_upload(upload.name, paths))
    engine.add_event(ChatEvent(kind="notice", text=upload_notice(upload.name, describe_tree(paths))))
    return UploadOutcome(upload.name, count=len(paths))


def preload_uploads(engine: ChatEngine, files: Iterable[UploadedFile]) -> list[UploadOutcome]:
    """Put each new upload into the sandbox, tell the agent what arrived, and note it in the chat.

    Returns:
        What became of each new upload (files this tab already handled are skipped).

    """
    seen = holder().seen_uploads
    outcomes = []
    for upload in files:
        if upload.file_id not in seen:
            seen.add(upload.file_id)
            outcomes.append(_preload_one(engine, upload))
    return outcomes


def _uploaded(engine: ChatEngine, key: str) -> None:
    """The uploader's callback: handle its files, then give the tab a new, empty uploader."""
    tab = holder()
    files = st.session_state.get(key) or []
    tab.upload_outcomes = preload_uploads(engine, files)
    tab.upload_conversation = engine.session.conversation_id
    tab.upload_round += 1
    release(files)


def release(files: Iterable[UploadedFile]) -> None:
    """Free the server memory Streamlit holds for handled uploads (else it keeps every one until the tab closes).

    Streamlit's chat input does the same for its own attachments once they are read.
    """
    context = get_script_run_ctx()
    if context is None or not isinstance(context.uploaded_file_mgr, MemoryUploadedFileManager):
        return  # only Streamlit's in-memory manager (the one it ships) can remove a file
    for upload in files:
        context.uploaded_file_mgr.remove_file(context.session_id, upload.file_id)


def _render_outcome(outcome: UploadOutcome) -> None:
    name = escape_markdown(outcome.name)
    if outcome.refused:
        st.error(f"**{name}** was refused: {escape_markdown(outcome.refused)}", icon=":material/block:")
        return
    files = f"{outcome.count:,} file{'s' if outcome.count != 1 else ''}"
    st.caption(f":material/check_circle: **{name}**: {files} in the sandbox")


def render_uploader(engine: ChatEngine) -> None:
    """The side panel's uploader; what it handled leaves it and is listed below it, refusals with their reason."""
    tab = holder()
    limit = engine.session.settings.max_upload_mb
    key = f"uploader_{tab.upload_round}"
    st.file_uploader(
        "Upload files (ZIPs are unpacked)",
        accept_multiple_files=True,
        key=key,
        on_change=_uploaded,
        args=(engine, key),
        max_upload_size=limit,
        help=(
            f"Up to {limit:,} MB per file. Your browser refuses a bigger file before sending anything: it is marked "
            "red here (or in the chat box) and never reaches the sandbox."
        ),
    )
    if tab.upload_conversation == engine.session.conversation_id:
        for outcome in tab.upload_outcomes:
            _render_outcome(outcome)
