"""Export buttons: the conversation as a Jupyter notebook, or the notebook and the workspace in one ZIP.

Both downloads are lazy: the notebook and the ZIP are built only when clicked; the ZIP, which holds the whole
workspace, is written to disk and streamed (a download link, see :mod:`components.download_links`). Every widget
key starts with ``export_``.
"""

from __future__ import annotations

from typing import BinaryIO

import streamlit as st

from components.download_links import download_link
from core.chat.conversations import DEFAULT_TITLE
from core.chat.engine import ChatEngine
from core.chat.notebook import export_everything, export_file_name, notebook_bytes, transcript_to_notebook

PREFIX = "export_"


def conversation_title(engine: ChatEngine) -> str:
    """The conversation's title, which names its downloads."""
    conversation = engine.store.get(engine.session.conversation_id)
    return conversation.title if conversation is not None else DEFAULT_TITLE


def render_export_buttons(engine: ChatEngine) -> None:
    """Two download buttons: "Export notebook (.ipynb)" and "Download everything (.zip)".

    Args:
        engine: The conversation's engine (its transcript, title and workspace).

    """
    title = conversation_title(engine)

    def notebook() -> bytes:
        return notebook_bytes(transcript_to_notebook(engine.transcript.events(), title=title))

    def everything(target: BinaryIO) -> None:
        export_everything(engine.transcript.events(), engine.session.workspace, target, title=title)

    st.download_button(
        "Export notebook (.ipynb)",
        data=notebook,
        file_name=export_file_name(title, ".ipynb"),
        mime="application/x-ipynb+json",
        key=PREFIX + "notebook",
        icon=":material/book_2:",
        on_click="ignore",
    )
    session = engine.session
    download_link(
        "Download everything (.zip)",
        (session.user_id, session.conversation_id, "everything"),
        export_file_name(title, ".zip"),
        "application/zip",
        everything,
        icon=":material/folder_zip:",
    )
