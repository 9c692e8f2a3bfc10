"""The side panel: the sandbox's files and the workspace's results, with previews, downloads and deletes.

The chat page calls it inside ``with st.sidebar:``::

    with st.sidebar:
        render_side_panel(session)

It is a fragment: a click inside it reruns only the panel. It stays fast with thousands of files because it
reads file bytes only for what is shown open: folders and previews are lazy (their content runs only while
they are open), downloads read their file when clicked, long lists are paged ("Show more"), and only the
:data:`RICH_PREVIEWS` newest workspace files get a preview. Every widget key starts with ``side_panel_``.
"""

from __future__ import annotations

import hashlib
import posixpath
from functools import partial

import streamlit as st

from components.previews import human_size, printable, read_and_preview
from core.archive import classify, extension, zip_workspace
from core.errors import InterpreterError
from core.session import Session
from core.text import escape_markdown
from core.types import FileInfo
from core.workspace import NAMESPACE

PREFIX = "side_panel_"
PAGE_SIZE = 50  # rows of a file list shown before "Show more"
RICH_PREVIEWS = 20  # the newest workspace files that get a preview; older ones are listed compactly
AUTO_PREVIEW_BYTES = 5 * 1024 * 1024  # bigger images and tables start collapsed (read only when opened)
INDENT = "\u2800\u2800"  # blank Braille cells: st.text strips leading spaces, these stay
FLASH_KEY = PREFIX + "flash"
EXPANDED_KINDS = ("image", "table", "plotly")
ICONS = {
    "image": ":material/image:",
    "table": ":material/table:",
    "plotly": ":material/monitoring:",
    "html": ":material/html:",
    "text": ":material/description:",
    "document": ":material/article:",
    "slides": ":material/slideshow:",
    "pdf": ":material/picture_as_pdf:",
    "binary": ":material/draft:",
}
_MARKDOWN_SPECIALS = set("\\`*_[]<>~:$")  # inline Markdown; Streamlit escapes block syntax in labels itself


def widget_key(kind: str, path: str) -> str:
    """The stable widget key of one file's widget: ``side_panel_<kind>_<hash of the path>``."""
    digest = hashlib.blake2b(path.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
    return f"{PREFIX}{kind}_{digest}"


def _label(text: str) -> str:
    """A file name for a Markdown label (expanders, buttons), shown literally."""
    return "".join(f"\\{char}" if char in _MARKDOWN_SPECIALS else char for char in printable(text))


def _flash(message: str) -> None:
    """Keep a warning for the panel's next run (``message`` is shown literally)."""
    st.session_state.setdefault(FLASH_KEY, []).append(escape_markdown(message))


def _show_flash() -> None:
    for message in st.session_state.pop(FLASH_KEY, []):
        st.warning(message)


def _more_button(key: str, shown: int, total: int) -> None:
    """A "Show more" button under a list cut at ``shown`` of ``total`` rows."""
    if shown >= total:
        return

    def more() -> None:
        st.session_state[key] = shown + PAGE_SIZE

    st.button(
        f"Show {min(PAGE_SIZE, total - shown):,} more ({total - shown:,} not shown)",
        key=key + "_button",
        on_click=more,
        type="tertiary",
        icon=":material/expand_more:",
    )


def _limit(key: str) -> int:
    return int(st.session_state.get(key, PAGE_SIZE))


# -- sandbox ----------------------------------------------------------------------------------------------


def _delete(session: Session, path: str) -> None:
    """Button callback: delete a sandbox file or folder (the fragment then reruns without it)."""
    try:
        session.sandbox.remove(path)
    except (InterpreterError, OSError) as error:
        _flash(f"{printable(path)} could not be deleted: {error}")


def _sandbox_file_row(session: Session, info: FileInfo, level: int | None) -> None:
    """One file: name and size, preview, download and delete (``level``: indent in a folder, ``None``: root)."""
    name = printable(posixpath.basename(info.path))
    shown = printable(info.path) if level is None else f"{INDENT * level}{name}"
    read = partial(session.sandbox.read_file, info.path)
    text, preview, download, delete = st.columns([6, 1, 1, 1], gap="small", vertical_alignment="center")
    text.text(f"{shown} · {human_size(info.size)}")
    with preview:
        popover = st.popover(
            "", icon=":material/visibility:", key=widget_key("sb_preview", info.path), on_change="rerun", help="Preview"
        )
        with popover:
            if popover.open:
                st.caption(escape_markdown(printable(info.path)))
                read_and_preview(info.path, read, info.size, widget_key("sb_view", info.path))
    download.download_button(
        "",
        data=read,
        file_name=name,
        mime=info.mime_type,
        key=widget_key("sb_download", info.path),
        icon=":material/download:",
        help="Download",
        on_click="ignore",
    )
    delete.button(
        "",
        key=widget_key("sb_delete", info.path),
        icon=":material/delete:",
        help="Delete",
        on_click=_delete,
        args=(session, info.path),
    )


def _sandbox_folder(session: Session, folder: str, entries: list[FileInfo]) -> None:
    files = [e for e in entries if not e.is_dir]
    summary = f"{len(files):,} file{'s' if len(files) != 1 else ''} · {human_size(sum(f.size for f in files))}"
    expander = st.expander(
        f"{_label(folder)}/ · {summary}",
        icon=":material/folder:",
        key=widget_key("sb_folder", folder),
        on_change="rerun",
    )
    with expander:
        if not expander.open:
            return
        limit_key = widget_key("sb_folder_limit", folder)
        limit = _limit(limit_key)
        for entry in entries[:limit]:
            level = entry.path.count("/") - 1
            if entry.is_dir:
                st.text(f"{INDENT * level}{printable(posixpath.basename(entry.path))}/")
            else:
                _sandbox_file_row(session, entry, level)
        _more_button(limit_key, limit, len(entries))
        st.button(
            f"Delete {_label(folder)}/",
            key=widget_key("sb_delete_folder", folder),
            icon=":material/delete_sweep:",
            type="tertiary",
            on_click=_delete,
            args=(session, folder),
        )


def render_sandbox_files(session: Session) -> None:
    """The sandbox's tree: totals, then top folders (lazy expanders) and root files.

    Each file can be previewed (a lazy popover), downloaded (read on click) and deleted.
    """
    try:
        entries = session.sandbox.list_files(".", recursive=True)
    except (InterpreterError, OSError) as error:
        st.warning(escape_markdown(f"The sandbox's files cannot be listed: {error}"))
        return
    files = [e for e in entries if not e.is_dir]
    used = sum(f.size for f in files)
    st.caption(
        f"{len(files):,} file{'s' if len(files) != 1 else ''} · {human_size(used)} of "
        f"{session.settings.disk_limit_mb:,} MB used"
    )
    if not entries:
        st.caption("No files yet. Uploads and files your code writes appear here.")
        return
    folders: dict[str, list[FileInfo]] = {}
    root_files: list[FileInfo] = []
    for entry in entries:
        top, slash, _ = entry.path.partition("/")
        if slash:
            folders.setdefault(top, []).append(entry)
        elif entry.is_dir:
            folders.setdefault(top, [])
        else:
            root_files.append(entry)
    items: list[str | FileInfo] = [*sorted(folders), *root_files]
    limit_key = PREFIX + "sb_limit"
    limit = _limit(limit_key)
    for item in items[:limit]:
        if isinstance(item, str):
            _sandbox_folder(session, item, folders[item])
        else:
            _sandbox_file_row(session, item, None)
    _more_button(limit_key, limit, len(items))


# -- workspace --------------------------------------------------------------------------------------------


def _workspace_download(session: Session, info: FileInfo, label: str) -> None:
    """A download button; large files of a bucket-backed workspace download straight from S3 (presigned)."""
    presign_bytes = getattr(session.workspace, "presign_bytes", None)
    if presign_bytes is not None and info.size > presign_bytes:
        url = session.workspace.presigned_url(info.path)  # type: ignore[attr-defined]
        st.link_button(label, url, icon=":material/download:", type="tertiary")
        return
    st.download_button(
        label,
        data=partial(session.workspace.read, info.path),
        file_name=printable(info.path),
        mime=info.mime_type,
        key=widget_key("ws_download", info.path),
        icon=":material/download:",
        type="tertiary",
        on_click="ignore",
    )


def _workspace_preview(session: Session, info: FileInfo) -> None:
    kind = classify(info.path, info.size)  # from the name: the bytes are read only if the preview is open
    expander = st.expander(
        f"{_label(info.path)} · {human_size(info.size)}",
        expanded=kind in EXPANDED_KINDS and info.size <= AUTO_PREVIEW_BYTES,
        icon=":material/data_object:" if extension(info.path) == ".json" else ICONS[kind],
        key=widget_key("ws_item", info.path),
        on_change="rerun",
    )
    with expander:
        read = partial(session.workspace.read, info.path)
        _workspace_download(session, info, "Download")
        if expander.open:
            read_and_preview(info.path, read, info.size, widget_key("ws_view", info.path))


def render_workspace(session: Session) -> None:
    """The workspace: "Download all" as a ZIP, previews of the newest files, the older ones listed for download."""
    try:
        files = session.workspace.list()
    except (InterpreterError, OSError) as error:
        st.warning(escape_markdown(f"The workspace cannot be listed: {error}"))
        return
    st.caption(
        f"{NAMESPACE}/ · {len(files):,} file{'s' if len(files) != 1 else ''} · {human_size(sum(f.size for f in files))}"
    )
    st.download_button(
        "Download all",
        data=partial(zip_workspace, session.workspace),
        file_name=f"workspace-{session.conversation_id}.zip",
        mime="application/zip",
        key=PREFIX + "ws_download_all",
        icon=":material/folder_zip:",
        disabled=not files,
        on_click="ignore",
    )
    if not files:
        st.caption("No results yet. Files the assistant saves to the workspace appear here.")
        return
    newest = sorted(files, key=lambda info: (-info.modified, info.path))
    for info in newest[:RICH_PREVIEWS]:
        _workspace_preview(session, info)
    older = newest[RICH_PREVIEWS:]
    if not older:
        return
    st.caption(f"{len(older):,} older file{'s' if len(older) != 1 else ''}")
    limit_key = PREFIX + "ws_limit"
    limit = _limit(limit_key)
    for info in older[:limit]:
        _workspace_download(session, info, f"{_label(info.path)} · {human_size(info.size)}")
    _more_button(limit_key, limit, len(older))


@st.fragment
def render_side_panel(session: Session) -> None:
    """The side panel of a conversation: its sandbox files and its workspace, in two tabs.

    Args:
        session: The conversation's engine session.

    """
    _show_flash()
    sandbox_tab, workspace_tab = st.tabs(["Sandbox files", "Workspace"], key=PREFIX + "tabs")
    with sandbox_tab:
        render_sandbox_files(session)
    with workspace_tab:
        render_workspace(session)
