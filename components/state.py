"""The one owner of ``st.session_state``: the engine session of this browser session."""

from __future__ import annotations

import secrets

import streamlit as st

from core.config import Settings
from core.session import Session, open_session

SESSION_KEY = "engine_session"
SETTINGS_KEY = "settings"


@st.cache_resource
def app_settings() -> Settings:
    """The settings, read once per server process from the environment and ``.env``."""
    return Settings()


def engine_session() -> Session:
    """This browser session's engine session, opened on first use with an unguessable conversation id."""
    session = st.session_state.get(SESSION_KEY)
    if session is None or session.sandbox.closed:
        session = open_session(f"c-{secrets.token_urlsafe(12)}", app_settings())
        st.session_state[SESSION_KEY] = session
    return session  # type: ignore[no-any-return]
