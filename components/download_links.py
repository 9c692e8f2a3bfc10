"""Download links for files too large to pass through the page: written to disk when clicked, then streamed.

Streamlit's download buttons hold their file in the server's memory; these links go to the server's
``/download/<token>`` route instead (:mod:`core.files.downloads`), which writes the file to disk and streams it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import closing
from typing import BinaryIO, Literal

import streamlit as st

from core.files.downloads import DOWNLOADS, Writer, download_path

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


def file_owner(user_id: str, conversation_id: str, location: str, path: str) -> tuple[str, ...]:
    """Whose download of which file a link is: one address per person, conversation and file."""
    return (user_id, conversation_id, f"{location}-file", path)


def file_download(
    label: str,
    *,
    owner: tuple[str, ...],
    file_name: str,
    mime: str,
    size: int,
    read: Callable[[], bytes],
    open_source: Callable[[], BinaryIO],
    key: str,
    help: str | None = "Download",
    button_type: Literal["secondary", "tertiary"] = "secondary",
) -> None:
    """A sandbox or workspace file's download: read when clicked, or, past :data:`LINK_BYTES`, streamed from disk.

    Args:
        label: The button's text (Markdown; escape untrusted parts).
        owner: Whose download of what (:func:`file_owner`), for the link of a large file.
        file_name: The name the browser saves it under.
        mime: Its media type.
        size: Its size in bytes, which chooses between the button and the link.
        read: Reads the whole file (a small one, when clicked).
        open_source: Opens the file for reading a piece at a time (a large one).
        key: The download button's widget key.
        help: A tooltip.
        button_type: ``"secondary"`` or ``"tertiary"`` (a plain row in a list).

    """
    if size > LINK_BYTES:
        download_link(label, owner, file_name, mime, copied_from(open_source), help=help, button_type=button_type)
        return
    st.download_button(
        label,
        data=read,
        file_name=file_name,
        mime=mime,
        key=key,
        icon=":material/download:",
        help=help,
        type=button_type,
        on_click="ignore",
    )
