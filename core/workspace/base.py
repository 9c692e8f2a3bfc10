"""The Workspace protocol and the rules for workspace names."""

from __future__ import annotations

import re
import unicodedata
from typing import BinaryIO, Protocol, runtime_checkable

from core.errors import InvalidPathError
from core.types import FileInfo

NAMESPACE = "code-interpreter"
MAX_NAME_LENGTH = 255
_DRIVE = re.compile(r"^[A-Za-z]:")  # "C:..." is absolute (or drive-relative) on Windows


def _shown(name: str, limit: int = 60) -> str:
    """Quote a name for a message, shortened when long."""
    if len(name) > limit:
        name = name[: limit - 3] + "..."
    return repr(name)


def validate_name(name: str) -> str:
    """Check a workspace name and return it without the optional ``code-interpreter/`` prefix.

    The namespace is flat: a name is one file name. Refused: empty names, ``.`` and ``..``, absolute paths,
    slashes and backslashes (after the optional prefix), NUL and other control characters, hidden names
    (starting with ``.``) and names longer than 255 characters.

    Args:
        name: The name as given by the model or the user.

    Returns:
        The bare file name.

    Raises:
        InvalidPathError: With a message that says what is wrong with the name.

    """
    if not isinstance(name, str):
        raise InvalidPathError(f"A file name must be text, not {type(name).__name__}.")
    shown = _shown(name)
    bare = name.removeprefix(NAMESPACE + "/")
    if not bare:
        raise InvalidPathError("The file name is empty. Give a file name such as 'report.csv'.")
    if bare in (".", ".."):
        raise InvalidPathError(f"The name {shown} is not a file name. Give a file name such as 'report.csv'.")
    if bare.startswith(("/", "\\")) or _DRIVE.match(bare):
        raise InvalidPathError(f"The name {shown} is an absolute path. Give only the file name, such as 'report.csv'.")
    if "/" in bare or "\\" in bare:
        last = re.split(r"[/\\]", bare)[-1] or "report.csv"
        raise InvalidPathError(
            f"The name {shown} contains a folder separator, but the workspace has no folders: "
            f"every file sits at the top level. Use the bare file name, such as {_shown(last)}."
        )
    if any(unicodedata.category(char) == "Cc" for char in bare):
        raise InvalidPathError(
            f"The name {shown} contains a control character (such as NUL or a line break). Remove it and try again."
        )
    if bare.startswith("."):
        raise InvalidPathError(
            f"The name {shown} starts with '.', which makes a hidden file. Choose a name without the leading dot."
        )
    try:
        encoded_length = len(bare.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidPathError(
            f"The name {shown} contains characters that cannot be stored. Use ordinary letters and digits."
        ) from None
    if len(bare) > MAX_NAME_LENGTH or encoded_length > MAX_NAME_LENGTH:
        raise InvalidPathError(
            f"The name {shown} is too long ({len(bare)} characters); "
            f"the limit is {MAX_NAME_LENGTH} (fewer for accented or non-Latin letters). "
            "Choose a shorter name."
        )
    return bare


@runtime_checkable
class Workspace(Protocol):
    """Where a session's results are kept: list, read, write (atomic) and delete flat names."""

    def list(self) -> list[FileInfo]:
        """Every file, sorted by name, with size, modification time and MIME type."""
        ...

    def read(self, name: str) -> bytes:
        """Return the bytes of one file; raises ``FileNotFoundInSandbox`` when it does not exist."""
        ...

    def open(self, name: str) -> BinaryIO:
        """One file, open for reading a piece at a time; raises ``FileNotFoundInSandbox`` when it does not exist."""
        ...

    def write(self, name: str, data: bytes) -> FileInfo:
        """Store a file atomically (a reader never sees half of it) and describe it."""
        ...

    def delete(self, name: str) -> None:
        """Remove a file; raises ``FileNotFoundInSandbox`` when it does not exist."""
        ...
