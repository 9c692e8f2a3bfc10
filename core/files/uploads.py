"""Safe handling of uploaded files: plain files are stored as they are, ZIP archives are unpacked.

Nothing of a refused upload is kept. A ZIP archive is checked entry by entry before anything is
written (zip slip, absolute names, symbolic links, encryption, entry count, total size, compression
ratio), then unpacked into a hidden staging folder while the real byte counts
are checked again (headers can lie), and only when every entry is unpacked are the results moved into
place through :class:`core.sandbox.local.files.SandboxFolder` (sandboxed code may plant links in the
destination meanwhile; the staging folder is beside it, out of the sandbox's view). On any failure the staging
folder is removed and the destination is left as it was.
"""

from __future__ import annotations

import contextlib
import io
import re
import stat
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from core.config import Settings
from core.errors import InvalidPathError, UploadRejected
from core.sandbox.local.files import SandboxFolder, remove_host_tree
from core.workspace.base import validate_name

MB = 1024 * 1024
RATIO_CHECK_MIN_BYTES = MB
"""Entries smaller than this are not ratio-checked: tiny files of repeated bytes compress very well."""
_CHUNK = MB
UNPACK_THREADS = 4
_DRIVE = re.compile(r"^[A-Za-z]:")
_JUNK_NAMES = {".DS_Store"}
_Tree = dict[str, "_Tree"]


def shown_name(name: str, limit: int = 80) -> str:
    """A name for a message: quoted, and shortened when long."""
    return repr(name if len(name) <= limit else name[: limit - 3] + "...")


def _entry_parts(info: zipfile.ZipInfo, archive: str) -> tuple[str, ...] | None:
    """Check one entry and return its path parts, or ``None`` for an entry to skip."""
    raw = info.filename
    name = raw.replace("\\", "/")
    where = f"{archive} contains an entry named {shown_name(raw)}"
    if "\x00" in name:
        raise UploadRejected(f"{where} with a NUL character. The archive was refused; nothing was kept.")
    if name.startswith("/") or _DRIVE.match(name):
        raise UploadRejected(
            f"{where}, an absolute path that would be written outside the upload folder. "
            "The archive was refused; nothing was kept. Re-create it with relative paths."
        )
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise UploadRejected(
            f"{where}, which uses '..' to point outside the upload folder (a 'zip slip'). "
            "The archive was refused; nothing was kept."
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UploadRejected(
            f"{where}, which is a symbolic link. Archives with links are refused; nothing was kept. "
            "Re-create the archive without links (copy the files they point to instead)."
        )
    if info.flag_bits & 0x1:
        raise UploadRejected(
            f"{where}, which is encrypted (password-protected). Encrypted archives are refused; "
            "nothing was kept. Upload an archive made without a password."
        )
    if not parts or parts[0] == "__MACOSX" or parts[-1].startswith("._") or parts[-1] in _JUNK_NAMES:
        return None
    return parts


def _check_sizes(info: zipfile.ZipInfo, archive: str, max_ratio: float) -> None:
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > RATIO_CHECK_MIN_BYTES and ratio > max_ratio:
        raise UploadRejected(
            f"{archive} looks like a ZIP bomb: the entry {shown_name(info.filename)} would expand "
            f"{ratio:,.0f} times (from {info.compress_size:,} to {info.file_size:,} bytes), more than the "
            f"limit of {max_ratio:g} (setting INTERPRETER_MAX_UNZIP_RATIO). Nothing was kept."
        )


def _copy_entry(archive_file: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int, archive: str) -> int:
    """Unpack one entry to ``target``, counting the real bytes; return how many were written."""
    written = 0
    with archive_file.open(info) as source, open(target, "wb") as sink:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > info.file_size or written > budget:
                raise UploadRejected(
                    f"{archive} holds more data than its headers declare (entry {shown_name(info.filename)}): "
                    "the archive is damaged or forged. Nothing was kept."
                )
            sink.write(chunk)
    return written


def _unpack_in_parallel(data: bytes, entries: list[tuple[zipfile.ZipInfo, Path]], archive: str) -> None:
    """Unpack entries with a few threads: creating thousands of files is kernel time that overlaps well.

    Each thread reads through its own ``ZipFile``. Every entry is cut off at its declared size, and the declared
    sizes were checked against the total limit, so forged headers cannot make the total grow.
    """

    def unpack(share: list[tuple[zipfile.ZipInfo, Path]]) -> None:
        with zipfile.ZipFile(io.BytesIO(data)) as reader:
            for info, target in share:
                _copy_entry(reader, info, target, info.file_size, archive)

    shares = [entries[start::UNPACK_THREADS] for start in range(UNPACK_THREADS)]
    with ThreadPoolExecutor(max_workers=UNPACK_THREADS) as pool:
        for finished in [pool.submit(unpack, share) for share in shares if share]:
            finished.result()  # re-raises the first failure; the caller removes the staging folder


def extract_zip(
    data: bytes,
    dest: Path | SandboxFolder,
    *,
    max_total_bytes: int,
    max_entries: int,
    max_ratio: float,
    archive_name: str = "The archive",
) -> list[str]:
    """Unpack a ZIP archive into ``dest``, keeping its folder tree, or refuse it and keep nothing.

    Directory entries are created; macOS metadata (``__MACOSX/``, ``._*``, ``.DS_Store``) is skipped.
    Existing files with the same path are overwritten and existing folders are merged into.

    Args:
        data: The archive's bytes.
        dest: The folder to unpack into (created if needed). The archive is unpacked beside it first, in a
            hidden folder of its parent (out of the sandbox's view when ``dest`` is a sandbox's root), then
            moved in through :class:`SandboxFolder`.
        max_total_bytes: The largest total uncompressed size accepted.
        max_entries: The most entries accepted.
        max_ratio: The highest compression ratio accepted for an entry larger than 1 MB.
        archive_name: How messages name the archive, e.g. the uploaded file name.

    Returns:
        The unpacked files' paths relative to ``dest``, POSIX style, sorted.

    Raises:
        UploadRejected: When the archive is invalid, unsafe or too large; ``dest`` is then unchanged.

    """
    archive = shown_name(archive_name) if archive_name != "The archive" else archive_name
    try:
        archive_file = zipfile.ZipFile(io.BytesIO(data))
    except Exception as error:  # any failure to parse untrusted bytes means "not a ZIP archive"
        raise UploadRejected(f"{archive} is not a valid ZIP archive ({error}). Nothing was kept.") from None
    with archive_file:
        files = check_entries(archive_file.infolist(), archive, max_total_bytes, max_entries, max_ratio)
        folders = {parts for parts, info in files.items() if info is None}
        folders |= {parts[:-1] for parts, info in files.items() if info is not None and len(parts) > 1}
        folder = dest if isinstance(dest, SandboxFolder) else SandboxFolder(dest)
        created_dest = not folder.root.exists()
        folder.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=folder.root.parent))
        done = False
        try:
            for parts in sorted(folders):
                staging.joinpath(*parts).mkdir(parents=True, exist_ok=True)
            entries = [(info, staging.joinpath(*parts)) for parts, info in files.items() if info is not None]
            _unpack_in_parallel(data, entries, archive)
            folder.merge_in(staging)
            done = True
        except UploadRejected:
            raise
        except InvalidPathError as error:
            raise UploadRejected(f"{archive}: {error} Rename one of them; nothing was kept.") from None
        except OSError as error:
            raise UploadRejected(
                f"{archive} could not be unpacked: {error.strerror or error}. Nothing was kept."
            ) from None
        except Exception as error:  # zlib.error, BadZipFile (bad CRC), EOFError, ...: a damaged archive
            raise UploadRejected(f"{archive} is damaged and cannot be unpacked ({error}). Nothing was kept.") from None
        finally:
            remove_host_tree(staging)
            if created_dest and not done:
                with contextlib.suppress(OSError):
                    folder.root.rmdir()  # the folder did not exist before this failed upload
    return sorted(PurePosixPath(*parts).as_posix() for parts, info in files.items() if info is not None)


def check_entries(
    infos: list[zipfile.ZipInfo], archive: str, max_total_bytes: int, max_entries: int, max_ratio: float
) -> dict[tuple[str, ...], zipfile.ZipInfo | None]:
    """Check every entry before anything is written; map path parts to entries (``None`` for folders)."""
    if len(infos) > max_entries:
        raise UploadRejected(
            f"{archive} has {len(infos):,} entries, more than the limit of {max_entries:,} "
            "(setting INTERPRETER_MAX_UNZIP_ENTRIES). Nothing was kept."
        )
    entries: dict[tuple[str, ...], zipfile.ZipInfo | None] = {}
    total = 0
    for info in infos:
        parts = _entry_parts(info, archive)
        if parts is None:
            continue
        if info.is_dir():
            entries.setdefault(parts, None)
            continue
        _check_sizes(info, archive, max_ratio)
        total += info.file_size
        entries[parts] = info
    if total > max_total_bytes:
        raise UploadRejected(
            f"{archive} would unpack to {total / MB:,.1f} MB, more than the limit of "
            f"{max_total_bytes / MB:,.0f} MB (setting INTERPRETER_MAX_UNZIP_MB). Nothing was kept."
        )
    return entries


def check_upload_name(name: str) -> None:
    """Refuse an upload name that is not a plain file name (``UploadRejected``)."""
    if not isinstance(name, str) or not name:
        raise UploadRejected("The uploaded file has no name. Give it a name such as 'data.csv'.")
    if "/" in name or "\\" in name:
        raise UploadRejected(
            f"The upload name {shown_name(name)} contains a folder separator. Give only the file name."
        )
    try:
        validate_name(name)
    except InvalidPathError as error:
        raise UploadRejected(str(error)) from None


def save_upload(name: str, data: bytes, dest: Path | SandboxFolder, *, settings: Settings) -> list[str]:
    """Store one uploaded file in ``dest``; a ``.zip`` file is unpacked there instead.

    Args:
        name: The uploaded file's name (a bare file name).
        data: The file's bytes.
        dest: The folder to store into (created if needed).
        settings: Supplies the upload and unzip limits.

    Returns:
        The stored files' paths relative to ``dest``, POSIX style, sorted.

    Raises:
        UploadRejected: When the upload is refused; ``dest`` is then unchanged.

    """
    limit = settings.max_upload_mb * MB
    if len(data) > limit:
        raise UploadRejected(
            f"{shown_name(str(name))} is {len(data) / MB:,.1f} MB, larger than the upload limit of "
            f"{settings.max_upload_mb:,} MB (setting INTERPRETER_MAX_UPLOAD_MB). Upload a smaller file "
            "or ask the administrator to raise the limit."
        )
    check_upload_name(name)
    if name.lower().endswith(".zip"):
        return extract_zip(
            data,
            dest,
            max_total_bytes=settings.max_unzip_mb * MB,
            max_entries=settings.max_unzip_entries,
            max_ratio=settings.max_unzip_ratio,
            archive_name=name,
        )
    folder = dest if isinstance(dest, SandboxFolder) else SandboxFolder(dest)
    folder.root.mkdir(parents=True, exist_ok=True)
    try:
        folder.write(name, data, follow_last=False)  # a link of that name is replaced, not followed
    except InvalidPathError:
        raise UploadRejected(
            f"A folder named {shown_name(name)} is already there. Rename the file and try again."
        ) from None
    except OSError as error:
        raise UploadRejected(f"{shown_name(name)} could not be saved: {error.strerror or error}.") from None
    return [name]


def describe_tree(paths: list[str], limit: int = 30) -> str:
    """Describe relative file paths as a short indented tree, folders before files at each level.

    Args:
        paths: File paths relative to one folder, POSIX style.
        limit: The most lines to show; the rest is summed up as ``... and N more``.

    Returns:
        The tree as text, one entry per line, folders ending in ``/`` with their file count.

    """
    tree: _Tree = {}
    for path in paths:
        node = tree
        for part in (part for part in path.split("/") if part):
            node = node.setdefault(part, {})
    lines: list[str] = []

    def count(node: _Tree) -> int:
        return sum(count(child) if child else 1 for child in node.values())

    def walk(node: _Tree, depth: int) -> None:
        folders = sorted(name for name, child in node.items() if child)
        for name in folders:
            files = count(node[name])
            lines.append(f"{'  ' * depth}{name}/ ({files} file{'s' if files != 1 else ''})")
            walk(node[name], depth + 1)
        lines.extend(f"{'  ' * depth}{name}" for name in sorted(n for n, child in node.items() if not child))

    walk(tree, 0)
    if not lines:
        return "(no files)"
    if len(lines) > limit:
        return "\n".join([*lines[:limit], f"... and {len(lines) - limit} more"])
    return "\n".join(lines)
