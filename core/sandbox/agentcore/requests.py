"""What requests to the AgentCore sandbox carry: checked paths, ``writeFiles`` entries and the programs run inside.

Requests carry relative paths (checked by :func:`clean_path`), ``writeFiles`` entries (text or blob, at most
:data:`INLINE_LIMIT` bytes each), and the small Python programs run inside the session (figures off-screen, ZIP
extraction), with the ZIP check that precedes an upload.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import zipfile
from typing import Any

from core.config import Settings
from core.errors import InvalidPathError, QuotaExceeded, UploadRejected
from core.files.uploads import check_entries, shown_name
from core.sandbox.paths import check_path_text

MB = 1024 * 1024
INLINE_LIMIT = 100_000_000
"""The largest file one request carries (``Body`` max in the service model)."""
FIGURES_DIR = ".figures"
FIGURES_MARKER = "__CI_FIGURES__"
# Runs once per AgentCore session before the first Python run: figures render off-screen.
PRELUDE = """\
import os as _ci_os, sys as _ci_sys
_ci_os.environ["MPLBACKEND"] = "Agg"
if "matplotlib" in _ci_sys.modules:
    _ci_sys.modules["matplotlib"].use("Agg")
del _ci_os, _ci_sys
"""
# Runs after each Python run (executeCode is not known to run IPython's post-run hooks): open figures are
# saved to .figures/ and closed, and their paths printed. Costs nothing more when matplotlib was not imported.
FIGURES = f"""\
def _ci_figures():
    import json, os, sys
    plt, paths = sys.modules.get("matplotlib.pyplot"), []
    for number in plt.get_fignums() if plt is not None else []:
        figure, path = plt.figure(number), f"{FIGURES_DIR}/fig-{{number}}.png"
        try:
            os.makedirs("{FIGURES_DIR}", exist_ok=True)
            figure.savefig(path, format="png", bbox_inches="tight")
            paths.append(path)
        except Exception as exc:
            print(f"Could not render figure {{number}}: {{exc}}", file=sys.stderr)
        finally:
            plt.close(figure)
    print("{FIGURES_MARKER}" + json.dumps(paths))
_ci_figures()
del _ci_figures
"""
# Unpacks a checked ZIP inside the sandbox: into a staging folder first, then moved into place (folders
# merged); on any failure the staging folder is removed. Real byte counts are checked against the headers.
UNZIP = """\
import json, os, shutil, sys, zipfile
archive, plan_file, staging = sys.argv[1:4]
def fail(message):
    print(message, file=sys.stderr)
    sys.exit(3)
def plan_moves(source, target, moves):
    for name in sorted(os.listdir(source)):
        s, t = os.path.join(source, name), os.path.join(target, name)
        t_dir = os.path.isdir(t) and not os.path.islink(t)
        if os.path.isdir(s) and t_dir:
            plan_moves(s, t, moves)
        elif os.path.isdir(s) and os.path.lexists(t):
            fail("has a folder %r but a file of that name is already there. Rename one of them" % name)
        elif t_dir:
            fail("has a file %r but a folder of that name is already there. Rename one of them" % name)
        else:
            moves.append((s, t))
try:
    plan = json.load(open(plan_file))
    os.mkdir(staging)
    for folder in plan["dirs"]:
        os.makedirs(os.path.join(staging, folder), exist_ok=True)
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        for index, path, size in plan["files"]:
            written = 0
            with z.open(infos[index]) as source, open(os.path.join(staging, path), "wb") as sink:
                while True:
                    chunk = source.read(1 << 20)
                    if not chunk:
                        break
                    written += len(chunk)
                    if written > size:
                        fail("holds more data than its headers declare (entry %r): it is damaged or forged" % path)
                    sink.write(chunk)
    moves = []
    plan_moves(staging, ".", moves)
    for source, target in moves:
        os.replace(source, target)
except SystemExit:
    raise
except Exception as error:
    fail("could not be unpacked: %s" % error)
finally:
    shutil.rmtree(staging, ignore_errors=True)
    for leftover in (archive, plan_file):
        if os.path.exists(leftover):
            os.remove(leftover)
"""


def is_internal(path: str) -> bool:
    """Whether a path is the sandbox's own working file (figures being collected, an upload being unpacked)."""
    return path == FIGURES_DIR or path.startswith((FIGURES_DIR + "/", ".upload-"))


def clean_path(path: str) -> str:
    """Check a sandbox path and normalise it (relative, POSIX); refuse absolute paths, escapes and NUL."""
    check_path_text(path)
    if path.startswith("/"):
        raise InvalidPathError(f"{path!r} is an absolute path. Use a path relative to the sandbox's working folder.")
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise InvalidPathError(f"{path!r} leads outside the sandbox, which is not allowed.")
    return normal


def content_entry(path: str, data: bytes) -> dict[str, Any]:
    """A ``writeFiles`` entry: text when the bytes are UTF-8 without NUL, else a blob."""
    if b"\x00" not in data:
        with contextlib.suppress(UnicodeDecodeError):
            return {"path": path, "text": data.decode("utf-8")}
    return {"path": path, "blob": data}


def check_inline(path: str, data: bytes) -> None:
    """Refuse a file too large to travel inline in one request."""
    if len(data) > INLINE_LIMIT:
        raise QuotaExceeded(
            f"{path!r} is {len(data) / MB:,.1f} MB; AgentCore takes files of at most {INLINE_LIMIT / MB:,.0f} MB "
            "in one request, so it cannot be sent. Split or compress it first."
        )


def zip_plan(name: str, data: bytes, settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """Check a ZIP upload with the local rules (zip slip, links, encryption, bombs) before anything is sent.

    Returns:
        The extraction plan for the sandbox (folders; entry index, path and size of each file) and the files'
        paths, sorted.

    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception as error:  # any failure to parse untrusted bytes means "not a ZIP archive"
        raise UploadRejected(f"{shown_name(name)} is not a valid ZIP archive ({error}). Nothing was kept.") from None
    with archive:
        infos = archive.infolist()
        entries = check_entries(
            infos, shown_name(name), settings.max_unzip_mb * MB, settings.max_unzip_entries, settings.max_unzip_ratio
        )
    index = {id(info): number for number, info in enumerate(infos)}
    files = [[index[id(info)], "/".join(parts), info.file_size] for parts, info in entries.items() if info is not None]
    folders = {parts for parts, info in entries.items() if info is None}
    folders |= {parts[:-1] for parts, info in entries.items() if info is not None and len(parts) > 1}
    return {"dirs": sorted("/".join(p) for p in folders), "files": files}, sorted(str(f[1]) for f in files)
