"""Uploads: files from the sidebar uploader or the chat input go into the sandbox before the next turn."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import streamlit as st

from components.state import holder
from core.chat.engine import ChatEngine
from core.chat.transcript import ChatEvent
from core.errors import InterpreterError
from core.text import escape_markdown, fence
from core.uploads import describe_tree


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


def preload_uploads(engine: ChatEngine, files: Iterable[UploadedFile]) -> None:
    """Put each new upload into the sandbox, tell the agent what arrived, and note it in the chat."""
    seen = holder().seen_uploads
    for upload in files:
        if upload.file_id in seen:
            continue
        seen.add(upload.file_id)
        with st.spinner(f"Unpacking {escape_markdown(upload.name)} into the sandbox…"):
            try:
                paths = engine.session.preload(upload.name, upload.getvalue())
            except InterpreterError as exc:
                refused = escape_markdown(f"Upload refused: {exc}")
                engine.add_event(ChatEvent(kind="notice", level="error", text=refused))
                continue
        engine.tell_agent(engine.session.describe_upload(upload.name, paths))
        engine.add_event(ChatEvent(kind="notice", text=upload_notice(upload.name, describe_tree(paths))))
