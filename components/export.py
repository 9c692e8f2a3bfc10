"""Export buttons: the conversation as a Jupyter notebook, or the notebook and the workspace in one ZIP.

Both downloads are lazy: the notebook and the ZIP are built only when their button is clicked. Every widget
key starts with ``export_``.
"""

from __future__ import annotations

import streamlit as st

from core.chat.engine import ChatEngine
from core.conversations import DEFAULT_TITLE
from core.notebook import export_everything, export_file_name, notebook_bytes, transcript_to_notebook

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

    def everything() -> bytes:
        return export_everything(engine.transcript.events(), engine.session.workspace, title=title)

    st.download_button(
        "Export notebook (.ipynb)",
        data=notebook,
        file_name=export_file_name(title, ".ipynb"),
        mime="application/x-ipynb+json",
        key=PREFIX + "notebook",
        icon=":material/book_2:",
        on_click="ignore",
    )
    st.download_button(
        "Download everything (.zip)",
        data=everything,
        file_name=export_file_name(title, ".zip"),
        mime="application/zip",
        key=PREFIX + "everything",
        icon=":material/folder_zip:",
        on_click="ignore",
    )
