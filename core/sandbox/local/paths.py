"""Keeping host-side file operations inside a sandbox root."""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import InvalidPathError

MAX_PATH_LENGTH = 4096
MAX_NAME_BYTES = 255
"""The longest file or folder name most file systems hold, in bytes."""


def check_path_text(path: str) -> None:
    """Refuse a path that no file system can hold: empty, NUL bytes, too long, a name over 255 bytes.

    Raises:
        InvalidPathError: With a message that says what is wrong.

    """
    if not isinstance(path, str) or not path.strip():
        raise InvalidPathError("A path is required (for example 'data.csv' or '.').")
    if "\x00" in path:
        raise InvalidPathError(f"The path {path[:80]!r} contains a NUL byte, which no file name can hold.")
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidPathError(f"The path is {len(path)} characters long; the limit is {MAX_PATH_LENGTH}.")
    for part in path.split("/"):
        try:
            size = len(part.encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError:
            raise InvalidPathError(f"The path {path[:80]!r} contains characters no file name can hold.") from None
        if size > MAX_NAME_BYTES:
            raise InvalidPathError(
                f"The name {part[:40]!r}... in the path is {size:,} bytes long; a file or folder name can have at "
                f"most {MAX_NAME_BYTES}. Choose a shorter name."
            )


def resolve_in_root(root: Path, path: str, *, inner_root: str = "/sandbox") -> Path:
    """Resolve a path given by the model or the user to a host path inside ``root``.

    Relative paths resolve against the root; absolute paths are accepted only under the root as the
    sandbox sees it (``/sandbox/...``). Symlinks are followed and the final target must still be inside.

    Args:
        root: The sandbox root on the host.
        path: The path as given.
        inner_root: The root as sandboxed code sees it.

    Returns:
        The resolved host path (it may not exist yet).

    Raises:
        InvalidPathError: For NUL bytes, overlong paths, absolute paths elsewhere and escapes.

    """
    check_path_text(path)
    relative = path
    if os.path.isabs(path):
        normal = os.path.normpath(path)
        if normal != inner_root and not normal.startswith(inner_root.rstrip("/") + "/"):
            raise InvalidPathError(
                f"{path!r} is an absolute path outside the sandbox. Use a path relative to the sandbox root "
                f"({inner_root})."
            )
        relative = os.path.relpath(normal, inner_root)
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(real_root, relative))
    if target != real_root and not target.startswith(real_root + os.sep):
        how = "is a link that points" if os.path.islink(os.path.join(real_root, relative)) else "leads"
        raise InvalidPathError(f"{path!r} {how} outside the sandbox, which is not allowed.")
    if len(os.fsencode(target)) >= MAX_PATH_LENGTH:
        raise InvalidPathError(f"The path {path[:80]!r}... is too long for the file system. Use a shorter path.")
    return Path(target)


def relative_to_root(root: Path, path: Path) -> str:
    """A host path inside the root, as the POSIX path relative to the root ('.' for the root)."""
    return Path(os.path.relpath(path, os.path.realpath(root))).as_posix()
