"""The sandbox's isolation status."""

from __future__ import annotations

import streamlit as st

from core.sandbox.local.isolation import IsolationReport
from core.text import escape_markdown


def render_isolation(report: IsolationReport) -> None:
    """Say plainly what isolates the sandbox, and warn when it is weaker than it should be."""
    for warning in report.warnings:
        st.warning(escape_markdown(warning), icon=":material/shield:")  # may quote pip's output
    with st.expander("Sandbox isolation and packages"):  # no icon: an icon would take the arrow's place
        st.caption(f"Isolation: {report.mechanism} · network: {report.network}")
        st.caption(" · ".join(report.limits))
        if report.packages:
            st.caption(escape_markdown(report.packages))
