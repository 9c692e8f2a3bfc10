"""A small pool of sandboxes whose Python kernel is already started, so a new session answers at once.

A pooled sandbox lives in a folder of its own under ``sessions/.pool``; taking it renames that folder to
the new session's folder (bind mounts follow a renamed folder), so its kernel keeps running.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import threading
import uuid
from pathlib import Path

from core.config import Settings
from core.sandbox.local.files import move_entries, remove_host_tree
from core.sandbox.local.sandbox import LocalSandbox, session_dirs

logger = logging.getLogger(__name__)
REFILL_DELAY_S = 2.0
"""Seconds after a sandbox is taken before its replacement starts."""
READY_MARK = "ready"
"""A file in a pooled sandbox's folder (beside its sandbox folders) while it waits, started and warm, to be taken."""


class KernelPool:
    """Keeps ``settings.kernel_pool_size`` started sandboxes ready.

    Args:
        settings: The settings every pooled sandbox is made with.

    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.sessions_dir / ".pool"
        remove_host_tree(self.folder)  # leftovers of an earlier run
        self._ready: queue.Queue[LocalSandbox] = queue.Queue()
        self._wake = threading.Event()
        self._closed = False
        self._filler = threading.Thread(target=self._fill, name="kernel-pool", daemon=True)
        self._filler.start()
        self._wake.set()

    def _fill(self) -> None:
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            while not self._closed and self._ready.qsize() < self.settings.kernel_pool_size:
                try:
                    sandbox = LocalSandbox(self.settings, self.folder / uuid.uuid4().hex)
                    sandbox.start_kernel(warm=True)
                except Exception:
                    logger.exception("Could not start a pooled kernel")
                    break
                if self._closed:
                    sandbox.close()
                    remove_host_tree(sandbox.session_dir)
                    break
                (sandbox.session_dir / READY_MARK).touch()
                self._ready.put(sandbox)

    def take(self, session_dir: Path) -> LocalSandbox | None:
        """A started sandbox moved to ``session_dir`` (a reopened one gets its files back), or ``None``."""
        try:
            sandbox = self._ready.get_nowait()
        except queue.Empty:
            self._wake.set()
            return None
        # The replacement starts a little later: its kernel's start-up would slow the page that took this one.
        (sandbox.session_dir / READY_MARK).unlink(missing_ok=True)
        refill = threading.Timer(REFILL_DELAY_S, self._wake.set)
        refill.daemon = True
        refill.start()
        if session_dir.exists():
            _adopt_folders(sandbox, session_dir)
        else:
            session_dir.parent.mkdir(parents=True, exist_ok=True)
            os.rename(sandbox.session_dir, session_dir)
        sandbox.relocate(session_dir)
        return sandbox

    def close(self) -> None:
        """Stop the pooled sandboxes and remove their folders."""
        self._closed = True
        self._wake.set()
        while True:
            try:
                self._ready.get_nowait().close()
            except queue.Empty:
                break
        remove_host_tree(self.folder)


def _adopt_folders(sandbox: LocalSandbox, session_dir: Path) -> None:
    """Give a pooled sandbox the files of a reopened session, and put its folders in the session's place.

    The pooled kernel sees its folders through bind mounts, which follow the folders themselves: so the files
    move into the pooled folders (renames, whatever their size), and those folders then take the old ones' names.
    The session's other files (transcript, workspace) stay where they are.
    """
    pooled, existing = sandbox.dirs, session_dirs(session_dir, sandbox.dirs.runtime)
    for new, old in ((pooled.root, existing.root), (pooled.home, existing.home), (pooled.tmp, existing.tmp)):
        if old.is_dir():
            move_entries(old, new)  # the reopened session's own files win (e.g. its .cache)
            remove_host_tree(old)  # what is left: folders merged into the pooled ones
        os.rename(new, old)
    remove_host_tree(sandbox.session_dir)


_POOLS: dict[str, KernelPool] = {}
_POOLS_LOCK = threading.Lock()


def pool_for(settings: Settings) -> KernelPool | None:
    """The pool shared by every session made with these settings (``None`` when the pool size is 0)."""
    if settings.kernel_pool_size <= 0:
        return None
    key = settings.model_dump_json()
    with _POOLS_LOCK:
        if key not in _POOLS:
            _POOLS[key] = KernelPool(settings)
        return _POOLS[key]


@atexit.register
def close_pools() -> None:
    """Stop every pool (at exit)."""
    with _POOLS_LOCK:
        for pool in _POOLS.values():
            with contextlib.suppress(Exception):
                pool.close()
        _POOLS.clear()
