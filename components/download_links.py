"""Download links for files too large to pass through the page: written to disk when clicked, then streamed.

Streamlit's download buttons hold their file in the server's memory; these links go to the server's
``/download/<token>`` route instead (:mod:`core.downloads`), which writes the file to disk and streams it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import closing
from typing import BinaryIO, Literal

import streamlit as st

from core.downloads import DOWNLOADS, Writer, download_path

LINK_BYTES = 20 * 1024 * 1024
"""Sandbox and workspace files larger than this download through a link, not through the page."""


def download_link(
    label: str,
    key: tuple[str, ...],
    file_name: str,
    mime: str,
    write: Writer,
    *,
    icon: str = ":material/download:",
    disabled: bool = False,
    button_type: Literal["secondary", "tertiary"] = "secondary",
    help: str | None = None,
) -> None:
    """A button-like link that downloads what ``write`` writes, built only when it is clicked.

    Args:
        label: The link's text (Markdown; escape untrusted parts).
        key: Who and what it is for (one link per key; redrawing it keeps the same address).
        file_name: The name the browser saves it under.
        mime: Its media type.
        write: Writes the content into an open file.
        icon: The link's icon.
        disabled: Shown greyed out, without an address to follow.
        button_type: ``"secondary"`` or ``"tertiary"`` (a plain row in a list).
        help: A tooltip (icon buttons have one, which also aligns them like Streamlit's buttons).

    """
    url = download_path(st.get_option("server.baseUrlPath"), DOWNLOADS.offer(key, file_name, mime, write))
    st.link_button(label, url, icon=icon, disabled=disabled, type=button_type, help=help)


def copied_from(open_source: Callable[[], BinaryIO]) -> Writer:
    """A writer that copies what ``open_source`` opens (a sandbox or workspace file), a piece at a time."""

    def write(target: BinaryIO) -> None:
        with closing(open_source()) as source:
            shutil.copyfileobj(source, target)

    return write
