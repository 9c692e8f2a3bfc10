"""The conversation list: new, switch, rename, delete (after a confirmation, then said in a toast)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from components.state import conversation_store, delete_conversation, new_conversation, switch_conversation
from core.chat.conversations import DEFAULT_TITLE, Conversation
from core.errors import InterpreterError
from core.text import escape_markdown

MAX_LISTED = 30  # listed at first; "Show older conversations" lists as many more
LISTED_KEY = "conversations_listed"
SCROLL_AFTER = 6  # more conversations than this scroll in a box LIST_HEIGHT pixels high
LIST_HEIGHT = 330
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


LIST_STYLE = """<style>
[class*="st-key-conversation_current_"] {
  background: rgba(128, 128, 128, 0.12);
  border-color: transparent !important;
  padding: 0.45rem 0.75rem !important;
}
[class*="st-key-conversation_current_"] p { font-size: 0.875rem; padding-left: 1.5rem; text-indent: -1.5rem; }
[class*="st-key-conversation_current_"] p > span[role="img"] { width: 1.3rem; text-indent: 0; }
[class*="st-key-conversation_c-"] button { justify-content: flex-start; text-align: left; }
[class*="st-key-conversation_c-"] button > div { justify-content: flex-start; }
</style>"""
"""The list reads as a list: titles left-aligned, the current conversation on a calm grey background, its icon and
title where the other items have theirs (its icon, 1.5rem with the space after it, hangs in the margin its wrapped
lines keep)."""


def _browser_zone() -> tzinfo | None:
    """The time zone of the person's browser, when Streamlit knows it (else the server's)."""
    try:
        name = st.context.timezone
    except Exception:  # outside a page run (tests), or an older Streamlit
        return None
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def last_used(updated: float, now: float | None = None, zone: tzinfo | None = None, *, seconds: bool = False) -> str:
    """When a conversation was last used, as people say it: ``today 13:05``, ``yesterday 09:12``, ``3 Dec``.

    Args:
        updated: Seconds since the epoch.
        now: The time to compare with (seconds since the epoch; now when ``None``).
        zone: The time zone to speak in (the server's when ``None``).
        seconds: Whether a time of today or yesterday has its seconds too (``today 13:05:42``).

    Returns:
        The day (with the time for today and yesterday); the year too when it is not this year's.

    """
    then = datetime.fromtimestamp(updated, zone).astimezone(zone)
    today = datetime.fromtimestamp(time.time() if now is None else now, zone).astimezone(zone).date()
    clock = f"{then:%H:%M:%S}" if seconds else f"{then:%H:%M}"
    if then.date() == today:
        return f"today {clock}"
    if then.date() == today - timedelta(days=1):
        return f"yesterday {clock}"
    day = f"{then.day} {then:%b}"
    return day if then.year == today.year else f"{day} {then.year}"


def _when_shown(conversations: list[Conversation], zone: tzinfo | None) -> list[str]:
    """When each was last used; to the second where two of the same title would otherwise read alike."""
    minutes = [last_used(c.updated or c.created, zone=zone) for c in conversations]
    seen = Counter(zip((shown_title(c) for c in conversations), minutes, strict=True))
    return [
        last_used(c.updated or c.created, zone=zone, seconds=True) if seen[(shown_title(c), when)] > 1 else when
        for c, when in zip(conversations, minutes, strict=True)
    ]


def _render_list(current_id: str) -> None:
    """Every conversation: the current one as the selected item, the others as buttons that open them.

    A long list scrolls in a box of its own, so the uploader and the files below it stay in reach.
    """
    store = conversation_store()
    everything = [c for c in store.list() if c.id == current_id or store.transcript(c.id).exists()]
    listed = int(st.session_state.get(LISTED_KEY, MAX_LISTED))
    conversations = everything[:listed]
    st.html(LIST_STYLE)
    box = st.container(height=LIST_HEIGHT, border=False) if len(conversations) > SCROLL_AFTER else st.container()
    with box:
        _render_items(conversations, current_id)
        if len(everything) > listed:
            st.button(
                f"Show older conversations ({len(everything) - listed:,} more)",
                key="conversations_more",
                type="tertiary",
                icon=":material/expand_more:",
                on_click=_list_more,
                args=(listed,),
            )


def _list_more(listed: int) -> None:
    st.session_state[LISTED_KEY] = listed + MAX_LISTED


def _render_items(conversations: list[Conversation], current_id: str) -> None:
    for conversation, when in zip(conversations, _when_shown(conversations, _browser_zone()), strict=True):
        title = escape_markdown(shown_title(conversation))
        if conversation.id == current_id:
            with st.container(border=True, key=f"conversation_current_{conversation.id}"):
                st.markdown(f":material/chat: {title} :gray[· {when}]")
            continue
        st.button(
            f"{title} :gray[· {when}]",
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


def _title_box(current: Conversation) -> str:
    """The key of the title box, which shows the stored title again whenever that changes.

    A conversation is titled after its first message, after the box was first drawn: the box kept "Untitled
    conversation", and Rename then gave the conversation that name back.
    """
    key, stored = f"title_{current.id}", shown_title(current)
    if st.session_state.get(f"{key}_stored") != stored:
        st.session_state[f"{key}_stored"] = stored
        st.session_state[key] = stored
    return key


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
        title = st.text_input("Title", key=_title_box(current))  # its value: the stored title, or as typed
        if st.button("Rename", key="rename_conversation") and title != shown_title(current):
            try:
                store.rename(current_id, title)
                st.rerun()
            except InterpreterError as exc:
                st.error(escape_markdown(str(exc)))
        _render_delete(current)
