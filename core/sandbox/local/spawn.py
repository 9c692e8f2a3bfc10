"""Start sandbox processes from one long-lived thread.

bubblewrap's ``--die-with-parent`` (``PR_SET_PDEATHSIG``) fires when the *thread* that started the process
ends. Streamlit runs every script run in a short-lived thread, so processes are started from this
module's single worker thread, which lives as long as the app.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")


def spawn(argv: list[str], **popen_kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a process from the spawner thread.

    Args:
        argv: The command line.
        **popen_kwargs: Passed to :class:`subprocess.Popen`.

    Returns:
        The started process.

    """

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, **popen_kwargs)

    return _SPAWNER.submit(start).result()
