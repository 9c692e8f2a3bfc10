"""Per-person quotas (sessions, disk, files) and the per-session CPU limit, each with a clear message."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.config import Settings
from core.errors import QuotaExceeded
from core.session import Session, open_session
from tests.conftest import text_of, tools_by_name
from tests.prerequisites import missing


def test_concurrent_sessions_per_person(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    settings = make_settings(user_max_sessions=2)
    first = open_sessions("one", settings, user_id="alice")
    open_sessions("two", settings, user_id="alice")
    with pytest.raises(QuotaExceeded, match="INTERPRETER_USER_MAX_SESSIONS=2"):
        open_session("three", settings, user_id="alice")
    open_sessions("bobs", settings, user_id="bob")  # other people are not affected
    first.close()
    open_sessions("three", settings, user_id="alice")  # a closed session frees its place


def test_disk_quota_per_person_covers_uploads_and_workspace(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    settings = make_settings(user_disk_limit_mb=1)
    session = open_sessions("disk", settings, user_id="carol")
    with pytest.raises(QuotaExceeded, match="of your 1 MB"):
        session.preload("big.bin", b"x" * 2_000_000)
    assert session.sandbox.list_files(".") == []
    session.sandbox.run_command("head -c 1500000 /dev/zero > filler.bin")
    tools = tools_by_name(session)
    result = tools["ci_push_to_workspace"](paths=["filler.bin"])
    assert result["status"] == "error" and "Delete files or old conversations" in text_of(result)
    session.sandbox.remove("filler.bin")
    session.sandbox.write_file("small.txt", b"ok")
    assert tools["ci_push_to_workspace"](paths=["small.txt"])["status"] == "success"


def test_file_count_per_person(make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]) -> None:
    settings = make_settings(user_max_files=5)
    session = open_sessions("files", settings, user_id="dave")
    session.sandbox.run_command("for i in 1 2 3 4 5 6; do echo $i > f$i.txt; done")
    with pytest.raises(QuotaExceeded, match="most allowed is 5"):
        session.preload("more.txt", b"x")


def test_cpu_limit_holds_back_busy_code(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    session = open_sessions("cpu", make_settings(cpu_limit=0.2))
    limits = session.sandbox.isolation.limits  # type: ignore[attr-defined]
    if "cpu" not in limits.groups and limits.version != "v2":
        missing("no writable CPU cgroup on this host")
    assert "CPU: at most 0.2 core" in session.sandbox.isolation_report().limits
    before = limits.cpu_throttled()
    session.sandbox.execute("total = 0\nfor i in range(5_000_000):\n    total += i")
    assert limits.cpu_throttled() > before
