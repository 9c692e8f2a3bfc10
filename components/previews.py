"""Previews of one file's content (images, tables, charts, HTML, text) for the side panel.

A preview shows the file's bytes and nothing else: an SVG becomes a ``data:`` URL of its bytes (never text that
``st.image`` would read as a path or a URL of the server), HTML runs in a sandboxed frame, a Plotly figure loses
the addresses it would load images from, and names and errors are shown literally (never as Markdown).

The server parses no untrusted file format itself: tables, Office documents and PDF pages are read by a helper
process with limits (``core/files/preview_host.py``), and pictures reach the browser as ``data:`` URLs, never
decoded here (``st.image`` would open bytes with PIL): a small one as it is, a large one as a copy the helper made
smaller. A file the helper cannot read in time or memory says "Could not preview this file: ..." in plain words.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.frames import render_sandboxed_html
from core.errors import InterpreterError
from core.files import documents, pdf_preview, preview_host
from core.files.archive import MAX_PREVIEW_BYTES, PREVIEW_ROWS, classify, extension, is_truncated
from core.files.outputs import figure_without_sources
from core.text import escape_markdown
from core.types import PLOTLY_JSON, guess_mime_type

TEXT_PREVIEW_CHARS = 20_000
INLINE_IMAGE_BYTES = 1024 * 1024
"""Pictures up to this size go to the browser as they are; larger ones as a smaller copy."""
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
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


def data_url(mime_type: str, data: bytes) -> str:
    """Bytes as a ``data:`` URL, which ``st.image`` hands to the browser without decoding it in the server."""
    return f"data:{mime_type};base64," + base64.b64encode(data).decode("ascii")


def svg_data_url(data: bytes) -> str:
    """An SVG file's bytes as a ``data:`` URL: an image that runs no script and fetches nothing."""
    return data_url("image/svg+xml", data)


def _render_image(name: str, data: bytes) -> None:
    """A picture as a ``data:`` URL: its own bytes when small, else a smaller copy made by the preview helper."""
    suffix = extension(name)
    if suffix == ".svg":
        st.image(svg_data_url(data))
    elif len(data) <= INLINE_IMAGE_BYTES:
        st.image(data_url(IMAGE_TYPES.get(suffix, "image/png"), data))
    else:
        picture = preview_host.reduce_picture(data)
        st.image(data_url(picture.mime_type, picture.data))
        st.caption(f"A smaller copy is shown ({human_size(len(data))} file); download it for the original.")


def _plotly_figure(data: bytes) -> tuple[go.Figure, str]:
    """The figure a file holds, without addresses it would load from, and a sentence on what was taken out."""
    value = json.loads(data)
    if isinstance(value, dict) and PLOTLY_JSON in value:
        value = value[PLOTLY_JSON]
    value, removed = figure_without_sources(value)
    return go.Figure(value, skip_invalid=True), removed


def _render_plotly(data: bytes, key: str) -> None:
    figure, removed = _plotly_figure(data)
    if figure.layout.height is None:
        figure.update_layout(height=CHART_HEIGHT)
    st.plotly_chart(figure, key=key + "_chart", width="stretch")
    if removed:
        st.caption(escape_markdown(removed))


def _render_table(name: str, data: bytes, key: str) -> None:
    """A table read by the preview helper (a ``.json`` file it finds to be a chart or text is shown as such)."""
    kind, frame = preview_host.read_table(name, data)
    if frame is None:
        if kind == "plotly":
            _render_plotly(data, key)
        else:
            _render_text(name, data)
        return
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


def _chosen(key: str, count: int) -> int:
    """The option a selector under ``key`` holds (0 when it holds none, or one that no longer exists)."""
    value = st.session_state.get(key, 0)
    return value if isinstance(value, int) and 0 <= value < count else 0


def _render_workbook(data: bytes, key: str) -> None:
    """One sheet at a time (only the chosen sheet is read), with a selector when there are several."""
    workbook = preview_host.read_workbook(data, _chosen(key + "_sheet", documents.MAX_SHEETS))
    names = workbook.sheet_names
    if len(names) > 1:
        st.selectbox("Sheet", range(len(names)), format_func=lambda index: printable(names[index]), key=key + "_sheet")
    if workbook.total_sheets > len(names):
        st.caption(f"The first {len(names)} of {workbook.total_sheets:,} sheets can be previewed.")
    sheet = workbook.sheet
    st.dataframe(sheet.frame, key=key + "_table")
    if sheet.truncated:
        of = f" of {sheet.total_rows:,}" if sheet.total_rows else ""
        st.caption(f"The first {documents.SHEET_ROWS:,} rows{of} are shown; download the file for all of them.")


def _heading(block: documents.Block) -> str:
    return "#" * min(block.level + 3, 6) + " " + escape_markdown(block.text)


def _render_document(data: bytes, key: str) -> None:
    """A Word document's headings and paragraphs as text, its tables as tables."""
    preview = preview_host.read_document(data)
    text: list[str] = []
    for number, block in enumerate(preview.blocks):
        if block.kind != "table":
            text.append(_heading(block) if block.kind == "heading" else escape_markdown(block.text))
            continue
        if text:
            st.markdown("\n\n".join(text))
            text = []
        header, *rows = block.rows or [[]]
        st.dataframe(pd.DataFrame(rows, columns=header), key=f"{key}_table{number}", hide_index=True)
    if text:
        st.markdown("\n\n".join(text))
    if not preview.blocks:
        st.caption("The document has no text.")
    if preview.truncated:
        st.caption(
            f"The beginning is shown (at most {documents.MAX_BLOCKS} paragraphs or "
            f"{documents.MAX_DOCUMENT_CHARS:,} characters); download the file for the rest."
        )


def _render_slides(data: bytes) -> None:
    """Each slide's number and title, its texts and its pictures."""
    preview = preview_host.read_slides(data)
    for slide in preview.slides:
        st.markdown(f"**Slide {slide.number}** · {escape_markdown(slide.title) or '(no title)'}")
        if slide.texts:
            st.markdown("\n\n".join(escape_markdown(text) for text in slide.texts))
        for picture in slide.pictures:
            st.image(data_url(picture.mime_type, picture.data))
        if slide.hidden_pictures:
            st.caption(f"{slide.hidden_pictures} more picture(s) not shown (format, size or number).")
    if preview.total_slides > len(preview.slides):
        st.caption(
            f"The first {len(preview.slides)} of {preview.total_slides} slides are shown; download the file for all."
        )
    elif not preview.slides:
        st.caption("The presentation has no slides.")


def _render_pdf(data: bytes, key: str) -> None:
    """One page as an image, with a page selector over the first :data:`core.files.pdf_preview.PDF_PAGES` pages."""
    wanted = st.session_state.get(key + "_page", 1)
    page = preview_host.read_pdf_page(data, wanted - 1 if isinstance(wanted, int) else 0)
    if page.pages == 0 or page.png is None:
        st.caption("The PDF has no pages.")
        return
    shown = min(page.pages, pdf_preview.PDF_PAGES)
    if shown > 1:
        st.number_input("Page", min_value=1, max_value=shown, step=1, key=key + "_page")
    st.image(data_url("image/png", page.png), caption=f"Page {page.index + 1} of {page.pages:,}")
    if page.pages > shown:
        st.caption(f"The first {shown} of {page.pages:,} pages can be previewed; download the file for the rest.")


def render_preview(name: str, data: bytes, key: str) -> None:
    """Show a file's content the way it is meant to be seen; problems show as a warning."""
    # A .json file counts as a table here: the helper, not the server, parses it and says if it is a chart or text.
    kind = classify(name, len(data), None if extension(name) == ".json" else data)
    try:
        if kind == "image":
            _render_image(name, data)
        elif kind == "table" and extension(name) == ".xlsx":
            _render_workbook(data, key)
        elif kind == "table":
            _render_table(name, data, key)
        elif kind == "plotly":
            _render_plotly(data, key)
        elif kind == "document":
            _render_document(data, key)
        elif kind == "slides":
            _render_slides(data)
        elif kind == "pdf":
            _render_pdf(data, key)
        elif kind == "html":
            render_sandboxed_html(data.decode("utf-8", "replace"), height=HTML_HEIGHT)
        elif kind == "text":
            _render_text(name, data)
        elif len(data) > MAX_PREVIEW_BYTES:
            _too_big(len(data))
        else:
            st.caption(f"No preview for this kind of file ({guess_mime_type(name)}); download it instead.")
    except preview_host.PreviewFailed as error:  # too slow, too hungry or damaged: the helper was stopped
        st.warning(escape_markdown(str(error)))
    except Exception as error:  # a preview must never break the panel, whatever the library raises
        st.warning(escape_markdown(f"{printable(name)} cannot be previewed: {error}"))


def _too_big(size: int) -> None:
    st.caption(
        f"Too big to preview ({human_size(size)}): previews are made of files up to "
        f"{human_size(MAX_PREVIEW_BYTES)}. Download it instead."
    )


def read_and_preview(name: str, read: Callable[[], bytes], size: int, key: str) -> None:
    """Read a file (unless it is too big) and show its preview."""
    if size > MAX_PREVIEW_BYTES:
        _too_big(size)
        return
    try:
        data = read()
    except (InterpreterError, OSError) as error:
        st.warning(escape_markdown(f"{printable(name)} cannot be read: {error}"))
        return
    render_preview(name, data, key)
