"""The Workspace protocol and the rules for workspace names."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from core.types import FileInfo

NAMESPACE = "code-interpreter"
MAX_NAME_LENGTH = 255


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
    raise NotImplementedError  # implemented below by the workspace helper


@runtime_checkable
class Workspace(Protocol):
    """Where a session's results are kept: list, read, write (atomic) and delete flat names."""

    def list(self) -> list[FileInfo]:
        """Every file, sorted by name, with size, modification time and MIME type."""
        ...

    def read(self, name: str) -> bytes:
        """The bytes of one file; raises ``FileNotFoundInSandbox`` when it does not exist."""
        ...

    def write(self, name: str, data: bytes) -> FileInfo:
        """Store a file atomically (a reader never sees half of it) and describe it."""
        ...

    def delete(self, name: str) -> None:
        """Remove a file; raises ``FileNotFoundInSandbox`` when it does not exist."""
        ...
