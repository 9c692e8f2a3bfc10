"""The sandbox's isolation status and its files."""

from __future__ import annotations

import streamlit as st

from core.sandbox.isolation import IsolationReport
from core.types import FileInfo


def render_isolation(report: IsolationReport) -> None:
    """Say plainly what isolates the sandbox, and warn when it is weaker than it should be."""
    for warning in report.warnings:
        st.warning(warning)
    st.caption(f"Isolation: {report.mechanism} · network: {report.network}")
    st.caption(" · ".join(report.limits))


def render_file_list(files: list[FileInfo]) -> None:
    """A compact list of sandbox files with sizes."""
    if not files:
        st.caption("No files yet.")
        return
    for info in files:
        size = "" if info.is_dir else f" · {info.size:,} bytes"
        st.text(f"{'📁' if info.is_dir else '📄'} {info.path}{size}")
