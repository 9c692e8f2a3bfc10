"""The one owner of ``st.session_state`` and of the server's shared resources (settings, chat engines).

Engines (sandbox, workspace, agent) belong to the server process, not to a tab: see ``core.chat.registry``.
A tab keeps only what it already uploaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from components.auth import current_user_id
from core.chat.conversations import ConversationStore
from core.chat.engine import ChatEngine
from core.chat.registry import EngineRegistry
from core.config import Settings
from core.errors import InterpreterError
from core.models import ModelChoice, build_model, describe_choice, effective_choice
from core.session import Session, discard_session, open_session
from core.web.previews import PREVIEWS

QUERY_KEY = "c"
TAB_KEY = "tab_state"
CURRENT_KEY = "current_conversation"
"""The conversation this tab showed last: the Settings page and back (``st.navigation`` drops ``?c=``) return to it."""
REPEAT_SECONDS = 1.0
"""The same action with the same content within this time counts as one (see :func:`first_delivery`)."""


def first_delivery(action: str, *content: object) -> bool:
    """Whether this callback call is new, not the same one delivered again; callbacks that send act only then.

    Streamlit (1.67) can dispatch a widget's callback twice when a rerun request reaches the server while the
    run that handled it begins: the chat input's ``on_submit`` was seen twice, 17 ms apart, so a message queued
    during a turn ran twice. The same ``action`` with the same ``content`` within :data:`REPEAT_SECONDS` in one
    browser session is that repeat (no person sends the same message twice within a second).
    """
    key, now = f"delivered_{action}", time.monotonic()
    last = st.session_state.get(key)
    st.session_state[key] = (content, now)
    return last is None or last[0] != content or now - last[1] >= REPEAT_SECONDS


@st.cache_resource
def app_settings() -> Settings:
    """The settings, read once per server process from the environment and ``.env``."""
    return Settings()


def conversation_store() -> ConversationStore:
    """The conversations of the person using this browser session."""
    return ConversationStore(app_settings(), current_user_id())


@st.cache_resource
def engine_registry() -> EngineRegistry:
    """The chat engines of this server process, shared by every browser tab (turns outlive their tab)."""
    settings = app_settings()
    return EngineRegistry(settings.unwatched_turn_timeout, settings.idle_timeout)


@dataclass
class TabState:
    """What one browser tab remembers: the uploads it already handled, and what became of the latest ones."""

    seen_uploads: set[str] = field(default_factory=set)
    upload_round: int = 0
    """Numbers the uploader's key: a new number gives an empty uploader."""
    upload_outcomes: list[Any] = field(default_factory=list)
    """What became of the files of the uploader's latest round (``components.uploads.UploadOutcome``)."""
    upload_conversation: str = ""
    """The conversation those files went to: another conversation's panel does not list them."""


def holder() -> TabState:
    """This browser tab's state, created on first use."""
    current = st.session_state.get(TAB_KEY)
    if current is None:
        current = TabState()
        st.session_state[TAB_KEY] = current
    return current  # type: ignore[no-any-return]


def current_conversation_id() -> str:
    """The conversation in the URL (``?c=...``), else the one this tab showed last, else a new one; put in the URL.

    Switching pages (Chat → Settings → Chat) drops the URL's query parameters; the tab's last conversation brings
    the person back where they were.
    """
    store = conversation_store()
    wanted = st.query_params.get(QUERY_KEY, "") or st.session_state.get(CURRENT_KEY, "")
    if not wanted or store.get(wanted) is None:
        wanted = store.create().id
    if st.query_params.get(QUERY_KEY) != wanted:
        st.query_params[QUERY_KEY] = wanted
    st.session_state[CURRENT_KEY] = wanted
    return wanted


def switch_conversation(conversation_id: str) -> None:
    """Show another conversation (its engine opens on first use)."""
    st.query_params[QUERY_KEY] = conversation_id


def new_conversation() -> None:
    """Start an empty conversation."""
    st.query_params[QUERY_KEY] = conversation_store().create().id


def delete_conversation(conversation_id: str) -> None:
    """Delete a conversation and everything of it; close its engine first."""
    if not engine_registry().close(current_user_id(), conversation_id, for_good=True):
        discard_session(conversation_id, app_settings(), user_id=current_user_id())
    conversation_store().delete(conversation_id)
    PREVIEWS.forget(current_user_id(), conversation_id)  # its preview links and passes stop working
    if st.query_params.get(QUERY_KEY) == conversation_id:
        del st.query_params[QUERY_KEY]
    if st.session_state.get(CURRENT_KEY) == conversation_id:
        del st.session_state[CURRENT_KEY]


def model_label() -> str:
    """How the UI names the configured model."""
    return describe_choice(effective_choice(app_settings()))


def _new_engine(session: Session, choice: ModelChoice) -> ChatEngine:
    try:
        model, error = build_model(choice), ""
    except InterpreterError as exc:
        model, error = None, str(exc)
    engine = ChatEngine(session, model, describe_choice(choice), conversation_store(), model_error=error)
    engine.model_choice = choice
    return engine


def _open_engine(conversation_id: str, choice: ModelChoice) -> ChatEngine:
    session = open_session(conversation_id, app_settings(), user_id=current_user_id())
    engine = _new_engine(session, choice)
    engine.note_resumed()
    return engine


def chat_engine(conversation_id: str) -> ChatEngine:
    """The engine of a conversation (shared by every tab that shows it), rebuilt after a model change.

    Raises:
        InterpreterError: When the person has too many busy sessions, or a cloud backend cannot be reached.

    """
    settings, registry, user = app_settings(), engine_registry(), current_user_id()
    choice = effective_choice(settings)
    engine = registry.open(
        user, conversation_id, lambda: _open_engine(conversation_id, choice), settings.user_max_sessions
    )
    if engine.model_choice != choice and not engine.busy:  # the Settings page changed the model
        engine.close()
        engine = registry.replace(user, conversation_id, _new_engine(engine.session, choice))
    engine.watched()
    return engine
