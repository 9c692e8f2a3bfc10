"""Run code directly in this browser session's sandbox (the chat arrives in the next release)."""

from __future__ import annotations

import streamlit as st

from components.results import render_result
from components.sandbox_panel import render_file_list, render_isolation
from components.state import engine_session

EXAMPLE = (
    "import pandas as pd\ndf = pd.DataFrame({'x': range(5), 'y': [v * v for v in range(5)]})\ndf.plot(x='x', y='y')\ndf"
)

session = engine_session()
st.title("Code interpreter sandbox")
language = st.selectbox("Language", ["python", "javascript", "typescript", "bash"])
code = st.text_area("Code", value=EXAMPLE if language == "python" else "", height=200)
if st.button("Run", type="primary") and code.strip():
    with st.spinner("Running..."):
        if language == "bash":
            result = session.sandbox.run_command(code)
        else:
            result = session.sandbox.execute(code, language=language)
    render_result(result)

with st.sidebar:
    st.subheader("Sandbox")
    render_isolation(session.sandbox.isolation_report())
    render_file_list(session.sandbox.list_files(".", recursive=True))
