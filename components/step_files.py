"""Download and "Save to workspace" buttons for the files a step made and the files an answer names.

``components/chat.py`` calls these under a tool step and under an answer; ``core/files/outputs.py`` finds the files.
Names are shown literally; a file is read only when its download is clicked.
"""

from __future__ import annotations

import hashlib
from functools import partial

import streamlit as st

from components.download_links import copied_from, file_download, file_owner
from components.previews import data_url, human_size, printable
from components.side_panel import ICON_ROW
from core.errors import InterpreterError
from core.files.downloads import DOWNLOADS, download_path
from core.files.outputs import Addresser, FileRef, SessionFiles
from core.text import escape_markdown

SHOWN_FILES = 10  # files listed with buttons under one step; the rest are counted


def _key(key: str, kind: str, ref: FileRef) -> str:
    digest = hashlib.blake2b(f"{ref.location}:{ref.path}".encode("utf-8", "surrogatepass"), digest_size=8)
    return f"{key}_{kind}_{digest.hexdigest()}"


def _save(files: SessionFiles, path: str) -> None:
    """Button callback: copy a sandbox file into the workspace and say how it went."""
    try:
        info = files.save_to_workspace(path)
    except InterpreterError as error:
        st.toast(escape_markdown(f"{printable(path)} was not saved: {error}"), icon=":material/error:")
        return
    except OSError as error:  # the host's file system refused: no host path in the message
        reason = error.strerror or type(error).__name__
        st.toast(escape_markdown(f"{printable(path)} was not saved ({reason})."), icon=":material/error:")
        return
    st.toast(escape_markdown(f"Saved to the workspace: code-interpreter/{info.path}"), icon=":material/save:")


def _owner(ref: FileRef, files: SessionFiles) -> tuple[str, ...]:
    return file_owner(files.host.user_id, files.host.conversation_id, ref.location, ref.path)


def download_address(files: SessionFiles) -> Addresser:
    """Gives a session file's address on the app's download route; nothing is read until it is followed."""
    base = st.get_option("server.baseUrlPath")

    def address(ref: FileRef) -> str:
        writer = copied_from(partial(files.open, ref))
        return download_path(base, DOWNLOADS.offer(_owner(ref, files), printable(ref.name), ref.mime_type, writer))

    return address


def _file_row(ref: FileRef, files: SessionFiles, key: str) -> None:
    """One file: its name and size, a download button and, for sandbox files, "Save to workspace".

    The buttons show icons; their labels (in a row keyed like the side panel's icon rows, whose style hides them
    on screen) are what screen readers say.
    """
    row = st.container(key=_key(ICON_ROW + key, "row", ref))
    name, download, save = row.columns([8, 1, 1], gap="small", vertical_alignment="center")
    shown = escape_markdown(printable(ref.name))
    name.caption(f":material/draft: {escape_markdown(printable(ref.shown))} · {human_size(ref.size)}")
    with download:
        file_download(
            f"Download {shown}",
            owner=_owner(ref, files),
            file_name=printable(ref.name),
            mime=ref.mime_type,
            size=ref.size,
            read=partial(files.read, ref),
            open_source=partial(files.open, ref),
            key=_key(key, "download", ref),
        )
    if ref.location == "sandbox":
        save.button(
            f"Save {shown} to the workspace",
            key=_key(key, "save", ref),
            icon=":material/save:",
            help="Save to workspace",
            on_click=_save,
            args=(files, ref.path),
        )


def render_changed_files(paths: list[str], files: SessionFiles, key: str) -> None:
    """The files a step created or changed, each with download and "Save to workspace" buttons.

    Args:
        paths: Sandbox paths the step created or changed.
        files: The session's files.
        key: A key unique on the page for this step.

    """
    if not paths:
        return
    st.caption(f"Files this step created or changed ({len(paths):,}):")
    for path in paths[:SHOWN_FILES]:
        ref = files.sandbox_file(path)
        if ref is None:
            st.caption(f":material/draft: {escape_markdown(printable(path))} (no longer in the sandbox)")
        else:
            _file_row(ref, files, key)
    if len(paths) > SHOWN_FILES:
        st.caption(f"… and {len(paths) - SHOWN_FILES:,} more: see Sandbox files in the side panel.")


def render_answer_files(refs: list[FileRef], files: SessionFiles, key: str) -> None:
    """The existing files an answer names, each with a download button (and "Save to workspace")."""
    for ref in refs:
        _file_row(ref, files, key)


def render_answer_images(refs: list[FileRef], files: SessionFiles) -> None:
    """The pictures an answer embeds from the sandbox or workspace, drawn under it (each named by its path)."""
    for ref in refs:
        try:
            data = files.read(ref)
        except (InterpreterError, OSError):  # deleted since: its name stays in bold, nothing more
            continue
        caption = escape_markdown(printable(ref.shown))  # a caption is Markdown: the path is shown literally
        st.image(data_url(ref.mime_type, data), caption=caption)  # decoded by the browser only
