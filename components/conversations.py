"""The conversation list: new, switch, rename, delete (after a confirmation, then said in a toast)."""

from __future__ import annotations

import streamlit as st

from components.state import conversation_store, delete_conversation, new_conversation, switch_conversation
from core.chat.conversations import DEFAULT_TITLE, Conversation
from core.errors import InterpreterError
from core.text import escape_markdown

MAX_LISTED = 30
UNTITLED = "Untitled conversation"
CONFIRM_KEY = "conversations_confirm_delete"
DELETED_KEY = "conversations_deleted"


def shown_title(conversation: Conversation) -> str:
    """The title the list shows: an untitled conversation is not named like the "New conversation" action."""
    return UNTITLED if conversation.title == DEFAULT_TITLE else conversation.title


def _ask_to_delete(conversation_id: str) -> None:
    st.session_state[CONFIRM_KEY] = conversation_id


def _cancel_delete() -> None:
    st.session_state.pop(CONFIRM_KEY, None)


def _delete(conversation: Conversation) -> None:
    st.session_state.pop(CONFIRM_KEY, None)
    delete_conversation(conversation.id)
    st.session_state[DELETED_KEY] = shown_title(conversation)


def _say_what_was_deleted() -> None:
    title = st.session_state.pop(DELETED_KEY, None)
    if title is not None:
        st.toast(f"Deleted “{escape_markdown(title)}” with its files and results.", icon=":material/delete:")


CURRENT_STYLE = """<style>
[class*="st-key-conversation_current_"] {
  background: color-mix(in srgb, var(--primary-color, #ff4b4b) 8%, transparent);
  border-left: 3px solid var(--primary-color, #ff4b4b) !important;
}
</style>"""
"""The current conversation reads as the selected item of the list (tinted, with a bar on its left)."""


def _render_list(current_id: str) -> None:
    """Every conversation: the current one as the selected item, the others as buttons that open them."""
    store = conversation_store()
    conversations = [c for c in store.list() if c.id == current_id or store.transcript(c.id).exists()]
    st.html(CURRENT_STYLE)
    for conversation in conversations[:MAX_LISTED]:
        title = escape_markdown(shown_title(conversation))
        if conversation.id == current_id:
            with st.container(border=True, key=f"conversation_current_{conversation.id}"):
                st.markdown(f":material/chat: **{title}**")
            continue
        st.button(
            title,
            key=f"conversation_{conversation.id}",
            on_click=switch_conversation,
            args=(conversation.id,),
            icon=":material/chat_bubble_outline:",
            use_container_width=True,
        )


def _render_delete(current: Conversation) -> None:
    """The "Delete conversation" button, then a confirmation that names what goes."""
    if st.session_state.get(CONFIRM_KEY) != current.id:
        st.button(
            "Delete conversation",
            key="delete_conversation",
            icon=":material/delete:",
            on_click=_ask_to_delete,
            args=(current.id,),
        )
        return
    st.warning(
        f"Delete “{escape_markdown(shown_title(current))}” with its sandbox files and workspace results? "
        "This cannot be undone."
    )
    confirm, cancel = st.columns(2)
    confirm.button("Delete", key="delete_conversation_confirm", type="primary", on_click=_delete, args=(current,))
    cancel.button("Cancel", key="delete_conversation_cancel", on_click=_cancel_delete)


def render_conversations(current_id: str) -> None:
    """The list of conversations, with the current one's rename and delete controls."""
    _say_what_was_deleted()
    st.button("New conversation", on_click=new_conversation, icon=":material/add:", use_container_width=True)
    _render_list(current_id)
    store = conversation_store()
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
        _render_delete(current)
