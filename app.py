"""The app's frame: page set-up, the optional login, and navigation. Run with ``./dev.sh app``."""

from __future__ import annotations

import streamlit as st

from components.auth import render_account, render_login_gate

st.set_page_config(page_title="Code interpreter", page_icon="🧪", layout="wide")
if not render_login_gate():
    st.stop()
pages = [
    st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True),
    st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
]
navigation = st.navigation(pages)
with st.sidebar:
    render_account()
navigation.run()
