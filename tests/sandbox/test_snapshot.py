"""Python variables that survive a kernel stopped on purpose: idle shutdown, closing and reopening, per person.

Real kernels in real bubblewrap: the variables are pickled in the sandbox, kept in the session folder and loaded
into the next kernel; what could not be kept is named with the reason.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from core.chat.notices import variables_sentence
from core.config import Settings
from core.sandbox.local import isolation
from core.sandbox.local.pool import pool_for
from core.sandbox.local.snapshot import FOLDER, MANIFEST, VariableStore, parse_report, read_json_file
from core.session import Session, user_usage
from core.types import ExecutionResult, VariablesReport
from tests.conftest import wait_for

STATE = """
import socket
import numpy as np
import pandas as pd
factor = 2
def scaled(x):
    return x * factor
class Box:
    def size(self):
        return factor
box = Box()
frame = pd.DataFrame({"n": range(1000), "label": [f"row {i}" for i in range(1000)]})
alias = frame
handle = open("notes.txt", "w")
numbers = (i for i in range(3))
connection = socket.socket()
big = np.zeros(300_000)
"""
CHECK = "factor = 3\nprint(scaled(1), box.size(), isinstance(box, Box), alias is frame, frame.n.sum(), frame.label[7])"


def notes_of(result: object) -> str:
    return "\n".join(getattr(result, "notes", []))


def test_variables_come_back_after_an_idle_shutdown_and_the_rest_is_named_with_reasons(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    session = open_sessions("vars", make_settings(snapshot_max_mb=1))
    sandbox = session.sandbox
    assert sandbox.execute(STATE).error is None
    assert sandbox.sleep(idle_seconds=120)

    result = sandbox.execute(CHECK)
    assert result.error is None, result.error
    assert result.stdout.split() == ["3", "3", "True", "True", "499500", "row", "7"]  # functions see new values
    notes = notes_of(result)
    assert "idle for 2 minutes" in notes and "Python variables are back" in notes
    for name in ("`frame`", "`alias`", "`scaled`", "`box`", "`np`"):
        assert name in notes
    assert "`handle` (an open file)" in notes
    assert "`numbers` (a generator" in notes
    assert "`connection` (a network connection" in notes
    assert "`big` (larger than 1 MB, the most kept per variable)" in notes
    gone = sandbox.execute("print([n in dir() for n in ('handle', 'numbers', 'connection', 'big')])")
    assert gone.stdout.strip() == "[False, False, False, False]"
    assert not notes_of(gone)  # said once


def test_variables_survive_closing_and_reopening_a_conversation_in_a_pooled_kernel(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    settings = make_settings(kernel_pool_size=1)
    first = open_sessions("reopened", settings)
    first.sandbox.execute("import pandas as pd\ntotal = pd.Series([1, 2, 3]).sum()\nopen('kept.txt', 'w').write('f')")
    first.close()  # the app shuts down, or the engine was closed for idleness

    folder = first.folder / FOLDER
    assert folder.is_dir() and not (first.folder / "sandbox" / FOLDER).exists()
    summary = parse_report(read_json_file(folder / "summary.json"))
    assert summary.kept == ["total", "pd"] and summary.size > 0

    second = open_sessions("reopened", settings)
    assert second.sandbox.variables.waiting() is not None  # type: ignore[attr-defined]
    result = second.sandbox.execute("print(total * 2, open('kept.txt').read(), pd.__name__)")
    assert result.stdout.split() == ["12", "f", "pandas"]
    assert "Python variables are back: `pd`, `total`." in notes_of(result)
    assert not folder.exists()  # consumed: a later crash cannot bring back stale values


def test_saved_variables_stay_out_of_the_sandbox_and_count_against_the_persons_quota(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    settings = make_settings(user_disk_limit_mb=3)
    session = open_sessions("quota", settings, user_id="erin")
    session.sandbox.execute("import numpy as np\nsmall = np.ones(100_000)\nlarge = np.ones(1_000_000)")
    before, _ = user_usage(settings, "erin")
    session.sandbox.sleep()

    saved, _ = user_usage(settings, "erin")
    assert saved - before > 700_000  # small's 800 kB count against the quota
    assert [f.path for f in session.sandbox.list_files(".", recursive=True)] == []
    report = session.sandbox.variables.waiting()  # type: ignore[attr-defined]
    assert report.kept == ["small", "np"]
    assert report.lost == {"large": "saving it would pass your disk quota"}
    note = notes_of(session.sandbox.execute("print(small.sum())"))
    assert "`large` (saving it would pass your disk quota)" in note


def test_saved_variables_never_reach_another_person(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    settings = make_settings()
    alice = open_sessions("same-id", settings, user_id="alice")
    alice.sandbox.execute("secret = 'alice only'")
    alice.close()
    bob = open_sessions("same-id", settings, user_id="bob")
    result = bob.sandbox.execute("print('secret' in dir())")
    assert result.stdout.strip() == "False" and not notes_of(result)
    assert (alice.folder / FOLDER).is_dir()  # still waiting for Alice


def test_a_crashed_kernel_saves_nothing_and_says_so(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    sandbox = open_sessions("crash", make_settings()).sandbox
    sandbox.execute("value = 1")
    sandbox.execute("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    sandbox.sleep()
    result = sandbox.execute("print('value' in dir())")
    assert result.stdout.strip() == "False"
    assert "variables from earlier runs were lost" in notes_of(result)


def test_javascript_variables_are_said_not_to_be_kept(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    sandbox = open_sessions("deno", make_settings()).sandbox
    sandbox.execute("let kept = 1;", language="javascript")
    sandbox.sleep(idle_seconds=60)
    result = sandbox.execute("console.log(typeof kept)", language="javascript")
    assert result.stdout.strip() == "undefined"
    assert "JavaScript and TypeScript variables are not kept" in notes_of(result)
    assert not notes_of(sandbox.execute("1", language="javascript"))  # said once


def test_javascript_variables_are_said_not_to_be_kept_after_the_conversation_is_reopened(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    settings = make_settings()
    first = open_sessions("deno-reopened", settings)
    first.sandbox.execute("let kept = 1;", language="typescript")
    first.close()  # the app shuts down, or the engine was closed for idleness
    second = open_sessions("deno-reopened", settings).sandbox
    result = second.execute("console.log(typeof kept)", language="javascript")
    assert result.stdout.strip() == "undefined"
    assert "JavaScript and TypeScript variables are not kept" in notes_of(result)
    assert not notes_of(second.execute("1", language="javascript"))


def test_variables_saved_after_a_stop_button_press(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session]
) -> None:
    sandbox = open_sessions("stopped", make_settings()).sandbox
    sandbox.execute("kept = 'yes'")
    sandbox.interrupt()  # the Stop button's interrupt stays in force until the next turn
    sandbox.sleep()
    sandbox.clear_interrupt()
    result = sandbox.execute("print(kept)")
    assert result.stdout.strip() == "yes", f"notes {result.notes}, error {result.error}"


def test_what_the_sandbox_writes_is_read_defensively(tmp_path: Path) -> None:
    assert parse_report(b"not json").problem
    assert parse_report(b"[1, 2]").problem
    report = parse_report(b'{"saved": [["a", "0.pickle"], 7, []], "lost": {"b": "' + b"x" * 500 + b'"}, "size": "9"}')
    assert report.kept[0] == "a" and len(report.lost["b"]) == 200 and report.size == 0
    # Code in the sandbox could swap the folder it writes (in its /tmp) for a link to a host path, or plant a
    # link as the manifest: the host neither follows nor moves either.
    ran = ExecutionResult()
    target = tmp_path / "host-folder"
    (target / "inner").mkdir(parents=True)
    (target / "manifest.json").write_text('{"saved": [["stolen", "0.pickle"]]}')
    (tmp_path / "staged").symlink_to(target)
    store = VariableStore(tmp_path / "session", tmp_path, "/tmp")
    assert store._staged(ran, "staged", MANIFEST).problem == "the kernel wrote no variables"
    (target / "inner" / "manifest.json").symlink_to(target / "manifest.json")
    store = VariableStore(tmp_path / "session", target, "/tmp")
    assert store._staged(ran, "inner", MANIFEST).problem == "the list of variables is missing"
    with pytest.raises(OSError):
        read_json_file(target / "inner" / "manifest.json")


@pytest.mark.parametrize("language", ["python"])
def test_an_empty_namespace_saves_an_empty_summary(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session], language: str
) -> None:
    session = open_sessions("empty", make_settings())
    session.sandbox.execute("print('nothing kept')", language=language)
    session.close()
    summary = parse_report(read_json_file(session.folder / FOLDER / "summary.json"))
    assert summary.kept == [] and summary.lost == {} and not summary.problem


def test_what_the_sandbox_reports_about_variables_is_shown_literally() -> None:
    report = VariablesReport(
        kept=["total", "![x](http://127.0.0.1:9/kept.png)"],
        lost={"book": "its __init__ failed: **loud**", "`odd`": "[link](http://127.0.0.1:9/)"},
        problem="",
    )
    sentence = variables_sentence(report, restored=True)
    assert "`total`" in sentence and "its \\_\\_init\\_\\_ failed: \\*\\*loud\\*\\*" in sentence
    assert "](http" not in sentence.replace("\\]", "")  # no link or image survives
    assert "could not be restored: \\*\\*" in variables_sentence(VariablesReport(problem="**boom**"), restored=True)


def test_a_reopened_conversation_keeps_what_is_mounted_below_its_tmp(
    make_settings: Callable[..., Settings], open_sessions: Callable[..., Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's virtualenv may live under /tmp (a checkout there): each sandbox mounts it below its own /tmp. A
    reopened conversation's files move into a pooled sandbox, whose mount must stay visible (issue 18: imports of
    IPython's modules failed after a reopen)."""
    prefix = Path(tempfile.mkdtemp(prefix="ci-prefix-", dir="/tmp"))
    (prefix / "marker.txt").write_text("mounted")
    prefixes = isolation.python_prefixes()
    monkeypatch.setattr(isolation, "python_prefixes", lambda: [*prefixes, str(prefix)])
    read = f"print(open('{prefix}/marker.txt').read())"
    settings = make_settings(kernel_pool_size=1)
    try:
        first = open_sessions("mounted", settings)
        assert first.sandbox.execute(read).stdout.strip() == "mounted"
        first.close()
        pool = pool_for(settings)
        assert pool is not None
        wait_for(lambda: pool._ready.qsize() >= 1, "the pool to start a kernel", timeout=120)
        again = open_sessions("mounted", settings)
        assert pool._ready.qsize() == 0  # the reopened conversation took the pooled sandbox
        assert again.sandbox.execute(read).stdout.strip() == "mounted"
    finally:
        shutil.rmtree(prefix)
