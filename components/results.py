"""Rendering an ExecutionResult: streams, errors, notes and rich outputs (images, tables, Plotly, HTML)."""

from __future__ import annotations

import json

import pandas as pd
import plotly.io
import streamlit as st

from core.types import (
    IMAGE_SVG,
    JSON,
    PLOTLY_JSON,
    TABLE_JSON,
    TEXT_HTML,
    TEXT_MARKDOWN,
    ExecutionResult,
    RichOutput,
)


def table_frame(table: dict) -> pd.DataFrame:  # type: ignore[type-arg]
    """A DataFrame from a Jupyter table-schema output (the index column becomes the index)."""
    frame = pd.DataFrame(table.get("data", []))
    keys = table.get("schema", {}).get("primaryKey") or []
    present = [k for k in keys if k in frame.columns]
    return frame.set_index(present) if present else frame


def render_output(output: RichOutput) -> None:
    """Render one rich output the way it is meant to be seen."""
    if output.is_image and isinstance(output.data, bytes):
        st.image(output.data)
    elif output.mime_type == TABLE_JSON and isinstance(output.data, dict):
        st.dataframe(table_frame(output.data))
    elif output.mime_type == PLOTLY_JSON and isinstance(output.data, dict):
        st.plotly_chart(plotly.io.from_json(json.dumps(output.data)))
    elif output.mime_type in (TEXT_HTML, IMAGE_SVG):
        st.html(str(output.data))
    elif output.mime_type == TEXT_MARKDOWN:
        st.markdown(str(output.data))
    elif output.mime_type == JSON:
        st.json(output.data)
    else:
        st.code(str(output.data), language=None)


def render_result(result: ExecutionResult) -> None:
    """Render everything a run produced, in the order a reader needs it."""
    if result.stdout:
        st.code(result.stdout, language=None)
    if result.stderr:
        st.caption("stderr")
        st.code(result.stderr, language=None)
    for output in result.outputs:
        render_output(output)
    if result.error is not None:
        st.error(f"{result.error.name}: {result.error.value}")
        with st.expander("Traceback"):
            st.code(result.error.traceback, language=None)
    if result.exit_code not in (None, 0):
        st.caption(f"exit code {result.exit_code}")
    for note in result.notes:
        (st.warning if result.stopped else st.info)(note)
