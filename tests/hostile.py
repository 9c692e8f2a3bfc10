"""What the hostile-input tests share: hostile paths, look-alike names, and a session under attack (``world``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.session import Session
from tests.conftest import text_of

MB = 1024 * 1024

# A path given by the model (or typed by a person) and the words its refusal must contain.
HOSTILE_PATHS = [
    ("../escape.txt", "outside the sandbox"),
    ("../../../../../../etc/passwd", "outside the sandbox"),
    ("sub/../../escape.txt", "outside the sandbox"),
    ("..", "outside the sandbox"),
    ("/etc/passwd", "absolute path outside the sandbox"),
    ("/sandbox/../etc/passwd", "absolute path outside the sandbox"),
    ("nul\x00byte.txt", "NUL byte"),
    ("x" * 4097, "the limit is 4096"),
    ("n" * 256, "a file or folder name can have at most 255"),
    ("\u00e9" * 128, "256 bytes long"),  # 128 characters, 256 bytes in UTF-8
    ("d/" * 2040 + "f", "too long for the file system"),  # short enough, but not below the sandbox root
    ("bad\ud800.txt", "characters no file name can hold"),
    ("", "A path is required"),
]

# Odd names that only look like '..' or '/': harmless file names, allowed as long as they stay inside.
LOOK_ALIKES = [
    "\uff0e\uff0e\uff0f\uff0e\uff0e\uff0fetc\uff0fpasswd",  # fullwidth full stops and solidus
    "\u2024\u2024/\u2024\u2024/escape.txt",  # one-dot leaders, real slashes
    "%2e%2e/%2e%2e/escape.txt",
    "..\\..\\escape.txt",  # a backslash is an ordinary character on Linux
    "\u2026/escape.txt",  # horizontal ellipsis
]

LEAK_MARKERS = ("Traceback", "Internal error")


@dataclass
class World:
    """A session under attack, a second conversation beside it, and what must never change."""

    session: Session
    other: Session
    tools: dict[str, Any]
    tmp_path: Path

    def outside(self) -> dict[str, Any]:
        """Everything the session's sandbox must not touch: the data folder except the session's own sandbox
        folders (sandbox code may write its root, home and tmp), a host file beside it and /etc."""
        own = self.session.folder
        skip = {own / "sandbox", own / "home", own / "tmp"}
        state: dict[str, Any] = {}
        for folder, dirs, files in os.walk(self.tmp_path):
            dirs[:] = [d for d in dirs if Path(folder) / d not in skip]
            for name in dirs + files:
                path = Path(folder) / name
                if path.is_symlink():
                    state[str(path)] = ("link", os.readlink(path))
                elif path.is_file():
                    state[str(path)] = path.read_bytes()
                else:
                    state[str(path)] = "dir"
        for host_file in ("/etc/passwd", "/etc/hostname"):
            state[host_file] = Path(host_file).read_bytes() if Path(host_file).exists() else None
        state["/etc entries"] = sorted(os.listdir("/etc"))
        return state

    def sandbox_tree(self) -> dict[str, Any]:
        tree: dict[str, Any] = {}
        for folder, dirs, files in os.walk(self.session.sandbox.root):
            for name in dirs + files:
                path = Path(folder) / name
                tree[os.path.relpath(path, self.session.sandbox.root)] = (
                    os.readlink(path) if path.is_symlink() else path.read_bytes() if path.is_file() else "dir"
                )
        return tree


def plain(result: dict[str, Any], world: World) -> str:
    """The result's text, checked to be plain words: no traceback, no internal error, no host path."""
    assert isinstance(result, dict) and result["status"] in ("success", "error"), result
    text = text_of(result)
    assert text.strip(), result
    for marker in LEAK_MARKERS:
        assert marker not in text, text[:500]
    assert str(world.tmp_path) not in text, f"a host path leaked: {text[:500]}"
    return text
