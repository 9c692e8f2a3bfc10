"""The one door from the host into a folder that sandboxed code can write.

Code in the sandbox can replace any file or folder it can write with a symbolic link at any moment, so the host
never hands a path string under such a folder to the operating system. Every operation starts from a descriptor
of the folder's root and walks one name at a time with ``O_NOFOLLOW``; it then acts only through descriptors
(``dir_fd=`` for open, create, rename, unlink, scandir, rmtree). Links inside the folder are followed the way
the sandbox sees them, by this module and never by the kernel: a relative link is read with ``readlinkat`` and
walked like the rest of the path, an absolute one must point under the root as the sandbox sees it
(``/sandbox/...``), and ``..`` never climbs above the root. Whatever the sandbox swaps in meanwhile, the walk
ends inside the folder or fails; it never leaves it. ``docs/files.md`` explains the choice and its cost.

Nothing else in the code base opens, lists, writes or removes a path under a sandbox's folders;
``tests/sandbox/test_one_door.py`` fails when a new call does. That is why it is one module, longer than most:
one file to read, and one place the rule allows.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import secrets
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.errors import FileNotFoundInSandbox, InvalidPathError, SandboxError
from core.sandbox.paths import MAX_PATH_LENGTH, check_path_text
from core.types import FileInfo, guess_mime_type

MAX_LINKS = 40
"""Links followed in one path before giving up (Linux's own limit)."""
CHUNK = 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _changed(path: str) -> SandboxError:
    return SandboxError(f"{path!r} changed while it was being used (a link or folder was swapped). Try again.")


class _Walk:
    """The folders from the root down to where a path leads: a descriptor and a name for each."""

    def __init__(self, root_fd: int) -> None:
        self.fds = [root_fd]
        self.names: list[str] = []

    @property
    def fd(self) -> int:
        return self.fds[-1]

    def relative(self, name: str = "") -> str:
        return "/".join([*self.names, name] if name else self.names) or "."

    def enter(self, name: str, fd: int) -> None:
        self.fds.append(fd)
        self.names.append(name)

    def up(self) -> bool:
        if len(self.fds) == 1:
            return False
        os.close(self.fds.pop())
        self.names.pop()
        return True

    def to_root(self) -> None:
        while self.up():
            pass

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


@dataclass(frozen=True)
class Entry:
    """One entry met by :meth:`SandboxFolder.walk`: its path under the root and its own status (no link followed)."""

    path: str
    status: os.stat_result

    @property
    def is_dir(self) -> bool:
        """Whether the entry is a real folder (a link to one is not)."""
        return stat.S_ISDIR(self.status.st_mode)

    @property
    def is_file(self) -> bool:
        """Whether the entry is a regular file (a link to one is not)."""
        return stat.S_ISREG(self.status.st_mode)


class SandboxFolder:
    """A host folder that sandboxed code can write, reached without ever following a path it can change.

    Args:
        root: The folder on the host. Its own path must be out of the sandbox's reach (the session folder holds
            it); everything under it is not.
        inner_root: The folder as sandboxed code sees it, for absolute paths and absolute links.

    """

    def __init__(self, root: Path, inner_root: str = "/sandbox") -> None:
        self.root = Path(root)
        self.inner_root = inner_root.rstrip("/") or "/"

    # -- walking ----------------------------------------------------------------------------------------------

    def _open_root(self) -> int:
        try:
            return os.open(self.root, _DIR_FLAGS)
        except FileNotFoundError:
            raise FileNotFoundInSandbox("The sandbox's folder is gone (the session was closed).") from None

    def _parts(self, path: str) -> list[str]:
        """The path's names, relative to the root (an absolute path must lie under the inner root)."""
        check_path_text(path)
        if path.startswith("/"):
            inner = self.inner_root
            if path != inner and not path.startswith(inner.rstrip("/") + "/"):
                raise InvalidPathError(
                    f"{path!r} is an absolute path outside the sandbox. Use a path relative to the sandbox root "
                    f"({inner})."
                )
            path = posixpath.normpath(path)
            if path != inner and not path.startswith(inner.rstrip("/") + "/"):
                raise InvalidPathError(f"{path!r} is an absolute path outside the sandbox.")
            path = path[len(inner) :]
        lexical = posixpath.normpath(path.lstrip("/") or ".")
        if lexical == ".." or lexical.startswith("../"):
            raise InvalidPathError(f"{path!r} leads outside the sandbox, which is not allowed.")
        if len(os.fsencode(self.root)) + 1 + len(path.encode("utf-8", "surrogateescape")) >= MAX_PATH_LENGTH:
            raise InvalidPathError(f"The path {path[:80]!r}... is too long for the file system. Use a shorter path.")
        return [part for part in path.split("/") if part not in ("", ".")]

    @contextlib.contextmanager
    def _walk(self, path: str, *, follow_last: bool = True, create: bool = False) -> Iterator[tuple[_Walk, str]]:
        """Walk to the folder holding the path's last name; yield the walk and that name (``""``: the root).

        Args:
            path: The path as given.
            follow_last: Whether a link in the last place is followed too (not for remove).
            create: Whether missing folders on the way are created.

        """
        pending = self._parts(path)
        walk = _Walk(self._open_root())
        links = 0
        try:
            while pending:
                name = pending.pop(0)
                if name == "..":
                    if not walk.up():
                        how = "is a link that points" if links else "leads"
                        raise InvalidPathError(f"{path!r} {how} outside the sandbox, which is not allowed.")
                    continue
                if name == ".":
                    continue
                try:
                    status: os.stat_result | None = os.stat(name, dir_fd=walk.fd, follow_symlinks=False)
                except FileNotFoundError:
                    status = None
                except NotADirectoryError:
                    raise FileNotFoundInSandbox(f"No file or folder {path!r} in the sandbox.") from None
                if status is not None and stat.S_ISLNK(status.st_mode) and (pending or follow_last):
                    links += 1
                    if links > MAX_LINKS:
                        raise InvalidPathError(f"{path!r} goes through too many links (a loop?).")
                    pending[:0] = self._link_parts(walk, name, path)
                    continue
                if not pending:
                    yield walk, name
                    return
                walk.enter(name, self._open_folder(walk.fd, name, path, status, create))
            yield walk, ""
        finally:
            walk.close()

    def _link_parts(self, walk: _Walk, name: str, path: str) -> list[str]:
        try:
            target = os.readlink(name, dir_fd=walk.fd)
        except OSError:
            raise _changed(path) from None
        if target.startswith("/"):
            inner = self.inner_root
            if target != inner and not target.startswith(inner.rstrip("/") + "/"):
                raise InvalidPathError(f"{path!r} is a link that points outside the sandbox, which is not allowed.")
            walk.to_root()
            target = target[len(inner) :]
        return [part for part in target.split("/") if part not in ("", ".")]

    @staticmethod
    def _open_folder(fd: int, name: str, path: str, status: os.stat_result | None, create: bool) -> int:
        if status is None:
            if not create:
                raise FileNotFoundInSandbox(f"No file or folder {path!r} in the sandbox.")
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=fd)
        elif not stat.S_ISDIR(status.st_mode):
            raise FileNotFoundInSandbox(f"No file or folder {path!r} in the sandbox ({name!r} is not a folder).")
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except (NotADirectoryError, FileNotFoundError, OSError) as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                raise _changed(path) from None
            raise

    # -- reading ----------------------------------------------------------------------------------------------

    def open(self, path: str) -> BinaryIO:
        """A regular file open for reading (links inside the folder are followed).

        Raises:
            FileNotFoundInSandbox: When there is no such file, or the path is a folder.
            InvalidPathError: When the path or a link on it leads outside.

        """
        with self._walk(path) as (walk, name):
            if not name:
                raise FileNotFoundInSandbox(f"No file {path!r} in the sandbox. It is a folder.")
            try:
                fd = os.open(name, _READ_FLAGS, dir_fd=walk.fd)
            except FileNotFoundError:
                raise FileNotFoundInSandbox(f"No file {path!r} in the sandbox.") from None
            except OSError as error:
                if error.errno == errno.ELOOP:
                    raise _changed(path) from None
                raise
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            folder = " It is a folder." if stat.S_ISDIR(mode) else " It is not a regular file."
            raise FileNotFoundInSandbox(f"No file {path!r} in the sandbox.{folder}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def read(self, path: str, limit: int | None = None) -> bytes:
        """A file's bytes (at most ``limit`` of them)."""
        with self.open(path) as handle:
            return handle.read() if limit is None else handle.read(limit)

    def info(self, path: str) -> FileInfo:
        """What the path names, as the side panel lists it (links followed inside the folder)."""
        with self._walk(path) as (walk, name):
            status = os.stat(name or ".", dir_fd=walk.fd, follow_symlinks=False)
            return _file_info(walk.relative(name), status)

    def exists(self, path: str) -> bool:
        """Whether the path names something inside the folder."""
        try:
            self.info(path)
        except (FileNotFoundInSandbox, FileNotFoundError, InvalidPathError):
            return False
        return True

    def list(self, path: str = ".", *, recursive: bool = False) -> list[FileInfo]:
        """The entries of a folder (folders included), or the one file named; sorted by path."""
        with self._walk(path) as (walk, name):
            if name:
                status = os.stat(name, dir_fd=walk.fd, follow_symlinks=False)
                if not stat.S_ISDIR(status.st_mode):
                    return [_file_info(walk.relative(name), status)]
                walk.enter(name, self._open_folder(walk.fd, name, path, status, False))
            prefix = "" if not walk.names else walk.relative() + "/"
            entries = [_file_info(e.path, e.status) for e in _walk_fd(walk.fd, prefix, recursive=recursive)]
        return sorted(entries, key=lambda e: e.path)

    def walk(self, path: str = ".", *, skip: Callable[[str], bool] | None = None) -> Iterator[Entry]:
        """Every entry under a folder, depth first, links listed but never followed.

        Args:
            path: The folder to walk.
            skip: Names to leave out, and not to walk into when they are folders.

        """
        with self._walk(path) as (walk, name):
            if name:
                walk.enter(name, self._open_folder(walk.fd, name, path, _lstat(walk.fd, name), False))
            prefix = "" if not walk.names else walk.relative() + "/"
            yield from _walk_fd(walk.fd, prefix, recursive=True, skip=skip)

    def usage(self) -> int:
        """Bytes the files under the root take (their sizes; links and folders count nothing)."""
        return sum(entry.status.st_size for entry in self.walk(".") if not entry.is_dir)

    # -- writing ----------------------------------------------------------------------------------------------

    def write(self, path: str, data: bytes | Iterable[bytes], *, follow_last: bool = True) -> FileInfo:
        """Create or replace a file atomically; missing parent folders are created.

        Args:
            path: Where the file goes.
            data: Its bytes, at once or in pieces.
            follow_last: Whether a link at ``path`` is written through (else the link itself is replaced).

        Raises:
            InvalidPathError: When the path names a folder or leads outside.

        """
        with self._walk(path, create=True, follow_last=follow_last) as (walk, name):
            if not name:
                raise InvalidPathError(f"{path!r} is a folder; give a file name.")
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISDIR(os.stat(name, dir_fd=walk.fd, follow_symlinks=False).st_mode):
                    raise InvalidPathError(f"{path!r} is a folder; give a file name.")
            temp = self._write_temp(walk.fd, [data] if isinstance(data, bytes) else data)
            try:
                os.rename(temp, name, src_dir_fd=walk.fd, dst_dir_fd=walk.fd)
            except OSError as error:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=walk.fd)
                if error.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                    raise InvalidPathError(f"{path!r} is a folder; give a file name.") from None
                raise
            return _file_info(walk.relative(name), os.stat(name, dir_fd=walk.fd, follow_symlinks=False))

    @staticmethod
    def _write_temp(dir_fd: int, chunks: Iterable[bytes]) -> str:
        temp = f".write-{secrets.token_hex(8)}"
        fd = os.open(temp, _CREATE_FLAGS, 0o644, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
            raise
        return temp

    def make_folder(self, path: str) -> None:
        """Create a folder and the folders above it (nothing happens when it exists)."""
        with self._walk(path + "/.", create=True):
            pass

    def remove(self, path: str) -> None:
        """Delete a file, a link (not what it points to) or a whole folder; never the root itself.

        Raises:
            FileNotFoundInSandbox: When nothing has that path.
            InvalidPathError: For the root, or a path leading outside.

        """
        with self._walk(path, follow_last=False) as (walk, name):
            if not name:
                raise InvalidPathError("The sandbox root itself cannot be removed; name the files to delete.")
            try:
                status = os.stat(name, dir_fd=walk.fd, follow_symlinks=False)
            except FileNotFoundError:
                raise FileNotFoundInSandbox(f"No file or folder {path!r} in the sandbox.") from None
            if stat.S_ISDIR(status.st_mode):
                remove_tree_at(walk.fd, name)
            else:
                os.unlink(name, dir_fd=walk.fd)

    # -- moving whole trees in and out ------------------------------------------------------------------------

    def move_in(self, source_fd: int, name: str, path: str) -> None:
        """Rename the entry ``name`` of a host-only folder (open as ``source_fd``) to ``path`` here, replacing.

        Both folders must be on one file system. A folder already at ``path`` is not merged: see
        :meth:`merge_in`.
        """
        with self._walk(path, follow_last=False, create=True) as (walk, target):
            if not target:
                raise InvalidPathError("Nothing can replace the sandbox root.")
            os.rename(name, target, src_dir_fd=source_fd, dst_dir_fd=walk.fd)

    def merge_in(self, source: Path, path: str = ".") -> None:
        """Move every entry of a host-only folder into the folder ``path`` here, merging into existing folders.

        A file replaces a file of the same path; a file never replaces a folder nor a folder a file.

        Raises:
            InvalidPathError: When a file and a folder have the same path (nothing of that entry moves).

        """
        source_fd = os.open(source, _DIR_FLAGS)
        try:
            self.make_folder(path)
            with self._walk(path + "/.") as (walk, _):
                _merge(source_fd, walk.fd, path, check_only=True)  # a clash found first moves nothing
                _merge(source_fd, walk.fd, path, check_only=False)
        finally:
            os.close(source_fd)

    def move_out(self, path: str, target_fd: int, name: str) -> bool:
        """Rename the entry at ``path`` here (not followed if a link) to ``name`` in a host-only folder.

        Returns:
            Whether there was an entry to move.

        """
        try:
            with self._walk(path, follow_last=False) as (walk, source):
                os.rename(source, name, src_dir_fd=walk.fd, dst_dir_fd=target_fd)
                return True
        except (FileNotFoundError, FileNotFoundInSandbox):
            return False

    def remove_tree(self, path: str) -> None:
        """Remove ``path`` and everything under it; nothing happens when it is not there."""
        with contextlib.suppress(FileNotFoundInSandbox, FileNotFoundError):
            self.remove(path)


def _lstat(fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _walk_fd(fd: int, prefix: str, *, recursive: bool, skip: Callable[[str], bool] | None = None) -> Iterator[Entry]:
    """The entries of the open folder ``fd`` (and, if recursive, of every real folder below), never following links."""
    with os.scandir(fd) as listing:
        found = []
        for item in listing:
            if skip is not None and skip(item.name):
                continue
            try:
                found.append((item.name, item.stat(follow_symlinks=False)))
            except FileNotFoundError:
                continue
    for name, status in sorted(found):
        yield Entry(prefix + name, status)
        if recursive and stat.S_ISDIR(status.st_mode):
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError:  # swapped or removed meanwhile: nothing to list through it
                continue
            try:
                yield from _walk_fd(child, f"{prefix}{name}/", recursive=True, skip=skip)
            finally:
                os.close(child)


def _merge(source_fd: int, target_fd: int, where: str, *, check_only: bool) -> None:
    with os.scandir(source_fd) as listing:
        names = sorted((item.name, item.is_dir(follow_symlinks=False)) for item in listing)
    for name, is_dir in names:
        existing = _lstat(target_fd, name)
        shown = name if where in ("", ".") else f"{where}/{name}"
        if existing is None or (not is_dir and not stat.S_ISDIR(existing.st_mode)):
            if not check_only:
                os.rename(name, name, src_dir_fd=source_fd, dst_dir_fd=target_fd)
        elif is_dir and stat.S_ISDIR(existing.st_mode):
            inner_source = os.open(name, _DIR_FLAGS, dir_fd=source_fd)
            try:
                inner_target = os.open(name, _DIR_FLAGS, dir_fd=target_fd)
            except OSError:
                os.close(inner_source)
                raise InvalidPathError(f"{shown!r} changed while files were moved into it. Try again.") from None
            try:
                _merge(inner_source, inner_target, shown, check_only=check_only)
            finally:
                os.close(inner_source)
                os.close(inner_target)
        else:
            kinds = ("folder", "file") if is_dir else ("file", "folder")
            raise InvalidPathError(
                f"There is a {kinds[0]} {shown!r} to add, but a {kinds[1]} of that name is already in the sandbox."
            )


def remove_tree_at(dir_fd: int, name: str) -> None:
    """Remove the folder ``name`` of the open folder ``dir_fd`` and all it holds, following no link."""
    shutil.rmtree(name, dir_fd=dir_fd)


def remove_host_entry(path: Path) -> None:
    """Remove an entry of a host-only folder, whatever sandboxed code put inside it (a folder it could write).

    Raises:
        OSError: When it cannot be removed (a missing one is no error).

    """
    parent = os.open(path.parent, _DIR_FLAGS)
    try:
        status = _lstat(parent, path.name)
        if status is not None and stat.S_ISDIR(status.st_mode):
            remove_tree_at(parent, path.name)
        elif status is not None:
            os.unlink(path.name, dir_fd=parent)
    finally:
        os.close(parent)


def remove_host_tree(path: Path) -> None:
    """Remove a folder of the host that holds sandbox folders (a session's), if it is there; errors are ignored."""
    with contextlib.suppress(OSError):
        remove_host_entry(path)


def move_entries(source: Path, target: Path) -> None:
    """Move every entry of the folder ``source`` into ``target``, merging folders; ``source``'s files win.

    Both are folders the host made (a session's sandbox root, say) on one file system; what they hold may be
    anything sandboxed code left there, and it is moved by name within the two folders, never followed. Folders
    present in both are merged, not replaced: a folder of ``target`` may be where a running sandbox has something
    mounted (the app's virtualenv, when it lives under ``/tmp``), and replacing it would hide the mount.
    """
    source_fd, target_fd = os.open(source, _DIR_FLAGS), os.open(target, _DIR_FLAGS)
    try:
        _move_merging(source_fd, target_fd)
    finally:
        os.close(source_fd)
        os.close(target_fd)


def _move_merging(source_fd: int, target_fd: int) -> None:
    with os.scandir(source_fd) as listing:
        entries = [(item.name, item.is_dir(follow_symlinks=False)) for item in listing]
    for name, is_dir in entries:
        existing = _lstat(target_fd, name)
        if is_dir and existing is not None and stat.S_ISDIR(existing.st_mode):
            inner_source = os.open(name, _DIR_FLAGS, dir_fd=source_fd)
            try:
                inner_target = os.open(name, _DIR_FLAGS, dir_fd=target_fd)
                try:
                    _move_merging(inner_source, inner_target)
                finally:
                    os.close(inner_target)
            finally:
                os.close(inner_source)
            continue
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            remove_tree_at(target_fd, name)
        os.rename(name, name, src_dir_fd=source_fd, dst_dir_fd=target_fd)


def tree_usage(folder: Path) -> tuple[int, int]:
    """Bytes and number of the files under a folder of the host, following no link (``(0, 0)`` when missing)."""
    try:
        fd = os.open(folder, _DIR_FLAGS)
    except OSError:
        return 0, 0
    try:
        sizes = [entry.status.st_size for entry in _walk_fd(fd, "", recursive=True) if not entry.is_dir]
    finally:
        os.close(fd)
    return sum(sizes), len(sizes)


def _file_info(path: str, status: os.stat_result) -> FileInfo:
    is_dir = stat.S_ISDIR(status.st_mode)
    return FileInfo(
        path=path,
        size=0 if is_dir else status.st_size,
        modified=status.st_mtime,
        is_dir=is_dir,
        mime_type="inode/directory" if is_dir else guess_mime_type(path.rsplit("/", 1)[-1]),
    )
