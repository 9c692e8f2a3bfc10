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
import html
import json
import posixpath
from collections.abc import Callable
from functools import partial

import plotly.graph_objects as go
import streamlit as st

from core.archive import (
    MAX_PREVIEW_BYTES,
    PREVIEW_ROWS,
    classify,
    extension,
    is_truncated,
    load_table,
    zip_workspace,
)
from core.errors import InterpreterError
from core.session import Session
from core.types import PLOTLY_JSON, FileInfo, guess_mime_type
from core.workspace import NAMESPACE

PREFIX = "side_panel_"
PAGE_SIZE = 50  # rows of a file list shown before "Show more"
RICH_PREVIEWS = 20  # the newest workspace files that get a preview; older ones are listed compactly
AUTO_PREVIEW_BYTES = 5 * 1024 * 1024  # bigger images and tables start collapsed (read only when opened)
TEXT_PREVIEW_CHARS = 20_000
HTML_HEIGHT = 400
CHART_HEIGHT = 320  # Plotly figures without a height of their own (the default 450 px is tall for a side panel)
INDENT = "\u2800\u2800"  # blank Braille cells: st.text strips leading spaces, these stay
FLASH_KEY = PREFIX + "flash"
EXPANDED_KINDS = ("image", "table", "plotly")
ICONS = {
    "image": ":material/image:",
    "table": ":material/table:",
    "plotly": ":material/monitoring:",
    "html": ":material/html:",
    "text": ":material/description:",
    "binary": ":material/draft:",
}
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
_MARKDOWN_SPECIALS = set("\\`*_[]<>~:$")  # inline Markdown; Streamlit escapes block syntax in labels itself


def widget_key(kind: str, path: str) -> str:
    """The stable widget key of one file's widget: ``side_panel_<kind>_<hash of the path>``."""
    digest = hashlib.blake2b(path.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
    return f"{PREFIX}{kind}_{digest}"


def human_size(size: int) -> str:
    """A byte count as people read it: ``512 B``, ``1.5 KB``, ``3.2 MB``."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _printable(text: str) -> str:
    """A file name as text that can be shown (names that are not UTF-8 on disk get replacement characters)."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _label(text: str) -> str:
    """A file name for a Markdown label (expanders, buttons), shown literally."""
    return "".join(f"\\{char}" if char in _MARKDOWN_SPECIALS else char for char in _printable(text))


def _flash(message: str) -> None:
    st.session_state.setdefault(FLASH_KEY, []).append(message)


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


# -- previews ---------------------------------------------------------------------------------------------


def _sandboxed_html(document: str) -> str:
    """An HTML file wrapped in an iframe that may run scripts but has no access to the app's origin."""
    return (
        '<!doctype html><html><body style="margin:0">'
        '<iframe sandbox="allow-scripts allow-popups allow-downloads" '
        f'style="border:0;width:100%;height:{HTML_HEIGHT - 8}px" srcdoc="{html.escape(document, quote=True)}">'
        "</iframe></body></html>"
    )


def _plotly_figure(data: bytes) -> go.Figure:
    value = json.loads(data)
    if isinstance(value, dict) and PLOTLY_JSON in value:
        value = value[PLOTLY_JSON]
    return go.Figure(value, skip_invalid=True)


def _render_preview(name: str, data: bytes, key: str) -> None:
    """Show a file's content the way it is meant to be seen; problems show as a warning."""
    kind = classify(name, len(data), data)
    try:
        if kind == "image":
            st.image(data.decode("utf-8") if extension(name) == ".svg" else data)
        elif kind == "table":
            frame = load_table(name, data)
            st.dataframe(frame, key=key + "_table")
            if is_truncated(frame):
                total = frame.attrs.get("total_rows")
                of = f" of {total:,}" if total else ""
                st.caption(f"The first {PREVIEW_ROWS:,} rows{of} are shown; download the file for all of them.")
        elif kind == "plotly":
            figure = _plotly_figure(data)
            if figure.layout.height is None:
                figure.update_layout(height=CHART_HEIGHT)
            st.plotly_chart(figure, key=key + "_chart", width="stretch")
        elif kind == "html":
            st.iframe(_sandboxed_html(data.decode("utf-8", "replace")), height=HTML_HEIGHT)
        elif kind == "text":
            text = data.decode("utf-8", "replace")
            st.code(text[:TEXT_PREVIEW_CHARS], language=CODE_LANGUAGES.get(extension(name)))
            if len(text) > TEXT_PREVIEW_CHARS:
                st.caption(f"The first {TEXT_PREVIEW_CHARS:,} of {len(text):,} characters are shown.")
        elif len(data) > MAX_PREVIEW_BYTES:
            st.caption(f"Too big to preview ({human_size(len(data))}); download it instead.")
        else:
            st.caption(f"No preview for this kind of file ({guess_mime_type(name)}); download it instead.")
    except Exception as error:  # a preview must never break the panel, whatever the library raises
        st.warning(f"{_printable(name)} cannot be previewed: {error}")


def _read_and_preview(name: str, read: Callable[[], bytes], size: int, key: str) -> None:
    if size > MAX_PREVIEW_BYTES:
        st.caption(f"Too big to preview ({human_size(size)}); download it instead.")
        return
    try:
        data = read()
    except (InterpreterError, OSError) as error:
        st.warning(f"{_printable(name)} cannot be read: {error}")
        return
    _render_preview(name, data, key)


# -- sandbox ----------------------------------------------------------------------------------------------


def _delete(session: Session, path: str) -> None:
    """Button callback: delete a sandbox file or folder (the fragment then reruns without it)."""
    try:
        session.sandbox.remove(path)
    except (InterpreterError, OSError) as error:
        _flash(f"{_printable(path)} could not be deleted: {error}")


def _sandbox_file_row(session: Session, info: FileInfo, level: int | None) -> None:
    """One file: name and size, preview, download and delete (``level``: indent in a folder, ``None``: root)."""
    name = _printable(posixpath.basename(info.path))
    shown = _printable(info.path) if level is None else f"{INDENT * level}{name}"
    read = partial(session.sandbox.read_file, info.path)
    text, preview, download, delete = st.columns([6, 1, 1, 1], gap="small", vertical_alignment="center")
    text.text(f"{shown} · {human_size(info.size)}")
    with preview:
        popover = st.popover(
            "", icon=":material/visibility:", key=widget_key("sb_preview", info.path), on_change="rerun", help="Preview"
        )
        with popover:
            if popover.open:
                st.caption(_printable(info.path))
                _read_and_preview(info.path, read, info.size, widget_key("sb_view", info.path))
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
                st.text(f"{INDENT * level}{_printable(posixpath.basename(entry.path))}/")
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
        st.warning(f"The sandbox's files cannot be listed: {error}")
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
        file_name=_printable(info.path),
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
            _read_and_preview(info.path, read, info.size, widget_key("ws_view", info.path))


def render_workspace(session: Session) -> None:
    """The workspace: "Download all" as a ZIP, previews of the newest files, the older ones listed for download."""
    try:
        files = session.workspace.list()
    except (InterpreterError, OSError) as error:
        st.warning(f"The workspace cannot be listed: {error}")
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
