"""Rendering an ExecutionResult: printed text and rich outputs in the order the code produced them.

Everything here comes from code the agent or the person ran, so it is untrusted: text is shown literally, HTML
and SVG run only inside a sandboxed frame, and Markdown images and Plotly figures' images from elsewhere are not
loaded (a line says so).
"""

from __future__ import annotations

import json

import pandas as pd
import plotly.io
import streamlit as st

from components.frames import render_sandboxed_html
from components.previews import data_url
from core.files.outputs import figure_without_sources
from core.text import escape_markdown, safe_markdown
from core.types import (
    IMAGE_SVG,
    JSON,
    PLOTLY_JSON,
    STDERR,
    TABLE_JSON,
    TEXT_HTML,
    TEXT_MARKDOWN,
    ExecutionResult,
    RichOutput,
)

COLLAPSE_CHARS = 6000
COLLAPSE_LINES = 80
EDGE_LINES = 20
EDGE_CHARS = 2000
SCROLL_HEIGHT = 420


def table_frame(table: dict) -> pd.DataFrame:  # type: ignore[type-arg]
    """A DataFrame from a Jupyter table-schema output (the index column becomes the index)."""
    frame = pd.DataFrame(table.get("data", []))
    keys = table.get("schema", {}).get("primaryKey") or []
    present = [k for k in keys if k in frame.columns]
    return frame.set_index(present) if present else frame


def _head_and_tail(text: str) -> tuple[str, str, int]:
    """The first and last lines of a long text and how many lines lie between."""
    lines = text.splitlines()
    if len(lines) > 2 * EDGE_LINES:
        return (
            "\n".join(lines[:EDGE_LINES])[:EDGE_CHARS],
            "\n".join(lines[-EDGE_LINES:])[-EDGE_CHARS:],
            len(lines) - 2 * EDGE_LINES,
        )
    return text[:EDGE_CHARS], text[-EDGE_CHARS:], 0


def is_long(text: str) -> bool:
    """Whether printed text is shown collapsed to its head and tail."""
    return len(text) > COLLAPSE_CHARS or text.count("\n") > COLLAPSE_LINES


def render_text(text: str, *, stderr: bool = False, key: str = "") -> None:
    """Printed text, literally; long text collapsed to head and tail, with "Show all" and a download.

    Args:
        text: The text.
        stderr: Whether it went to standard error.
        key: A key unique on the page; without one (a step still running) only head and tail are shown.

    """
    if stderr:
        st.caption("stderr")
    if not is_long(text):
        st.code(text, language=None, wrap_lines=True)
        return
    head, tail, hidden = _head_and_tail(text)
    lines = text.count("\n") + 1
    st.caption(
        f":material/unfold_less: Long output: {len(text):,} characters in {lines:,} lines. "
        f"The first and last {EDGE_LINES} lines are shown."
    )
    between = f"\n⋮ {hidden:,} more lines ⋮\n" if hidden else "\n⋮\n"
    st.code(head + between + tail, language=None, wrap_lines=True)
    if not key:
        return
    show_all, download = st.columns([1, 1])
    if show_all.toggle("Show all", key=f"{key}_all"):
        st.code(text, language=None, height=SCROLL_HEIGHT, wrap_lines=True)
    download.download_button(
        "Download the full output",
        data=text,
        file_name="output.txt",
        mime="text/plain",
        key=f"{key}_download",
        icon=":material/download:",
        on_click="ignore",
    )


def render_output(output: RichOutput, key: str = "") -> None:
    """Render one output the way it is meant to be seen."""
    if output.is_stream:
        if str(output.data).strip():  # a lone newline (tqdm's last one, say) is not worth a box
            render_text(str(output.data), stderr=output.mime_type == STDERR, key=key)
    elif output.is_image and isinstance(output.data, bytes):
        st.image(data_url(output.mime_type, output.data))  # the browser decodes it, not the server
    elif output.mime_type == TABLE_JSON and isinstance(output.data, dict):
        st.dataframe(table_frame(output.data))
    elif output.mime_type == PLOTLY_JSON and isinstance(output.data, dict):
        figure, removed = figure_without_sources(output.data)
        st.plotly_chart(plotly.io.from_json(json.dumps(figure)))
        if removed:
            st.caption(escape_markdown(removed))
    elif output.mime_type in (TEXT_HTML, IMAGE_SVG):
        render_sandboxed_html(str(output.data))
    elif output.mime_type == TEXT_MARKDOWN:
        st.markdown(safe_markdown(str(output.data)))
    elif output.mime_type == JSON:
        st.json(output.data)
    else:
        st.code(str(output.data), language=None, wrap_lines=True)


def prefetch_result_code() -> None:
    """An empty table and an empty code block, hidden: Streamlit's front end then has their code before it is needed.

    It loads an element's code on first use otherwise, which made the first table and chart of a fresh page about
    0.6 s slower than later ones, and the first step show about 0.5 s after its output arrived. Drawn with the page
    itself, the data grid's code (1.3 MB) made the page usable 0.4 s later: call this once the page is usable and
    idle. The style that hides them is :data:`components.chat.PAGE_STYLE`.
    """
    with st.container(key="prefetch-results"):
        st.dataframe(pd.DataFrame({"": []}))
    with st.container(key="prefetch-code"):
        st.code("", language="python")


def render_result(result: ExecutionResult, key: str = "") -> None:
    """Render everything a run produced, in order, then its error and exit code.

    Notes come first when they tell what happened before the run (a new kernel, variables that came back), so
    they are read before the error they explain; when the run was stopped, they say why and come last.

    Args:
        result: The run.
        key: A key unique on the page, for the widgets of long outputs (none while the run goes on).

    """
    if not result.stopped:
        for note in result.notes:
            st.info(safe_markdown(note))  # notes may quote an error text from elsewhere
    if not any(output.is_stream for output in result.outputs):  # kept before outputs were in order
        if result.stdout:
            render_text(result.stdout, key=f"{key}_stdout" if key else "")
        if result.stderr:
            render_text(result.stderr, stderr=True, key=f"{key}_stderr" if key else "")
    for number, output in enumerate(result.outputs):
        render_output(output, key=f"{key}_{number}" if key else "")
    if result.error is not None:
        st.error(escape_markdown(f"{result.error.name}: {result.error.value}"), icon=":material/error:")
        with st.expander("Traceback"):
            st.code(result.error.traceback, language=None, wrap_lines=True)
    if result.exit_code not in (None, 0):
        st.caption(f"exit code {result.exit_code}")
    if result.stopped:
        for note in result.notes:
            st.warning(safe_markdown(note))
