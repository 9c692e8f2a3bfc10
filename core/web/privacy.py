"""Stored data private to the app's user: files 0600 and folders 0700 under ``data_dir``.

Transcripts, conversation lists, uploads, workspaces and the saved model choice (which may hold an API key) are
written by many modules and by libraries (Strands' session manager, the sandbox's own processes). Rather than
setting a mode at each place, the server sets the process's file-creation mask once at start-up, before any of
them runs, and makes ``data_dir`` itself 0700 so that older files inside are out of reach too.
"""

from __future__ import annotations

import os

from core.config import Settings

PRIVATE_UMASK = 0o077


def make_data_private(settings: Settings) -> None:
    """Create files and folders private from now on (umask 077) and make ``data_dir`` a 0700 folder.

    The mask is process-wide and inherited by sandbox processes: what sandbox code creates is private too (it runs
    as the sandbox's own user, which owns everything inside its session's folders).
    """
    os.umask(PRIVATE_UMASK)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.data_dir.chmod(0o700)
