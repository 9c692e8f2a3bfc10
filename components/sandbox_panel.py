"""The sandbox's isolation status."""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.errors import InterpreterError
from core.sandbox.isolation import IsolationReport
from core.session import Session
from core.text import escape_markdown

LIVE_LIMIT = 40


def render_isolation(report: IsolationReport) -> None:
    """Say plainly what isolates the sandbox, and warn when it is weaker than it should be."""
    for warning in report.warnings:
        st.warning(escape_markdown(warning), icon=":material/shield:")  # may quote pip's output
    with st.expander("Sandbox isolation and packages", icon=":material/shield:"):
        st.caption(f"Isolation: {report.mechanism} · network: {report.network}")
        st.caption(" · ".join(report.limits))
        if report.packages:
            st.caption(escape_markdown(report.packages))


def render_live_files(placeholder: DeltaGenerator, session: Session) -> None:
    """A compact, widget-free view of the files, redrawn after each tool call while a turn runs."""
    try:
        files = [f for f in session.sandbox.list_files(".", recursive=True) if not f.is_dir]
        saved = session.workspace.list()
    except InterpreterError:
        return
    with placeholder.container():
        st.caption(f"Sandbox: {len(files)} files · Workspace: {len(saved)} files (updating while the agent works)")
        lines = [f"{f.path}  ({f.size:,} bytes)" for f in files[:LIVE_LIMIT]]
        lines += [f"code-interpreter/{f.path}  ({f.size:,} bytes)" for f in saved[:LIVE_LIMIT]]
        if lines:
            st.code("\n".join(lines), language=None)
