"""The app's frame: page set-up and navigation. Run with ``./dev.sh app``."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Code interpreter", page_icon="🧪", layout="wide")
pages = [
    st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True),
    st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
]
st.navigation(pages).run()
