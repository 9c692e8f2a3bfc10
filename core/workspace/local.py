"""A workspace kept in a folder on the local disk."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from core.errors import FileNotFoundInSandbox, InvalidPathError
from core.types import FileInfo, guess_mime_type
from core.workspace.base import validate_name

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO planted in the folder must not hang


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half of it.

    The bytes go to a hidden temporary file in the same folder, are flushed to disk, then the temporary
    file is renamed over ``path``. If ``path`` is a symbolic link, the link itself is replaced.

    Args:
        path: The file to create or overwrite; its folder must exist.
        data: The new content.

    Raises:
        OSError: When the file cannot be written; the old content is then left as it was.

    """
    temp = path.with_name(f".tmp-{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _not_found(name: str) -> FileNotFoundInSandbox:
    return FileNotFoundInSandbox(f"No file named {name!r} in the workspace.")


def _info(name: str, status: os.stat_result) -> FileInfo:
    return FileInfo(path=name, size=status.st_size, modified=status.st_mtime, mime_type=guess_mime_type(name))


class LocalWorkspace:
    """A workspace whose files are the regular files of one folder.

    Hidden files (names starting with ``.``, which includes temporary files of unfinished writes),
    folders and symbolic links in the folder are not part of the workspace: they are not listed and
    cannot be read or deleted through it.

    Attributes:
        root: The folder that holds the files (usually ``.../code-interpreter``).

    """

    def __init__(self, root: Path) -> None:
        """Use ``root`` as the workspace folder, creating it if needed.

        Args:
            root: The folder that holds the files.

        """
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def list(self) -> list[FileInfo]:
        """Describe every file of the workspace.

        Returns:
            One ``FileInfo`` per file, sorted by name.

        """
        files = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    files.append(_info(entry.name, entry.stat(follow_symlinks=False)))
        return sorted(files, key=lambda info: info.path)

    def read(self, name: str) -> bytes:
        """Return the content of one file.

        Args:
            name: The file name, with or without the ``code-interpreter/`` prefix.

        Returns:
            The file's bytes.

        Raises:
            InvalidPathError: When the name is refused.
            FileNotFoundInSandbox: When there is no such file (symbolic links count as missing).

        """
        with self.open(name) as handle:
            return handle.read()

    def open(self, name: str) -> BinaryIO:
        """One file, open for reading: a regular file in the folder, never followed through a symbolic link.

        Raises:
            InvalidPathError: When the name is refused.
            FileNotFoundInSandbox: When there is no such file (symbolic links count as missing).

        """
        bare = validate_name(name)
        try:
            fd = os.open(self.root / bare, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _BINARY)
        except OSError:  # missing, a symbolic link (ELOOP), or unreadable
            raise _not_found(bare) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a folder, a FIFO, ...
            os.close(fd)
            raise _not_found(bare)
        return os.fdopen(fd, "rb")

    def write(self, name: str, data: bytes) -> FileInfo:
        """Store a file atomically, replacing any file of the same name.

        Args:
            name: The file name, with or without the ``code-interpreter/`` prefix.
            data: The content.

        Returns:
            A description of the stored file.

        Raises:
            InvalidPathError: When the name is refused or a folder of that name is in the way.

        """
        bare = validate_name(name)
        target = self.root / bare
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            atomic_write(target, bytes(data))
        except IsADirectoryError:
            raise InvalidPathError(
                f"A folder named {bare!r} is in the way in the workspace. Choose another name."
            ) from None
        return _info(bare, os.stat(target, follow_symlinks=False))

    def delete(self, name: str) -> None:
        """Remove a file.

        Args:
            name: The file name, with or without the ``code-interpreter/`` prefix.

        Raises:
            InvalidPathError: When the name is refused.
            FileNotFoundInSandbox: When there is no such file (symbolic links count as missing).

        """
        bare = validate_name(name)
        target = self.root / bare
        try:
            if not stat.S_ISREG(os.lstat(target).st_mode):
                raise _not_found(bare)
            os.unlink(target)
        except FileNotFoundError:
            raise _not_found(bare) from None
