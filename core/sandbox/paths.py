"""Paths given by the model or a person: what no file system can hold is refused the same way by every backend."""

from __future__ import annotations

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
