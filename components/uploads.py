"""Uploads: files from the sidebar uploader or the chat input go into the sandbox before the next turn."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import streamlit as st

from components.state import holder
from core.chat.engine import ChatEngine
from core.chat.transcript import ChatEvent
from core.errors import InterpreterError
from core.uploads import describe_tree


class UploadedFile(Protocol):
    """What Streamlit's uploaded files offer."""

    file_id: str
    name: str
    size: int

    def getvalue(self) -> bytes:
        """The file's bytes."""
        ...


def preload_uploads(engine: ChatEngine, files: Iterable[UploadedFile]) -> None:
    """Put each new upload into the sandbox, tell the agent what arrived, and note it in the chat."""
    seen = holder().seen_uploads
    for upload in files:
        if upload.file_id in seen:
            continue
        seen.add(upload.file_id)
        with st.spinner(f"Unpacking {upload.name} into the sandbox…"):
            try:
                paths = engine.session.preload(upload.name, upload.getvalue())
            except InterpreterError as exc:
                engine.add_event(ChatEvent(kind="notice", level="error", text=f"Upload refused: {exc}"))
                continue
        engine.tell_agent(engine.session.describe_upload(upload.name, paths))
        tree = describe_tree(paths)
        notice = f":material/attach_file: **{upload.name}** is in the sandbox:\n\n```text\n{tree}\n```"
        engine.add_event(ChatEvent(kind="notice", text=notice))
