"""Stored data is private to the app's user: with the server's start-up mask, everything under data_dir that
the app, its libraries or sandbox code create is 0600 (files) or 0700 (folders), and the sandbox still works.

Programs inside a sandbox may set modes of their own files explicitly (IPython copies a README with 0644 into the
sandbox's home): those stay out of reach all the same, in 0700 folders under a 0700 data_dir."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.chat.conversations import ConversationStore
from core.config import Settings
from core.models import ModelChoice, save_choice
from core.session import Session
from core.web.privacy import PRIVATE_UMASK, make_data_private
from tests.conftest import make_zip, text_of, tools_by_name


@pytest.fixture
def private(settings: Settings) -> Iterator[Settings]:
    """The server's start-up step, on an existing world-readable data folder; the test process's mask restored."""
    settings.data_dir.mkdir(parents=True)
    settings.data_dir.chmod(0o755)
    previous = os.umask(0o022)
    try:
        make_data_private(settings)
        assert os.umask(PRIVATE_UMASK) == PRIVATE_UMASK
        yield settings
    finally:
        os.umask(previous)


def not_private(root: Path) -> list[str]:
    """Everything under ``root`` (itself included) that its group or others could read, write or enter."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) & 0o077:
            found.append(f"{oct(stat.S_IMODE(mode))} {path.relative_to(root)}")
    return found


def test_everything_stored_is_private_and_the_sandbox_still_works(
    private: Settings, open_sessions: Callable[..., Session]
) -> None:
    session = open_sessions("conv-private", private)
    tools = tools_by_name(session)
    session.preload("data.zip", make_zip({"sales/q1.csv": "a\n1\n"}))
    result = tools["execute_code"](
        code="open('made-by-python.txt', 'w').write('x'); print(open('sales/q1.csv').read())"
    )
    assert result["status"] == "success" and "a\n1" in text_of(result)
    result = tools["execute_command"](
        command="mkdir -p out/deep && echo hi > out/deep/shell.txt && cat out/deep/shell.txt"
    )
    assert result["status"] == "success" and "hi" in text_of(result)
    assert (
        tools["file_operations"](operation="write", content=[{"path": "notes/n.md", "text": "n"}])["status"]
        == "success"
    )
    assert tools["ci_push_to_workspace"](paths=["made-by-python.txt"])["status"] == "success"
    store = ConversationStore(private)
    store.rename(store.create().id, "a title")
    save_choice(private, ModelChoice(provider="anthropic", api_key="sk-secret"))

    assert stat.S_IMODE(private.data_dir.stat().st_mode) == 0o700
    exposed = not_private(private.data_dir)
    own = ("/sandbox/", "/home/", "/tmp/")  # the sandbox's own folders, where its programs choose file modes
    # bubblewrap makes empty mount points for the app's Python inside the sandbox's /tmp when the app lives there
    python = os.path.realpath(sys.prefix)
    mount_points = [e for e in exposed if "/tmp/" in e and python.startswith("/tmp/" + e.split("/tmp/", 1)[1])]
    folders = [e for e in exposed if (private.data_dir / e.split(" ", 1)[1]).is_dir() and e not in mount_points]
    assert folders == []
    assert [entry for entry in exposed if not any(folder in f"/{entry.split(' ', 1)[1]}" for folder in own)] == []
    root = session.sandbox.root
    for made in ("made-by-python.txt", "out/deep/shell.txt", "notes/n.md", "sales/q1.csv"):
        assert stat.S_IMODE((root / made).stat().st_mode) == 0o600, made
