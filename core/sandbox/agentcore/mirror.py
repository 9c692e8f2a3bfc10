"""The files this app put into an AgentCore session, kept to upload again when the session expired.

AgentCore sessions end (after their timeout, or when :meth:`AgentCoreSandbox.sleep` stops one to save money), and
files cannot be read from a dead session. What the app itself wrote or uploaded is known here, so a new session
gets it back, in the original order; files code created are lost unless they were saved to the workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.errors import SandboxError
from core.sandbox.agentcore.requests import MB, content_entry
from core.sandbox.agentcore.stream import Parsed

UPLOAD_BATCH_BYTES = 64 * MB
MIRROR_LIMIT = 512 * MB
"""How many bytes of written files are kept here to upload again after a session expired."""

Invoke = Callable[[str, dict[str, Any]], Parsed]


class Mirror:
    """Written files and uploaded ZIPs, kept (up to :data:`MIRROR_LIMIT` bytes) to put into a new session."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], bytes] = {}
        self.unkept: set[str] = set()
        """Names too large to keep: lost when the session ends."""

    def remember(self, kind: str, name: str, data: bytes) -> None:
        """Keep a written file (``kind`` ``"file"``) or an unpacked upload (``"zip"``) under ``name``."""
        self.kept.pop((kind, name), None)
        self.unkept.discard(name)
        if sum(map(len, self.kept.values())) + len(data) <= MIRROR_LIMIT:
            self.kept[kind, name] = data
        else:
            self.unkept.add(name)

    def forget(self, path: str) -> None:
        """Drop the files at or under ``path`` (it was removed); an unpacked upload is unpacked again all the same."""
        inside = lambda p: p == path or p.startswith(path + "/")  # noqa: E731
        self.kept = {key: data for key, data in self.kept.items() if key[0] == "zip" or not inside(key[1])}
        self.unkept = {p for p in self.unkept if not inside(p)}

    def restore(self, invoke: Invoke, extract_zip: Callable[[str, bytes, Invoke], list[str]]) -> list[str]:
        """Upload again what was kept, in the original order, through ``invoke`` (files in batches).

        Returns:
            What was restored, as the note to the person names it.

        Raises:
            SandboxError: If the session refused the files.

        """
        restored: list[str] = []
        batch: list[dict[str, Any]] = []
        size = 0
        for (kind, name), data in [*self.kept.items(), (("end", ""), b"")]:
            if batch and (kind != "file" or size + len(data) > UPLOAD_BATCH_BYTES):
                if invoke("writeFiles", {"content": batch}).is_error:
                    raise SandboxError("The files of the expired AgentCore session could not be uploaded again.")
                batch, size = [], 0
            if kind == "zip":
                extract_zip(name, data, invoke)
                restored.append(f"{name} (unpacked again)")
            elif kind == "file":
                batch.append(content_entry(name, data))
                size += len(data)
                restored.append(name)
        return restored
