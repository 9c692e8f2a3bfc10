"""Which sandbox files a run creates or changes, so that every step can list (and offer) what it made.

A local sandbox's root is a host folder: after the run, one walk finds the regular files whose inode change
time (``st_ctime``) is not older than the run's start (read from the clock the kernel stamps files with, so a
file changed in the same clock tick just before the run may count too). Code cannot set a file's change time
(``touch -d``, ``cp -p`` and unpacking archives set the modification time only), so files made with old
timestamps count too.
Other sandboxes (AgentCore) are listed before and after the run and the listings compared (size and
modification time). Hidden names (``.name``) and ``__pycache__`` folders are left out, and a walk stops after
:data:`MAX_WALKED` entries so that a huge tree costs a bounded time.
"""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING

from core.sandbox.local.files import SandboxFolder

if TYPE_CHECKING:
    from core.sandbox.base import Sandbox

MAX_WALKED = 10_000
MAX_CHANGED = 500
"""At most this many changed paths are kept per step (the first in path order)."""
CLOCK_REALTIME_COARSE = getattr(time, "CLOCK_REALTIME_COARSE", 5)  # Linux's number; Python does not name it
CLOCK_MARGIN_NS = 10_000_000
"""Where the coarse clock cannot be read: file times lag ``time.time_ns()`` by at most one tick (10 ms)."""
SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules"})


def _file_clock_ns() -> int:
    """Now, as file times read it: the kernel stamps files from its coarse clock (one tick, 1 to 10 ms, behind)."""
    try:
        return time.clock_gettime_ns(CLOCK_REALTIME_COARSE)
    except OSError:
        return time.time_ns() - CLOCK_MARGIN_NS


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_FOLDERS


def _changed_in_folder(folder: SandboxFolder, since_ns: int) -> dict[str, int]:
    """Regular files in ``folder`` (relative paths) changed at or after ``since_ns``, with their change times."""
    changed: dict[str, int] = {}
    for walked, entry in enumerate(folder.walk(".", skip=_skipped)):
        if walked >= MAX_WALKED:
            break
        if entry.is_file and entry.status.st_ctime_ns >= since_ns:
            changed[entry.path] = entry.status.st_ctime_ns
    return changed


_REPORTED: weakref.WeakKeyDictionary[Sandbox, dict[str, int]] = weakref.WeakKeyDictionary()
"""The files (and change times) the last walk of each sandbox found: a run that starts in the same clock tick as
the previous one ended does not report that one's files again."""


def _listing(sandbox: Sandbox) -> dict[str, tuple[int, float]]:
    entries = sandbox.list_files(".", recursive=True)
    return {
        e.path: (e.size, e.modified)
        for e in entries[:MAX_WALKED]
        if not e.is_dir and not any(_skipped(part) for part in e.path.split("/"))
    }


class ChangeTracker:
    """Started just before a run; :meth:`changed` afterwards names the files the run created or changed.

    Args:
        sandbox: The sandbox the run happens in.

    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        files = getattr(sandbox, "files", None)
        self.root = files if isinstance(files, SandboxFolder) else None
        self.since_ns = _file_clock_ns()
        self.before: dict[str, tuple[int, float]] | None = {}
        if self.root is None:
            try:
                self.before = _listing(sandbox)
            except Exception:  # a cloud sandbox that cannot be listed now: the run goes ahead untracked
                self.before = None

    def changed(self) -> list[str]:
        """The created or changed regular files, relative to the sandbox root, sorted, at most :data:`MAX_CHANGED`.

        Never raises: when the files cannot be listed, nothing is reported.
        """
        try:
            if self.root is not None:
                recent = _changed_in_folder(self.root, self.since_ns)
                reported = _REPORTED.get(self.sandbox, {})
                paths = [path for path, ctime in recent.items() if reported.get(path) != ctime]
                _REPORTED[self.sandbox] = recent
            elif self.before is None:
                return []
            else:
                before = self.before
                paths = [path for path, state in _listing(self.sandbox).items() if before.get(path) != state]
        except Exception:  # listing is a courtesy: it must never turn a finished run into a failure
            return []
        return sorted(paths)[:MAX_CHANGED]
