"""The app's frame: page set-up and navigation. Run with ``./dev.sh app``."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Code interpreter", page_icon="🧪", layout="wide")
navigation = st.navigation([st.Page("pages/sandbox.py", title="Sandbox", icon="🧪", default=True)])
navigation.run()
