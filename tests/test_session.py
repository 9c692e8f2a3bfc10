"""Sessions: the public API, reopening, per-user separation, idling and the kernel pool."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from core.config import Settings
from core.errors import InvalidPathError
from core.sandbox.local.pool import pool_for
from core.session import Session, open_session, sweep_idle_sessions
from tests.conftest import make_zip, text_of, tools_by_name, wait_for


def test_public_api_as_documented(settings: Settings) -> None:
    session = open_session("conv-1", settings)
    try:
        tools = tools_by_name(session)
        tools["execute_code"](code="x = 41")
        assert "42" in text_of(tools["execute_code"](code="print(x + 1)"))
        assert session.preload("data.zip", make_zip({"sales/q1.csv": "a\n1\n"})) == ["sales/q1.csv"]
        assert {f.path for f in session.sandbox.list_files(".")} == {"sales"}
        tools["ci_push_to_workspace"](paths=["sales/q1.csv"])
        assert [f.path for f in session.workspace.list()] == ["q1.csv"]
    finally:
        session.close()


def test_reopened_session_keeps_files_and_workspace(settings: Settings, open_sessions: Callable[..., Session]) -> None:
    first = open_sessions("conv-r", settings)
    first.sandbox.write_file("notes.txt", b"kept")
    first.workspace.write("chart.png", b"png")
    first.close()
    again = open_sessions("conv-r", settings)
    assert again.sandbox.read_file("notes.txt") == b"kept"
    assert again.workspace.read("chart.png") == b"png"


def test_users_and_conversations_are_separate(settings: Settings, open_sessions: Callable[..., Session]) -> None:
    alice = open_sessions("same-id", settings, user_id="alice")
    bob = open_sessions("same-id", settings, user_id="bob")
    alice.sandbox.write_file("mine.txt", b"alice")
    alice.workspace.write("mine.txt", b"alice")
    assert bob.sandbox.list_files(".") == [] and bob.workspace.list() == []


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", ".hidden", "x" * 200, "nul\x00"])
def test_bad_conversation_ids_are_refused(settings: Settings, bad: str) -> None:
    with pytest.raises(InvalidPathError, match="Invalid conversation id"):
        open_session(bad, settings)


def test_upload_description_tells_the_agent_what_arrived(session: Session) -> None:
    paths = session.preload(
        "data.zip", make_zip({"sales/q1.csv": "a\n1\n", "sales/q2.csv": "a\n2\n", "readme.txt": "r"})
    )
    message = session.describe_upload("data.zip", paths)
    assert "data.zip" in message and "sales/" in message and "readme.txt" in message


def test_idle_session_sleeps_then_resumes_with_files_and_variables(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    session = open_sessions("idle", make_settings(idle_timeout=60))
    tools = tools_by_name(session)
    tools["execute_code"](code="value = 1\nopen('kept.txt', 'w').write('kept')")
    session.sandbox.last_used = time.monotonic() - 120  # as if two minutes had passed
    sweep_idle_sessions()  # by hand, or the reaper's thread may have come first
    assert session.sandbox.running_kernels() == []  # type: ignore[attr-defined]
    result = tools["execute_code"](code="print(open('kept.txt').read())\nprint(value)")
    assert "[stdout]\nkept\n1" in text_of(result)
    assert "idle for 2 minutes" in text_of(result) and "Python variables are back: `value`." in text_of(result)


def test_the_reaper_s_thread_puts_a_session_to_sleep_when_its_idle_timeout_ends(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    session = open_sessions("reaped", make_settings(idle_timeout=1))
    tools = tools_by_name(session)
    tools["execute_code"](code="value = 1")
    # Nothing here sweeps: the reaper, woken when the session opened, wakes again when its second is up.
    wait_for(lambda: not session.sandbox.running_kernels(), "the reaper to stop the idle kernel", timeout=15)  # type: ignore[attr-defined]
    assert "Python variables are back: `value`." in text_of(tools["execute_code"](code="print(value)"))


def test_pool_gives_a_started_kernel_to_a_new_session(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(kernel_pool_size=1)
    pool = pool_for(settings)
    assert pool is not None
    try:
        wait_for(lambda: pool._ready.qsize() >= 1, "the pool to start a kernel", timeout=120)
        session = open_session("pooled", settings)
        try:
            assert session.sandbox.running_kernels() == ["python"]
            tools: dict[str, Any] = tools_by_name(session)
            assert "ok" in text_of(tools["execute_code"](code="import pandas\nprint('ok')"))
            session.sandbox.write_file("f.txt", b"x")
            assert (settings.sessions_dir / "local" / "pooled" / "sandbox" / "f.txt").read_bytes() == b"x"
            assert session.sandbox.run_command("cat f.txt").stdout == "x"
        finally:
            session.close()
    finally:
        pool.close()
