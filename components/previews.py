"""Previews of one file's content (images, tables, charts, HTML, text) for the side panel.

A preview shows the file's bytes and nothing else: an SVG becomes a ``data:`` URL of its bytes (never text that
``st.image`` would read as a path or a URL of the server), HTML runs in a sandboxed frame, and names and errors
are shown literally (never as Markdown).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from components.frames import render_sandboxed_html
from core.archive import MAX_PREVIEW_BYTES, PREVIEW_ROWS, classify, extension, is_truncated, load_table
from core.errors import InterpreterError
from core.text import escape_markdown
from core.types import PLOTLY_JSON, guess_mime_type

TEXT_PREVIEW_CHARS = 20_000
HTML_HEIGHT = 400
CHART_HEIGHT = 320  # Plotly figures without a height of their own (the default 450 px is tall for a side panel)
CODE_LANGUAGES = {
    ".py": "python",
    ".js": "javascript",
    ".ts": "typescript",
    ".sh": "bash",
    ".sql": "sql",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".xml": "xml",
    ".json": "json",
    ".md": "markdown",
    ".html": "html",
    ".htm": "html",
}


def human_size(size: int) -> str:
    """A byte count as people read it: ``512 B``, ``1.5 KB``, ``3.2 MB``."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} B"


def printable(text: str) -> str:
    """A file name as text that can be shown (names that are not UTF-8 on disk get replacement characters)."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def svg_data_url(data: bytes) -> str:
    """An SVG file's bytes as a ``data:`` URL: an image that runs no script and fetches nothing."""
    return "data:image/svg+xml;base64," + base64.b64encode(data).decode("ascii")


def _plotly_figure(data: bytes) -> go.Figure:
    value = json.loads(data)
    if isinstance(value, dict) and PLOTLY_JSON in value:
        value = value[PLOTLY_JSON]
    return go.Figure(value, skip_invalid=True)


def _render_table(name: str, data: bytes, key: str) -> None:
    frame = load_table(name, data)
    st.dataframe(frame, key=key + "_table")
    if is_truncated(frame):
        total = frame.attrs.get("total_rows")
        of = f" of {total:,}" if total else ""
        st.caption(f"The first {PREVIEW_ROWS:,} rows{of} are shown; download the file for all of them.")


def _render_text(name: str, data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    st.code(text[:TEXT_PREVIEW_CHARS], language=CODE_LANGUAGES.get(extension(name)))
    if len(text) > TEXT_PREVIEW_CHARS:
        st.caption(f"The first {TEXT_PREVIEW_CHARS:,} of {len(text):,} characters are shown.")


def render_preview(name: str, data: bytes, key: str) -> None:
    """Show a file's content the way it is meant to be seen; problems show as a warning."""
    kind = classify(name, len(data), data)
    try:
        if kind == "image":
            st.image(svg_data_url(data) if extension(name) == ".svg" else data)
        elif kind == "table":
            _render_table(name, data, key)
        elif kind == "plotly":
            figure = _plotly_figure(data)
            if figure.layout.height is None:
                figure.update_layout(height=CHART_HEIGHT)
            st.plotly_chart(figure, key=key + "_chart", width="stretch")
        elif kind == "html":
            render_sandboxed_html(data.decode("utf-8", "replace"), height=HTML_HEIGHT)
        elif kind == "text":
            _render_text(name, data)
        elif len(data) > MAX_PREVIEW_BYTES:
            st.caption(f"Too big to preview ({human_size(len(data))}); download it instead.")
        else:
            st.caption(f"No preview for this kind of file ({guess_mime_type(name)}); download it instead.")
    except Exception as error:  # a preview must never break the panel, whatever the library raises
        st.warning(escape_markdown(f"{printable(name)} cannot be previewed: {error}"))


def read_and_preview(name: str, read: Callable[[], bytes], size: int, key: str) -> None:
    """Read a file (unless it is too big) and show its preview."""
    if size > MAX_PREVIEW_BYTES:
        st.caption(f"Too big to preview ({human_size(size)}); download it instead.")
        return
    try:
        data = read()
    except (InterpreterError, OSError) as error:
        st.warning(escape_markdown(f"{printable(name)} cannot be read: {error}"))
        return
    render_preview(name, data, key)
