"""The sandbox's isolation status: one short line per warning, the details and the limits in an expander."""

from __future__ import annotations

import re

import streamlit as st

from core.sandbox.local.isolation import IsolationReport
from core.text import escape_markdown

HEADLINE_CHARS = 40
"""A warning's first line is cut to this many characters, so that it fits the side panel on one line."""
WARNING_STYLE = """<style>
[class*="st-key-isolation_warning_"] [data-testid="stMarkdownContainer"] p {
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
</style>"""

NUMBER_AND_UNIT = re.compile(r"(\d) (B|KB|MB|GB|s|min|cores?)\b")


def unbroken(text: str) -> str:
    """``text`` with each number joined to its unit by a non-breaking space (``1,800 s`` never breaks in two)."""
    return NUMBER_AND_UNIT.sub("\\1\u00a0\\2", text)


def headline(warning: str) -> str:
    """A warning's first words: up to its first colon or full stop, cut at :data:`HEADLINE_CHARS` characters.

    ``"Reduced isolation: bubblewrap is not available, ..."`` gives ``"Reduced isolation"``.
    """
    cuts = [index for index in (warning.find(": "), warning.find(". ")) if index > 0]
    words = warning[: min(cuts)] if cuts else warning.rstrip(".")
    if len(words) > HEADLINE_CHARS:
        words = words[: HEADLINE_CHARS - 1].rsplit(" ", 1)[0].rstrip(",;(") + "…"
    return words


def render_isolation(report: IsolationReport) -> None:
    """Say plainly what isolates the sandbox; each weakness as one line, what it means and what to do on request."""
    if report.warnings:
        st.html(WARNING_STYLE)
    for number, warning in enumerate(report.warnings):
        with st.container(key=f"isolation_warning_{number}"):
            st.warning(escape_markdown(headline(warning)), icon=":material/shield:")  # may quote pip's output
    label = "Sandbox isolation, warnings and packages" if report.warnings else "Sandbox isolation and packages"
    with st.expander(label):  # no icon: an icon would take the arrow's place
        for warning in report.warnings:
            st.caption(f":material/shield: {unbroken(escape_markdown(warning))}")
        st.caption(f"Isolation: {report.mechanism} · network: {report.network}")
        st.caption(unbroken(" · ".join(report.limits)))
        if report.persists:
            st.caption(unbroken(escape_markdown(report.persists)))
        if report.packages:
            st.caption(escape_markdown(report.packages))
