"""The one owner of ``st.session_state``: this browser session's conversation, engine and upload bookkeeping.

Engines (sandbox, workspace, agent) live as long as the browser session: when Streamlit drops the session,
the holder below is garbage-collected and its finaliser closes them (the idle reaper frees kernels earlier).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import streamlit as st

from components.auth import current_user_id
from core.agent import ChatEngine
from core.config import Settings
from core.conversations import ConversationStore
from core.errors import InterpreterError
from core.models import build_model, describe_choice, effective_choice
from core.session import Session, open_session

QUERY_KEY = "c"
HOLDER_KEY = "engines"


@st.cache_resource
def app_settings() -> Settings:
    """The settings, read once per server process from the environment and ``.env``."""
    return Settings()


def conversation_store() -> ConversationStore:
    """The conversations of the person using this browser session."""
    return ConversationStore(app_settings(), current_user_id())


@dataclass
class EngineHolder:
    """This browser session's open engines, by conversation id, and what it already uploaded."""

    engines: dict[str, ChatEngine] = field(default_factory=dict)
    model_error: str = ""
    seen_uploads: set[str] = field(default_factory=set)
    resumed: set[str] = field(default_factory=set)


def _close_engines(engines: dict[str, ChatEngine]) -> None:
    for engine in engines.values():
        engine.close()
        engine.session.close()


def holder() -> EngineHolder:
    """This browser session's holder, created on first use."""
    current = st.session_state.get(HOLDER_KEY)
    if current is None:
        current = EngineHolder()
        weakref.finalize(current, _close_engines, current.engines)
        st.session_state[HOLDER_KEY] = current
    return current  # type: ignore[no-any-return]


def current_conversation_id() -> str:
    """The conversation in the URL (``?c=...``), or a new one put there."""
    store = conversation_store()
    wanted = st.query_params.get(QUERY_KEY, "")
    if wanted and store.get(wanted) is not None:
        return wanted
    conversation = store.create()
    st.query_params[QUERY_KEY] = conversation.id
    return conversation.id


def switch_conversation(conversation_id: str) -> None:
    """Show another conversation (its engine opens on first use)."""
    st.query_params[QUERY_KEY] = conversation_id


def new_conversation() -> None:
    """Start an empty conversation."""
    st.query_params[QUERY_KEY] = conversation_store().create().id


def delete_conversation(conversation_id: str) -> None:
    """Delete a conversation and everything of it; close its engine first."""
    engine = holder().engines.pop(f"{current_user_id()}/{conversation_id}", None)
    if engine is not None:
        engine.close()
        engine.session.close()
    conversation_store().delete(conversation_id)
    if st.query_params.get(QUERY_KEY) == conversation_id:
        del st.query_params[QUERY_KEY]


def model_label() -> str:
    """How the UI names the configured model."""
    return describe_choice(effective_choice(app_settings()))


def _engine_for(session: Session, state: EngineHolder) -> ChatEngine:
    choice = effective_choice(app_settings())
    try:
        model = build_model(choice)
        state.model_error = ""
    except InterpreterError as exc:
        model, state.model_error = None, str(exc)
    return ChatEngine(session, model, describe_choice(choice), conversation_store())


def _close_idle_engines(state: EngineHolder, keep: str) -> None:
    """Close the engines of conversations this browser left (not busy ones): one open sandbox per tab."""
    for key, engine in list(state.engines.items()):
        if key != keep and not engine.busy:
            engine.close()
            engine.session.close()
            del state.engines[key]


def chat_engine(conversation_id: str) -> ChatEngine:
    """The engine of a conversation for this browser session, opened (or rebuilt after a model change)."""
    state = holder()
    if st.session_state.pop("model_changed", False):
        for cid, engine in list(state.engines.items()):
            if not engine.busy:
                engine.close()
                state.engines[cid] = _engine_for(engine.session, state)
    key = f"{current_user_id()}/{conversation_id}"
    existing = state.engines.get(key)
    if existing is not None and not existing.session.sandbox.closed:
        return existing
    _close_idle_engines(state, keep=key)
    session = open_session(conversation_id, app_settings(), user_id=current_user_id())
    engine = _engine_for(session, state)
    engine.note_resumed()
    state.engines[key] = engine
    return engine
