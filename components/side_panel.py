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

from components.download_links import download_link, file_download, file_owner
from components.previews import human_size, printable, read_and_preview
from core.chat.notebook import export_file_name
from core.errors import InterpreterError
from core.files.archive import classify, extension, zip_workspace
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
CONFIRM_KEY = PREFIX + "confirm_delete"
ICON_ROW = PREFIX + "icons_"
PREVIEW_BOX = PREFIX + "preview_box_"
NBSP = "\u00a0"
# The panel's look (its width, for a file's name, size and four icon buttons on a row, is app.SIDEBAR_WIDTH): a
# file row's buttons show only their icon, their labels ("Delete report.csv") stay for screen readers; a preview
# opens as a wide, tall box in the middle of the window (a popover below a button low in the panel would only get
# the few pixels left under it).
PANEL_STYLE = f"""<style>
[class*="st-key-{ICON_ROW}"] button p, [class*="st-key-{ICON_ROW}"] a p {{
  position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap;
}}
[class*="st-key-{ICON_ROW}"] > [data-testid="stElementContainer"]:has([data-testid="stText"]) {{
  flex: 1 1 0; min-width: 6rem;
}}
[class*="st-key-{ICON_ROW}"] > :not([data-testid="stElementContainer"]:has([data-testid="stText"])) {{ flex: none; }}
[class*="st-key-{ICON_ROW}"] [data-testid="stText"] {{ overflow-wrap: break-word; }}
[class*="st-key-{ICON_ROW}"] button {{ padding: 0.25rem 0.55rem; min-height: 2.25rem; }}
[class*="st-key-{ICON_ROW}"] [data-testid="stPopoverButton"] div[aria-hidden="true"] {{ display: none; }}
[data-testid="stPopoverBody"]:has([class*="st-key-{PREVIEW_BOX}"]) {{
  transform: none !important; top: 8vh !important; left: 50% !important; translate: -50% 0;
  width: min(760px, calc(100vw - 2rem)) !important; max-width: none !important; max-height: 84vh !important;
}}
</style>"""
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


def breakable(name: str) -> str:
    """A file name that a narrow column breaks where people would: after ``_`` and ``/`` (a zero-width space).

    Without it a long name broke anywhere ("sales_by_region_2 / 024.csv"); a single part longer than the column
    still breaks where it must.
    """
    return name.replace("_", "_\u200b").replace("/", "/\u200b")


def size_text(size: int) -> str:
    """A byte count as the panel shows it: ``131 B``, ``17.8 KB``, never broken between the number and its unit."""
    return human_size(size).replace(" ", NBSP)


def _flash(message: str, *, done: bool = False) -> None:
    """Keep a message for the panel's next run (``message`` is shown literally): a warning, or what was ``done``."""
    st.session_state.setdefault(FLASH_KEY, []).append((escape_markdown(message), done))


def _show_flash() -> None:
    for message, done in st.session_state.pop(FLASH_KEY, []):
        if done:
            st.success(message, icon=":material/check:")
        else:
            st.warning(message)


def _icon_label(action: str, path: str, after: str = "") -> str:
    """The label of an icon button: read by screen readers, hidden on screen by :data:`PANEL_STYLE`."""
    return f"{action} {_label(posixpath.basename(path) or path)}{after}"


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


def _ask_to_delete(path: str) -> None:
    st.session_state[CONFIRM_KEY] = path


def _cancel_delete() -> None:
    st.session_state.pop(CONFIRM_KEY, None)


def _delete(session: Session, path: str) -> None:
    """Button callback: delete a sandbox file or folder (the fragment then reruns without it) and say so."""
    st.session_state.pop(CONFIRM_KEY, None)
    try:
        session.sandbox.remove(path)
    except (InterpreterError, OSError) as error:
        _flash(f"{printable(path)} could not be deleted: {error}")
        return
    _flash(f"Deleted {printable(path)} from the sandbox.", done=True)


def _confirm_delete(session: Session, path: str, folder: bool = False) -> None:
    """The question a delete button asks first, with "Delete" and "Cancel"."""
    what = f"the folder {printable(path)}/ and everything in it" if folder else printable(path)
    st.warning(escape_markdown(f"Delete {what} from the sandbox? This cannot be undone."))
    confirm, cancel = st.columns(2)
    confirm.button(
        "Delete", key=widget_key("sb_delete_confirm", path), type="primary", on_click=_delete, args=(session, path)
    )
    cancel.button("Cancel", key=widget_key("sb_delete_cancel", path), on_click=_cancel_delete)


def _save_to_workspace(session: Session, info: FileInfo) -> None:
    """Button callback: copy a sandbox file to the workspace under its file name, and say so."""
    name = posixpath.basename(info.path)
    try:
        session.check_user_quota(adding_bytes=info.size)
        replaced = any(saved.path == name for saved in session.workspace.list())
        saved = session.workspace.write(name, session.sandbox.read_file(info.path))
    except (InterpreterError, OSError) as error:
        _flash(f"{printable(info.path)} could not be saved to the workspace: {error}")
        return
    verb = "replaced" if replaced else "saved as"
    _flash(f"{printable(info.path)} {verb} {NAMESPACE}/{printable(saved.path)} in the workspace.", done=True)


def _sandbox_download(session: Session, info: FileInfo, name: str) -> None:
    file_download(
        _icon_label("Download", info.path),
        owner=file_owner(session.user_id, session.conversation_id, "sandbox", info.path),
        file_name=name,
        mime=info.mime_type,
        size=info.size,
        read=partial(session.sandbox.read_file, info.path),
        open_source=partial(session.sandbox.open_file, info.path),
        key=widget_key("sb_download", info.path),
    )


def _sandbox_file_row(session: Session, info: FileInfo, level: int | None) -> None:
    """One file: name and size; preview, download, save to the workspace, delete (``level``: indent, ``None``: root)."""
    name = printable(posixpath.basename(info.path))
    shown = printable(info.path) if level is None else f"{INDENT * level}{name}"
    read = partial(session.sandbox.read_file, info.path)
    row = st.container(
        key=widget_key("icons", info.path), horizontal=True, wrap=False, vertical_alignment="center", gap="xsmall"
    )
    with row:
        st.text(f"{breakable(shown)} · {size_text(info.size)}", width="stretch")
        popover = st.popover(
            _icon_label("Preview", info.path),
            icon=":material/visibility:",
            key=widget_key("sb_preview", info.path),
            on_change="rerun",
            help="Preview",
        )
        with popover:
            if popover.open:
                with st.container(key=widget_key("preview_box", info.path)):
                    st.caption(escape_markdown(printable(info.path)))
                    read_and_preview(info.path, read, info.size, widget_key("sb_view", info.path))
        _sandbox_download(session, info, name)
        _save_button(session, info)
        _delete_button(info.path)
    if st.session_state.get(CONFIRM_KEY) == info.path:
        _confirm_delete(session, info.path)


def _save_button(session: Session, info: FileInfo) -> None:
    st.button(
        _icon_label("Save", info.path, " to the workspace"),
        key=widget_key("sb_save", info.path),
        icon=":material/save:",
        help=f"Save to the workspace ({NAMESPACE}/)",
        on_click=_save_to_workspace,
        args=(session, info),
    )


def _delete_button(path: str) -> None:
    st.button(
        _icon_label("Delete", path),
        key=widget_key("sb_delete", path),
        icon=":material/delete:",
        help="Delete",
        on_click=_ask_to_delete,
        args=(path,),
    )


def _sandbox_folder(session: Session, folder: str, entries: list[FileInfo]) -> None:
    files = [e for e in entries if not e.is_dir]
    summary = f"{len(files):,} file{'s' if len(files) != 1 else ''} · {size_text(sum(f.size for f in files))}"
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
            on_click=_ask_to_delete,
            args=(folder,),
        )
        if st.session_state.get(CONFIRM_KEY) == folder:
            _confirm_delete(session, folder, folder=True)


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
        f"{len(files):,} file{'s' if len(files) != 1 else ''} · {size_text(used)} of "
        f"{session.settings.disk_limit_mb:,}{NBSP}MB used"
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
    file_download(
        label,
        owner=file_owner(session.user_id, session.conversation_id, "workspace", info.path),
        file_name=printable(info.path),
        mime=info.mime_type,
        size=info.size,
        read=partial(session.workspace.read, info.path),
        open_source=partial(session.workspace.open, info.path),
        key=widget_key("ws_download", info.path),
        help=None,
        button_type="tertiary",
    )


def _workspace_preview(session: Session, info: FileInfo) -> None:
    kind = classify(info.path, info.size)  # from the name: the bytes are read only if the preview is open
    expander = st.expander(
        f"{_label(info.path)} · {size_text(info.size)}",
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


def render_workspace(session: Session, title: str = "") -> None:
    """The workspace: "Download all" as a ZIP, previews of the newest files, the older ones listed for download.

    Args:
        session: The conversation's engine session.
        title: The conversation's title, which names the ZIP (as it names the exported notebook).

    """
    try:
        files = session.workspace.list()
    except (InterpreterError, OSError) as error:
        st.warning(escape_markdown(f"The workspace cannot be listed: {error}"))
        return
    st.caption(
        f"{NAMESPACE}/ · {len(files):,} file{'s' if len(files) != 1 else ''} · {size_text(sum(f.size for f in files))}"
    )
    download_link(
        "Download all",
        (session.user_id, session.conversation_id, "workspace"),
        export_file_name(title, "-workspace.zip"),
        "application/zip",
        partial(zip_workspace, session.workspace),
        icon=":material/folder_zip:",
        disabled=not files,
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
        _workspace_download(session, info, f"{_label(info.path)} · {size_text(info.size)}")
    _more_button(limit_key, limit, len(older))


@st.fragment
def render_side_panel(session: Session, title: str = "") -> None:
    """The side panel of a conversation: its sandbox files and its workspace, in two tabs.

    Args:
        session: The conversation's engine session.
        title: The conversation's title (names the workspace's ZIP).

    """
    st.html(PANEL_STYLE)
    _show_flash()
    sandbox_tab, workspace_tab = st.tabs(["Sandbox files", "Workspace"], key=PREFIX + "tabs")
    with sandbox_tab:
        render_sandbox_files(session)
    with workspace_tab:
        render_workspace(session, title)
