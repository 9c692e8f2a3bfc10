"""The conversation list: new, switch, rename, delete."""

from __future__ import annotations

import streamlit as st

from components.state import conversation_store, delete_conversation, new_conversation, switch_conversation
from core.errors import InterpreterError
from core.text import escape_markdown

MAX_LISTED = 30


def render_conversations(current_id: str) -> None:
    """The list of conversations, with the current one's rename and delete controls."""
    st.button("New conversation", on_click=new_conversation, icon=":material/add:", use_container_width=True)
    store = conversation_store()
    conversations = [c for c in store.list() if c.id == current_id or store.transcript(c.id).exists()]
    for conversation in conversations[:MAX_LISTED]:
        is_current = conversation.id == current_id
        st.button(
            escape_markdown(conversation.title),
            key=f"conversation_{conversation.id}",
            on_click=switch_conversation,
            args=(conversation.id,),
            type="primary" if is_current else "secondary",
            use_container_width=True,
        )
    current = store.get(current_id)
    if current is None:
        return
    with st.expander("This conversation"):
        title = st.text_input("Title", value=current.title, key=f"title_{current_id}")
        if st.button("Rename", key="rename_conversation") and title != current.title:
            try:
                store.rename(current_id, title)
                st.rerun()
            except InterpreterError as exc:
                st.error(escape_markdown(str(exc)))
        if st.button("Delete conversation", key="delete_conversation", icon=":material/delete:"):
            delete_conversation(current_id)
            st.rerun()
