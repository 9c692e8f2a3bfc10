"""Faults: each one gives the user a plain-words reason, the session recovers, no workspace file is lost or
half-written, and another session running alongside keeps working and keeps its variables."""

from __future__ import annotations

import gc
import itertools
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.chat.conversations import ConversationStore
from core.chat.engine import ChatEngine
from core.config import Settings
from core.errors import QuotaExceeded
from core.models.scripted import ScriptedModel
from core.session import Session, open_session
from core.types import StopReason
from tests.conftest import finish, text_of, tools_by_name, wait_for
from tests.prerequisites import missing
from tests.processes import descendants, memory_kb, process_table, reset_peak_memory

MB = 1024 * 1024
REPORT = b"region,total\nnorth,12\nsouth,30\n" * 1000


@pytest.fixture(scope="module")
def bystander(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """A session that runs alongside every fault of this module; it must never notice any of them."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("bystander"), kernel_pool_size=0, execution_timeout=60)
    session = open_session("bystander", settings)
    tools = tools_by_name(session)
    assert tools["execute_code"](code="kept = 'still here'")["status"] == "success"
    session.sandbox.write_file("mine.txt", b"bystander's file")
    yield session
    session.close()


def assert_unaffected(bystander: Session) -> None:
    tools = tools_by_name(bystander)
    result = tools["execute_code"](code="print(kept)\nprint(sum(range(1000)))")
    assert result["status"] == "success" and "still here\n499500" in text_of(result), text_of(result)
    assert "kernel was started" not in text_of(result)
    assert bystander.sandbox.read_file("mine.txt") == b"bystander's file"
    assert tools["execute_command"](command="echo shell ok")["status"] == "success"


@pytest.fixture
def victim(make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]) -> Callable[..., Session]:
    """A session to break, with a result saved in its workspace beforehand."""

    def make(**overrides: Any) -> Session:
        session = open_sessions("victim", make_settings(**overrides))
        session.workspace.write("report.csv", REPORT)
        return session

    return make


def assert_workspace_intact(session: Session) -> None:
    assert session.workspace.read("report.csv") == REPORT
    folder = session.folder / "workspace" / "code-interpreter"
    assert not [name for name in os.listdir(folder) if name.startswith(".")], "a half-written file was left"


# -- the kernel is killed from outside while it runs ---------------------------------------------------------


def test_kernel_killed_mid_run_says_why_and_recovers(victim: Callable[..., Session], bystander: Session) -> None:
    session = victim()
    tools = tools_by_name(session)
    tools["execute_code"](code="value = 1\nopen('kept.txt', 'w').write('kept')")
    launcher = session.sandbox._kernels["python"].process
    assert launcher is not None

    def kill_when_running() -> None:
        wait_for(lambda: (session.sandbox.root / "started").exists(), "the long run to start")
        kernels = [p for p in descendants(launcher.pid) if p.argv[:1] != ("bwrap",) and "ipykernel_launcher" in p.argv]
        assert kernels, "the kernel process was not found"
        for process in kernels:
            os.kill(process.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    result = tools["execute_code"](code="import time\nopen('started', 'w').close()\ntime.sleep(120)\nprint('never')")
    killer.join()

    text = text_of(result)
    assert result["status"] == "error"
    assert "killed by signal 9 (SIGKILL)" in text and "Variables were lost; files in the sandbox were kept" in text
    assert "Traceback" not in text and "never" not in text
    assert session.history[-1].result is not None and session.history[-1].result.stopped is StopReason.CRASHED

    again = tools["execute_code"](code="print(open('kept.txt').read())\nprint('value' in dir())")
    assert again["status"] == "success" and "kept\nFalse" in text_of(again)
    assert "A new Python kernel was started: variables from earlier runs were lost" in text_of(again)
    assert_workspace_intact(session)
    assert_unaffected(bystander)


# -- the session's disk quota fills up -----------------------------------------------------------------------


def test_full_disk_quota_refuses_new_files_until_files_are_deleted(
    victim: Callable[..., Session], bystander: Session
) -> None:
    session = victim(disk_limit_mb=5)
    tools = tools_by_name(session)
    filled = tools["execute_code"](code="open('big.bin', 'wb').write(b'x' * 8_000_000)")
    assert "more than its 5 MB disk limit. New files and uploads are refused until files are deleted" in text_of(filled)

    refused = tools["file_operations"](operation="write", content=[{"path": "note.txt", "text": "hi"}])
    assert refused["status"] == "error" and "disk limit (5 MB) would be exceeded. Delete files first" in text_of(
        refused
    )
    with pytest.raises(QuotaExceeded, match="disk limit"):
        session.preload("upload.csv", b"a,b\n1,2\n")
    assert not (session.sandbox.root / "note.txt").exists() and not (session.sandbox.root / "upload.csv").exists()
    assert not [n for n in os.listdir(session.sandbox.root) if n.startswith(".")], "a half-written file was left"

    # Saving results still works: the workspace is not the sandbox's disk.
    assert tools["execute_code"](code="open('small.txt', 'w').write('s')", output_filename="small.txt")["status"] == (
        "success"
    )
    assert session.workspace.read("small.txt") == b"s"

    removed = tools["file_operations"](operation="remove", paths=["big.bin"])
    assert removed["status"] == "success"
    written = tools["file_operations"](operation="write", content=[{"path": "note.txt", "text": "hi"}])
    assert written["status"] == "success", text_of(written)
    assert session.preload("upload.csv", b"a,b\n1,2\n") == ["upload.csv"]
    assert_workspace_intact(session)
    assert_unaffected(bystander)


# -- memory runs out -----------------------------------------------------------------------------------------


def test_memory_exhausted_in_one_session_leaves_the_others_alone(
    victim: Callable[..., Session], bystander: Session
) -> None:
    session = victim(memory_limit_mb=400)
    if not session.sandbox.isolation.limits.groups:
        missing("no writable memory cgroup on this host")
    tools = tools_by_name(session)
    tools["execute_code"](code="open('kept.txt', 'w').write('kept')")

    during: dict[str, Any] = {}
    stop = threading.Event()

    def bystander_works() -> None:  # the other session computes while this one runs out of memory
        runs = 0
        while not stop.is_set() and runs < 50:
            during["result"] = tools_by_name(bystander)["execute_code"](code="total = sum(range(10**6))\nprint(kept)")
            runs += 1
            if during["result"]["status"] != "success":
                return

    worker = threading.Thread(target=bystander_works)
    worker.start()
    try:
        result = tools["execute_code"](code="hog = b'x' * (800 * 1024 * 1024)")
    finally:
        stop.set()
        worker.join()

    assert result["status"] == "error"
    assert "more memory than the session's limit" in text_of(result) and "Traceback" not in text_of(result)
    assert during["result"]["status"] == "success" and "still here" in text_of(during["result"])
    again = tools["execute_code"](code="print(open('kept.txt').read())")
    assert again["status"] == "success" and "kept" in text_of(again)
    assert_workspace_intact(session)
    assert_unaffected(bystander)


# -- a fork bomb -----------------------------------------------------------------------------------------------


def refused_forks(session: Session) -> int:
    """How often the session's cgroup refused a process so far, read from its ``pids.events``."""
    groups = session.sandbox.isolation.limits.groups
    events = (groups.get("pids") or groups["unified"]) / "pids.events"
    return int(dict(line.split() for line in events.read_text().splitlines())["max"])


def processes_in(session: Session) -> list[str]:
    """The processes in the session's cgroup now."""
    groups = session.sandbox.isolation.limits.groups
    return ((groups.get("pids") or groups["unified"]) / "cgroup.procs").read_text().split()


@pytest.mark.parametrize(
    ("command", "waits"),
    [
        # The classic: the first shell returns at once, and bubblewrap stops its forking children as it ends,
        # whether or not they reached the limit by then (on a busy machine they sometimes do not).
        (":(){ :|:& };:", False),
        ("bomb(){ bomb | bomb & }; bomb; sleep 600", True),  # one that waits: it meets the limit, then the time limit
    ],
    ids=["classic", "waiting"],
)
def test_fork_bomb_is_contained(victim: Callable[..., Session], bystander: Session, command: str, waits: bool) -> None:
    session = victim(max_processes=16, execution_timeout=4)
    if not session.sandbox.isolation.limits.groups:
        missing("no writable pids cgroup on this host")
    tools = tools_by_name(session)
    before = refused_forks(session)
    result = tools["execute_command"](command=command)
    # When the result comes back nothing of the bomb runs any more, so what it says about the limit is final.
    assert processes_in(session) == []
    refused = refused_forks(session) - before
    text = text_of(result)
    assert ("limit of 16 processes was reached" in text) == (refused > 0), (refused, text[-500:])
    if waits:
        assert refused > 0 and result["status"] == "error"
        assert "took longer than the time limit and was interrupted" in text and "(limit 4 s)" in text
    assert "Traceback" not in text

    # Nothing of the bomb is left on the host either, and the host and the session still start processes.
    leftovers = [p for p in descendants(os.getpid()) if str(session.folder) in p.command and p.running]
    assert leftovers == []
    assert subprocess.run(["true"], timeout=30).returncode == 0
    after = tools["execute_command"](command="echo alive")
    assert after["status"] == "success" and "alive" in text_of(after)
    assert refused_forks(session) - before == refused  # the report missed no refusal that came later
    assert_workspace_intact(session)
    assert_unaffected(bystander)


def test_a_command_s_leftover_processes_are_gone_when_its_result_comes(
    victim: Callable[..., Session],
) -> None:
    session = victim()
    if not session.sandbox.isolation.limits.groups:
        missing("no writable pids cgroup on this host")
    # A background process holding 200 MB, output elsewhere, is still dying (freeing its memory) when the shell
    # has ended and bubblewrap has stopped it.
    hog = "python3 -c \"b = bytearray(200 * 2**20); open('ready', 'w').close(); import time; time.sleep(60)\""
    command = f"{hog} >/dev/null 2>&1 &\nuntil [ -e ready ]; do sleep 0.05; done; echo started"
    for _ in range(3):
        result = session.sandbox.run_command(command)
        assert result.stdout == "started\n" and processes_in(session) == []
        session.sandbox.run_command("rm ready")


# -- 100 MB of output ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "head", "tail"),
    [
        (
            "execute_code",
            {"code": "for i in range(100_000):\n    print(f'{i:08d}', 'x' * 990)"},
            "00000000 xxx",
            "00099999 xxx",
        ),
        ("execute_command", {"command": "yes | head -c 100000000"}, "y\ny\ny", "y\ny\ny"),
        ("execute_command", {"command": "seq 1 20000000"}, "1\n2\n3\n", "19999999\n20000000"),
    ],
    ids=["python-print-loop", "shell-yes", "shell-seq"],
)
def test_a_hundred_megabytes_of_output_are_cut_with_head_and_tail(
    victim: Callable[..., Session], bystander: Session, tool: str, arguments: dict[str, Any], head: str, tail: str
) -> None:
    session = victim()
    tools = tools_by_name(session)
    tools["execute_code"](code="1")  # the kernel is started before memory is measured
    gc.collect()
    rss_before = memory_kb()
    measured_peak = reset_peak_memory()

    result = tools[tool](**arguments)

    peak_growth_mb = (memory_kb("VmHWM") - rss_before) / 1024 if measured_peak else 0
    record = session.history[-1].result
    assert record is not None
    text = text_of(result)
    limit = session.settings.max_output_chars
    assert len(record.stdout) < limit + 200 and len(text) < 2 * limit + 1000
    assert record.stdout.startswith(head.split("\n")[0]) and tail in record.stdout[-limit:]
    assert "characters omitted" in record.stdout
    assert "Standard output was too long" in text and "characters in the middle were omitted" in text
    # The kernel's messages queue up while the app reads them (about 120 MB at most, whatever the output's size).
    assert peak_growth_mb < 256, f"the app's memory grew by {peak_growth_mb:.0f} MB for one run's output"
    assert record.duration < 60
    assert_workspace_intact(session)
    assert_unaffected(bystander)


# -- the app restarts mid-conversation -------------------------------------------------------------------------


class RecordingModel(ScriptedModel):
    """A scripted model that remembers which messages each call was given."""

    def __init__(self, steps: list[dict[str, Any]]) -> None:
        super().__init__(steps)
        self.calls: list[list[dict[str, Any]]] = []

    async def stream(self, messages: Any, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def, override]
        self.calls.append([dict(m) for m in messages])
        async for event in super().stream(messages, *args, **kwargs):
            yield event


def test_restart_mid_conversation_keeps_files_workspace_and_agent_memory(
    settings: Settings, bystander: Session
) -> None:
    store = ConversationStore(settings)
    conversation = store.create()
    first = open_session(conversation.id, settings)
    steps = [
        {"tool": "execute_code", "input": {"code": "value = 42\nopen('notes.txt', 'w').write('kept')"}},
        {"tool": "ci_push_to_workspace", "input": {"paths": ["notes.txt"]}},
        {"text": "Saved notes.txt."},
    ]
    engine = ChatEngine(first, ScriptedModel(steps), "test", store)
    assert [e.kind for e in finish(engine.start_turn("remember 42"))] == ["user", "tool", "tool", "assistant"]
    first.close()  # the app goes away (its sessions are closed at exit; nothing else is saved)

    second = open_session(conversation.id, settings)
    try:
        assert second.sandbox.read_file("notes.txt") == b"kept"
        assert second.workspace.read("notes.txt") == b"kept"
        model = RecordingModel([{"text": "You asked me to remember 42."}])
        resumed = ChatEngine(second, model, "test", store)
        resumed.note_resumed()  # what the app does when it opens a conversation's engine
        events = finish(resumed.start_turn("what did I ask?"))
        assert events[-1].text == "You asked me to remember 42."
        seen = model.calls[0]
        assert "remember 42" in str(seen[0]["content"]) and any("toolUse" in str(m["content"]) for m in seen)
        assert "Python variables were saved and come back at the next Python run: `value`" in str(seen[-1]["content"])
        kinds = [e.kind for e in resumed.transcript.events()]
        assert kinds == ["user", "tool", "tool", "assistant", "notice", "user", "assistant"]
        result = tools_by_name(second)["execute_code"](code="print(value)")  # closed on purpose: variables were saved
        assert "42" in text_of(result) and "Python variables are back: `value`." in text_of(result)
    finally:
        second.close()
    assert_unaffected(bystander)


# -- the model endpoint fails mid-stream -----------------------------------------------------------------------


class FlakyModel(RecordingModel):
    """Streams a few words, then the connection drops; later calls work."""

    failures = 1

    async def stream(self, messages: Any, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def, override]
        if self.failures:
            self.failures -= 1
            self.calls.append([dict(m) for m in messages])
            yield {"messageStart": {"role": "assistant"}}
            yield {"contentBlockDelta": {"delta": {"text": "Let me look at "}}}
            raise ConnectionError("Connection reset by peer")
        async for event in super().stream(messages, *args, **kwargs):
            yield event


@pytest.fixture
def flaky_engine(settings: Settings, open_sessions: Callable[..., Session]) -> tuple[ChatEngine, FlakyModel]:
    store = ConversationStore(settings)
    session = open_sessions(store.create().id, settings)
    session.workspace.write("report.csv", REPORT)
    model = FlakyModel([{"tool": "execute_code", "input": {"code": "print(6 * 7)"}}, {"text": "It is 42."}])
    return ChatEngine(session, model, "test", store), model


def test_model_failing_mid_stream_is_a_plain_notice_and_the_next_turn_works(
    flaky_engine: tuple[ChatEngine, FlakyModel], bystander: Session
) -> None:
    engine, _ = flaky_engine
    failed = finish(engine.start_turn("compute"))
    assert [e.kind for e in failed] == ["user", "assistant", "notice"]
    assert failed[1].text == "Let me look at "
    notice = failed[-1]
    assert notice.level == "error" and "cannot be reached" in notice.text and "Connection reset by peer" in notice.text
    assert "Traceback" not in notice.text
    assert not engine.busy

    events = finish(engine.start_turn("try again"))
    assert [e.kind for e in events] == ["user", "tool", "assistant"]
    assert events[1].tool.result.stdout.strip() == "42" and events[2].text == "It is 42."
    assert [e.kind for e in engine.transcript.events()] == ["user", "assistant", "notice", "user", "tool", "assistant"]
    assert_workspace_intact(engine.session)
    assert_unaffected(bystander)


def test_after_a_failed_turn_the_model_gets_alternating_roles(flaky_engine: tuple[ChatEngine, FlakyModel]) -> None:
    engine, model = flaky_engine
    finish(engine.start_turn("compute"))
    finish(engine.start_turn("try again"))
    roles = [m["role"] for m in model.calls[1]]
    assert all(a != b for a, b in itertools.pairwise(roles)), roles


# -- a session dropped without close ---------------------------------------------------------------------------


def test_a_session_dropped_without_close_releases_its_processes_and_folders(
    settings: Settings, bystander: Session
) -> None:
    session = open_session("dropped", settings)
    tools_by_name(session)["execute_code"](code="1")
    groups = list(session.sandbox.isolation.limits.groups.values())
    runtime = session.sandbox.dirs.runtime
    kernel_pids = [p.pid for p in descendants(session.sandbox._kernels["python"].process.pid)]  # type: ignore[union-attr]
    assert kernel_pids and runtime.exists()
    del session

    def released() -> bool:
        gc.collect()  # the session's tools refer back to it: only the cycle collector frees it
        return not runtime.exists()

    wait_for(released, "the dropped session to be collected", timeout=30)
    assert not [g for g in groups if g.exists()]
    table = process_table()
    assert not [pid for pid in kernel_pids if pid in table and table[pid].running]
    assert_unaffected(bystander)
