"""Every output reachable: the files a step made and the files the model's answer names, found and offered.

No Streamlit here: ``components/chat.py`` draws download and "Save to workspace" buttons for what this module
finds. Paths come from the model and from code, so they are untrusted: a reference is only ever looked up in
the session's sandbox (through the sandbox's own path checks) and in its workspace listing, never opened as a
path or fetched as a URL of the server.

An answer may name a file as ``sandbox:/mnt/data/x.csv``, ``/mnt/data/x.csv``, ``/sandbox/x.csv``,
``code-interpreter/x.png`` or, inside a Markdown link, a bare ``x.png``. :func:`link_answer` turns each link to
an existing file into a link to its download address (the page gives one; the file also gets a download button
under the answer), a link to a missing file into plain text, and collects the files that bare mentions name.

A Plotly figure is untrusted too: :func:`figure_without_sources` takes out every address it would load something
from (a layout image's ``source``, a GeoJSON or map style URL), so that a chart carries no data out of the sandbox.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol
from urllib.parse import unquote, urlsplit

from core.errors import InterpreterError
from core.text import escape_markdown
from core.types import FileInfo

if TYPE_CHECKING:
    from core.sandbox.base import Sandbox
    from core.workspace.base import Workspace

Location = Literal["sandbox", "workspace"]
Addresser = Callable[["FileRef"], str]
"""Gives a file's download address (a path of this server, e.g. ``/download/<token>``)."""
SANDBOX_PREFIXES = ("/mnt/data/", "/sandbox/")
WORKSPACE_PREFIXES = ("code-interpreter/", "/code-interpreter/")
MAX_ANSWER_FILES = 20
MAX_ANSWER_IMAGES = 4
MAX_ANSWER_IMAGE_BYTES = 5 * 1024 * 1024
ANSWER_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
"""Pictures an answer embeds are shown (not SVG: it is a document that could carry links and scripts)."""
MAX_LOOKUPS = 200
"""Distinct sandbox paths one :class:`SessionFiles` looks up; later ones count as missing (a huge answer stays fast)."""
_LINK = re.compile(
    r"(!?)\[([^\[\]\n]{0,500})\]\(\s*(<[^<>\n]{0,2000}>|[^()<>\s]{1,2000})(?:\s+\"[^\"\n]{0,500}\")?\s*\)"
)
_BARE = re.compile(r"(?<![\w/.:-])(?:sandbox:)?(?:/mnt/data|/sandbox|code-interpreter)/[^\s`'\"()<>\[\]{}|*]+")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}\1[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_TRAILING = ".,;:!?"
FIGURE_ADDRESS_KEYS = frozenset({"source", "geojson", "style", "sprite", "glyphs", "tiles", "url"})
"""Keys of a Plotly figure whose text value (or list of texts) may be an address that Plotly.js loads."""
_PATH_PARTS = re.compile(r"[^A-Za-z]+")
"""What separates the properties of a key that is a path (``images[0].source``, ``images_0_source``)."""


class FilesHost(Protocol):
    """What :class:`SessionFiles` needs of a session (``core.session.Session`` is one)."""

    sandbox: Sandbox
    workspace: Workspace
    user_id: str
    conversation_id: str

    def check_user_quota(self, adding_bytes: int = 0, adding_files: int = 1) -> None:
        """Refuse new files past the person's quota."""


@dataclass(frozen=True)
class FileRef:
    """A file that exists: in the sandbox (``path`` relative to its root) or in the workspace (``path`` its name)."""

    location: Location
    path: str
    size: int
    mime_type: str

    @property
    def name(self) -> str:
        """The file's name without its folders (what a download is called)."""
        return posixpath.basename(self.path)

    @property
    def shown(self) -> str:
        """How the chat names it: the sandbox path, or ``code-interpreter/<name>``."""
        return self.path if self.location == "sandbox" else f"code-interpreter/{self.path}"


class SessionFiles:
    """One session's files as the chat page sees them during one run: looked up once each, then remembered.

    Args:
        host: The session (its sandbox, workspace and quota check).

    """

    def __init__(self, host: FilesHost) -> None:
        self.host = host
        self._sandbox: dict[str, FileRef | None] = {}
        self._workspace: dict[str, FileRef] | None = None

    def sandbox_file(self, path: str) -> FileRef | None:
        """The sandbox's regular file at ``path`` (relative to its root), or ``None``."""
        if path not in self._sandbox:
            if len(self._sandbox) >= MAX_LOOKUPS:
                return None
            self._sandbox[path] = self._look_up(path)
        return self._sandbox[path]

    def _look_up(self, path: str) -> FileRef | None:
        path = posixpath.normpath(path) if path else ""
        if path in ("", ".") or path.startswith("/") or ".." in path.split("/"):
            return None
        try:
            (info,) = self.host.sandbox.list_files(path)
        except (InterpreterError, OSError, ValueError):  # missing, refused, or a folder's several entries
            return None
        return _ref("sandbox", info) if info.path == path and not info.is_dir else None

    def workspace_file(self, name: str) -> FileRef | None:
        """The workspace file called ``name``, or ``None``."""
        if self._workspace is None:
            try:
                self._workspace = {info.path: _ref("workspace", info) for info in self.host.workspace.list()}
            except (InterpreterError, OSError):
                self._workspace = {}
        return self._workspace.get(name)

    def find(self, reference: str) -> FileRef | None:
        """The existing file a path in an answer names (see the module's docstring), or ``None``."""
        reference = reference.strip()
        if reference.lower().startswith("sandbox:"):
            reference = reference[len("sandbox:") :]
        if _SCHEME.match(reference) or reference.startswith(("#", "//")):
            return None
        for prefix in WORKSPACE_PREFIXES:
            if reference.startswith(prefix):
                name = reference[len(prefix) :]
                return self.workspace_file(name) or self.sandbox_file(name)
        for prefix in SANDBOX_PREFIXES:
            if reference.startswith(prefix):
                reference = reference[len(prefix) :]
                break
        return self.sandbox_file(reference) or self.workspace_file(reference)

    def read(self, ref: FileRef) -> bytes:
        """The file's bytes (read when a download is clicked)."""
        if ref.location == "sandbox":
            return self.host.sandbox.read_file(ref.path)
        return self.host.workspace.read(ref.path)

    def open(self, ref: FileRef) -> BinaryIO:
        """The file, open for reading a piece at a time (a large file's download)."""
        if ref.location == "sandbox":
            return self.host.sandbox.open_file(ref.path)
        return self.host.workspace.open(ref.path)

    def save_to_workspace(self, path: str) -> FileInfo:
        """Copy a sandbox file into the workspace under its file name (within the person's quota).

        Raises:
            InterpreterError: When the file is gone, its name is refused or the quota is full (plain words).

        """
        data = self.host.sandbox.read_file(path)
        self.host.check_user_quota(adding_bytes=len(data))
        info = self.host.workspace.write(posixpath.basename(path), data)
        if self._workspace is not None:
            self._workspace[info.path] = _ref("workspace", info)
        return info


def _ref(location: Location, info: FileInfo) -> FileRef:
    return FileRef(location, info.path, info.size, info.mime_type)


@dataclass
class LinkedAnswer:
    """An answer ready to show: its Markdown with file links resolved, and the files it names (no repeats).

    ``images`` are the existing pictures it embeds (``![chart](sandbox:/mnt/data/chart.png)``): PNG, JPEG, GIF or
    WebP files of at most :data:`MAX_ANSWER_IMAGE_BYTES`, at most :data:`MAX_ANSWER_IMAGES` of them.
    """

    markdown: str
    files: list[FileRef]
    images: list[FileRef] = field(default_factory=list)


def _link_target(raw: str) -> str:
    target = raw[1:-1] if raw.startswith("<") and raw.endswith(">") else raw
    return unquote(target)


def _is_web_link(target: str) -> bool:
    return target.startswith("#") or (_SCHEME.match(target) is not None and not target.lower().startswith("sandbox:"))


def _rewrite_links(
    text: str, files: SessionFiles | None, found: list[FileRef], images: list[FileRef], address: Addresser | None
) -> str:
    def replace(match: re.Match[str]) -> str:
        label, target = match.group(2), _link_target(match.group(3))
        if _is_web_link(target):
            return match.group(0)
        ref = files.find(target) if files is not None else None
        if ref is not None:
            found.append(ref)
            if match.group(1) and ref.mime_type in ANSWER_IMAGE_TYPES and ref.size <= MAX_ANSWER_IMAGE_BYTES:
                images.append(ref)
            shown = label.strip() or escape_markdown(ref.name)
            return f"**{shown}**" if address is None else f"[{shown}](<{address(ref)}>)"
        shown = escape_markdown(target)
        return shown if label.strip() in ("", target) else f"{label} ({shown})"

    return _LINK.sub(replace, text)


def _outside_fences(text: str) -> list[tuple[bool, str]]:
    """``text`` cut into (is a fenced code block, part) pieces, in order."""
    pieces, position = [], 0
    for match in _FENCE.finditer(text):
        pieces += [(False, text[position : match.start()]), (True, match.group(0))]
        position = match.end()
    return [*pieces, (False, text[position:])]


def link_answer(text: str, files: SessionFiles | None, address: Addresser | None = None) -> LinkedAnswer:
    """Resolve the file paths in a model's answer (see the module's docstring).

    Args:
        text: The answer's Markdown (untrusted).
        files: The session's files; ``None`` when they cannot be looked up now (every file link becomes text).
        address: Gives an existing file's download address: its links then point there (else their label is
            shown in bold).

    Returns:
        The Markdown to show (still to be passed through ``safe_markdown``) and at most
        :data:`MAX_ANSWER_FILES` existing files it names, in order of mention.

    """
    found: list[FileRef] = []
    images: list[FileRef] = []
    parts = [
        piece if fenced else _rewrite_links(piece, files, found, images, address)
        for fenced, piece in _outside_fences(text)
    ]
    if files is not None:
        for match in _BARE.finditer(text):
            ref = files.find(match.group(0).rstrip(_TRAILING))
            if ref is not None:
                found.append(ref)
    unique = list(dict.fromkeys(found))
    shown = list(dict.fromkeys(images))[:MAX_ANSWER_IMAGES]
    return LinkedAnswer("".join(parts), unique[:MAX_ANSWER_FILES], shown)


def _is_address(value: object) -> bool:
    """Whether a figure's value would be loaded from somewhere.

    That is text with ``/``, ``:`` or ``.`` (named map styles and font styles have none), or a list holding such
    text; ``data:`` URLs fetch nothing.
    """
    if isinstance(value, list):
        return any(_is_address(item) for item in value)
    text = value.strip().lower() if isinstance(value, str) else "data:"
    return not text.startswith("data:") and any(mark in text for mark in "/:.")


def _property(key: object) -> str:
    """The property a figure's key sets: its last part, as plotly.py reads a key that is a path into the figure."""
    parts = [part for part in _PATH_PARTS.split(str(key)) if part]
    return parts[-1] if parts else ""


def _host(value: object) -> str:
    address = str(value[0] if isinstance(value, list) and value else value).strip()
    try:
        host = urlsplit(address).hostname
    except ValueError:
        host = None
    return host or address[:80]


def figure_without_sources(figure: Any) -> tuple[Any, str]:
    """A Plotly figure (its JSON data) without the addresses it would load from, and what was taken out.

    Every key of :data:`FIGURE_ADDRESS_KEYS`, at any depth (layout, templates, frames, map layers), whose value is
    an address goes, also where a key is a path that plotly.py follows (``images[0].source``, ``images_0_source``,
    ``mapbox_style``); ``data:`` images stay.

    Returns:
        The figure's copy, and a sentence saying what was not loaded (``""`` when nothing was taken out).

    """
    removed: dict[str, str] = {}

    def clean(value: Any) -> Any:
        if isinstance(value, list):
            return [clean(item) for item in value]
        if not isinstance(value, dict):
            return value
        kept = {}
        for key, item in value.items():
            if _property(key) in FIGURE_ADDRESS_KEYS and _is_address(item):
                removed.setdefault(_host(item), _property(key))
            else:
                kept[key] = clean(item)
        return kept

    cleaned = clean(figure)
    if not removed:
        return cleaned, ""
    what = "image" if set(removed.values()) == {"source"} else "content"
    plural = len(removed) > 1
    return cleaned, (
        f"The figure's {what}{'s' if plural and what == 'image' else ''} from {', '.join(sorted(removed))} "
        f"{'were' if plural else 'was'} not loaded."
    )
