"""What a newcomer trips over (issue 12), on the chat page under AppTest with real sandboxes.

The conversation list, confirmed deletes that say what went, the uploader that empties itself and lists refusals,
"Save to workspace" for sandbox files, icon buttons with names, notices said once and only when true, and the
sandbox's true state in the side panel.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.testing.v1 import AppTest

from components.conversations import LIST_HEIGHT, MAX_LISTED, UNTITLED
from components.side_panel import widget_key
from components.state import app_settings, engine_registry
from core.chat.conversations import ConversationStore
from core.chat.engine import ChatEngine
from core.chat.notebook import transcript_to_notebook
from core.chat.transcript import SESSION_NOTICE, ChatEvent
from core.sandbox.local.pool import pool_for
from core.session import Session, next_sweep_in, sweep_idle_sessions
from core.text import escape_markdown
from core.types import ExecutionResult, ToolRecord
from tests.conftest import (
    REPO,
    close_app_engines,
    gated_code,
    link_button,
    make_zip,
    page_text,
    run_until_idle,
    send,
    wait_for,
)
from tests.servers import app_environment, free_port, stop, wait_until_healthy


def _engine() -> ChatEngine:
    (engine,) = engine_registry().engines()
    return engine


def _conversation_id(app: AppTest) -> str:
    value = app.query_params["c"]
    return str(value[0] if isinstance(value, list) else value)


def _button(app: AppTest, key: str):  # type: ignore[no-untyped-def]
    return next(b for b in app.button if b.key == key)


def test_the_current_conversation_is_a_selected_item_not_a_second_new_conversation_button(
    make_app: Callable[..., AppTest],
) -> None:
    app = make_app(None)
    app.run()
    labels = [b.label for b in app.sidebar.button]
    assert labels.count("New conversation") == 1, labels  # the action, and no entry named like it
    current = _conversation_id(app)
    assert not [b for b in app.button if b.key == f"conversation_{current}"]  # the current one is no button
    assert any(UNTITLED in str(m.value) for m in app.sidebar.markdown)
    assert not [b for b in app.sidebar.button if b.proto.type == "primary"]


def test_the_title_box_follows_the_title_a_first_message_gives_and_rename_keeps_it(
    make_app: Callable[..., AppTest],
) -> None:
    app = make_app(None)
    app.run()
    box = f"title_{_conversation_id(app)}"
    assert app.text_input(key=box).value == UNTITLED
    send(app, "```python\nx = 41\n```")
    assert app.text_input(key=box).value == "Python: x = 41"  # it kept "Untitled conversation"
    _button(app, "rename_conversation").click().run()  # which Rename then gave the conversation back
    assert app.text_input(key=box).value == "Python: x = 41"
    assert any(escape_markdown("Python: x = 41") in str(m.value) for m in app.sidebar.markdown)
    app.text_input(key=box).input("My analysis")
    _button(app, "rename_conversation").click().run()
    assert any("My analysis" in str(m.value) for m in app.sidebar.markdown)


def _conversation_list(conversation_id: str) -> None:
    from components.conversations import render_conversations

    render_conversations(conversation_id)


def test_a_long_conversation_list_scrolls_tells_alike_titles_apart_and_reaches_the_oldest(
    make_app: Callable[..., AppTest],
) -> None:
    make_app(None)  # the settings: a data folder of this test's own
    store = ConversationStore(app_settings())
    made = []
    for number in range(33):
        conversation = store.create()
        store.transcript(conversation.id).append(ChatEvent(kind="user", text="print(1)"))
        store.touch(conversation.id, "```python\nprint(1)\n```" if number < 31 else f"question {number}")
        made.append(conversation.id)
    at = AppTest.from_function(_conversation_list, args=(made[-1],), default_timeout=30).run()

    (box,) = [c for c in at.main.children.values() if f"pixel_height: {LIST_HEIGHT}" in str(c.proto)]
    items = [str(b.label) for b in box.button if str(b.key).startswith("conversation_c-")]
    assert len(items) == MAX_LISTED - 1  # and the current one, not a button
    alike = [label for label in items if label.startswith(escape_markdown("Python: print(1)"))]
    assert alike and all(re.search(r"today \d\d:\d\d:\d\d\]$", label) for label in alike), alike[:3]
    assert all(re.search(r"today \d\d:\d\d\]$", label) for label in items if label.startswith("question"))
    _button(at, "conversations_more").click().run()
    items = [b for b in at.button if str(b.key).startswith("conversation_c-")]
    assert len(items) == 32 and not [b for b in at.button if b.key == "conversations_more"]


def test_deleting_a_conversation_asks_first_then_says_what_was_deleted(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    send(app, "!echo hello > kept.txt")
    doomed = _conversation_id(app)
    folder = _engine().session.folder
    _button(app, "delete_conversation").click().run()
    assert folder.exists() and _conversation_id(app) == doomed  # nothing is deleted on one click
    (question,) = [w.value for w in app.warning if "cannot be undone" in str(w.value)]
    assert question.startswith("Delete “Shell: echo hello \\> kept.txt” with its sandbox files")
    _button(app, "delete_conversation_cancel").click().run()
    assert folder.exists() and not [w for w in app.warning if "cannot be undone" in str(w.value)]

    _button(app, "delete_conversation").click().run()
    _button(app, "delete_conversation_confirm").click().run()
    assert not folder.exists() and _conversation_id(app) != doomed
    assert [t.proto.body for t in app.toast] == ["Deleted “Shell: echo hello \\> kept.txt” with its files and results."]


def test_a_sandbox_file_can_be_saved_to_the_workspace_without_a_model(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    send(app, "!mkdir -p out && echo 'a,b' > out/table.csv")
    assert link_button(app, "Download all").disabled
    app.session_state[widget_key("sb_folder", "out")] = True
    app.run()
    save = _button(app, widget_key("sb_save", "out/table.csv"))
    assert save.label == "Save table.csv to the workspace"
    save.click().run()
    assert _engine().session.workspace.read("table.csv") == b"a,b\n"
    assert [s.value for s in app.success] == ["out/table.csv saved as code-interpreter/table.csv in the workspace."]
    assert not link_button(app, "Download all").disabled


def test_file_buttons_are_named_after_their_action_and_file(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    send(app, "!echo x > 'notes [draft].txt'")
    labels = {b.key: b.label for b in [*app.button, *app.get("download_button")]}
    path = "notes [draft].txt"
    assert labels[widget_key("sb_delete", path)] == "Delete notes \\[draft\\].txt"
    assert labels[widget_key("sb_download", path)] == "Download notes \\[draft\\].txt"
    assert "Preview notes \\[draft\\].txt" in [p.proto.popover.label for p in app.get("popover")]


def test_the_uploader_empties_itself_and_lists_what_it_refused_and_why(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    uploader = app.sidebar.get("file_uploader")[0]
    assert uploader.proto.max_upload_size_mb == 200  # the app's limit, shown and enforced by the uploader
    good = make_zip({"sales/q1.csv": "a,b\n1,2\n"})
    evil = make_zip({"../../evil.txt": "x"})
    uploader.set_value([("sales.zip", good, "application/zip"), ("evil.zip", evil, "application/zip")]).run()

    (fresh,) = app.sidebar.get("file_uploader")
    assert fresh.proto.id != uploader.proto.id  # a new, empty uploader
    assert any("**sales.zip**: 1 file in the sandbox" in str(c.value) for c in app.sidebar.caption)
    (refused,) = [str(e.value) for e in app.sidebar.error]
    assert refused.startswith("**evil.zip** was refused: 'evil.zip' contains an entry named '../../evil.txt'")
    assert (_engine().session.sandbox.root / "sales" / "q1.csv").exists()
    assert any("Upload refused" in str(e.value) for e in app.main.error)  # the chat says it too
    uploaded_to = _conversation_id(app)

    next(b for b in app.sidebar.button if b.label == "New conversation").click().run()
    assert _conversation_id(app) != uploaded_to
    shown = [str(c.value) for c in app.sidebar.caption]
    assert not [c for c in shown if "**sales.zip**" in c], shown  # it went elsewhere
    assert not app.sidebar.error


def test_handled_uploads_leave_the_servers_memory(
    make_app: Callable[..., AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamlit keeps every uploaded file in memory until the tab closes, unless the app releases it."""
    managers: list[MemoryUploadedFileManager] = []
    keep = MemoryUploadedFileManager.add_file

    def add_file(self: MemoryUploadedFileManager, *args: Any, **kwargs: Any) -> None:
        managers.append(self)
        keep(self, *args, **kwargs)

    monkeypatch.setattr(MemoryUploadedFileManager, "add_file", add_file)
    app = make_app(None)
    app.run()
    for number in range(3):
        (uploader,) = app.sidebar.get("file_uploader")
        uploader.set_value([(f"data-{number}.bin", os.urandom(100_000), "application/octet-stream")]).run()
        assert any(f"**data-{number}.bin**: 1 file in the sandbox" in str(c.value) for c in app.sidebar.caption)

    assert len(managers) == 3  # AppTest gives each run its own manager; the server has one for all tabs
    assert [file for manager in managers for files in manager.file_storage.values() for file in files] == []
    arrived = sorted(path.name for path in _engine().session.sandbox.root.iterdir())
    assert arrived == ["data-0.bin", "data-1.bin", "data-2.bin"]


# -- notices: said once, only when true, kept out of the notebook ---------------------------------------


def _reopen(make_app: Callable[..., AppTest], conversation_id: str) -> AppTest:
    """The conversation after an app restart: its engine is closed, a new page opens it again."""
    close_app_engines()
    app = make_app(None)
    app.query_params["c"] = conversation_id
    return app.run()


def _reopened_notices(app: AppTest) -> list[str]:
    return [str(i.value) for i in app.main.info if str(i.value).startswith("The conversation was reopened")]


def test_a_reopened_conversation_says_so_once_and_the_notebook_leaves_it_out(
    make_app: Callable[..., AppTest],
) -> None:
    app = make_app(None)
    app.run()
    send(app, "!echo only a shell command")
    conversation_id = _conversation_id(app)
    assert _reopened_notices(_reopen(make_app, conversation_id)) == []  # no variables ever existed

    app = _reopen(make_app, conversation_id)
    send(app, "```python\nkept = 41\n```")
    for _ in range(3):  # app restarts with nothing run in between
        app = _reopen(make_app, conversation_id)
    assert len(_reopened_notices(app)) == 1
    events = _engine().transcript.events()
    assert events[-1].source == SESSION_NOTICE
    cells = [cell.source for cell in transcript_to_notebook(events).cells]
    assert not [cell for cell in cells if "reopened" in cell]


def test_the_notebook_fences_typescript_as_typescript_and_skips_old_reopened_notices() -> None:
    legacy = "The conversation was reopened: its files are all here, but variables from before were lost."
    code = {"code": "const n: number = 1", "language": "typescript"}
    step = ToolRecord(tool="execute_code", input=code, status="success", text="1", result=ExecutionResult("1\n"))
    events = [ChatEvent(kind="tool", tool=step), *[ChatEvent(kind="notice", text=legacy)] * 4]
    (cell,) = transcript_to_notebook(events).cells
    assert "```typescript\nconst n: number = 1\n```" in cell.source


# -- the sandbox's life, as it is ------------------------------------------------------------------------


def _has_restore(app: AppTest) -> bool:
    return any(b.key == "session_life_restore" for b in app.button)


def test_the_side_panel_tells_the_sandboxs_true_state(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    assert "Sandbox ready: nothing has run yet" in page_text(app.sidebar, "caption") and not _has_restore(app)

    app.chat_input[0].set_value(f"```python\n{gated_code()}```").run()
    assert "Running Python code" in page_text(app.sidebar, "caption") and not _has_restore(app)
    _engine().session.sandbox.write_file("go", b"")
    run_until_idle(app)
    life = page_text(app.sidebar, "caption")
    assert "Sandbox idle (Python) · shuts down after 30 min without use" in life and "Running Python" not in life

    sandbox = _engine().session.sandbox
    sandbox.last_used -= sandbox.settings.idle_timeout + 1  # the countdown reached zero; the reaper comes next
    app.run()
    assert "unused long enough: shutting down now" in page_text(app.sidebar, "caption")
    sandbox.sleep(idle_seconds=sandbox.settings.idle_timeout + 1)
    app.run()
    assert "The sandbox is asleep" in page_text(app.sidebar, "caption") and _has_restore(app)


def test_a_new_conversation_on_an_old_pooled_kernel_is_ready_not_idle_or_asleep(
    make_app: Callable[..., AppTest],
) -> None:
    app = make_app(None, pool_size=1)
    app.run()  # the first conversation takes the first pooled kernel; the pool starts another
    settings = _engine().session.settings
    pool = pool_for(settings)
    assert pool is not None
    wait_for(lambda: not pool._ready.empty(), "the pool to start a kernel")
    pool._ready.queue[0].last_used -= settings.idle_timeout + 60  # it waited in the pool longer than the timeout
    close_app_engines()

    app.run()
    life = page_text(app.sidebar, "caption")
    assert "Sandbox ready (Python started): nothing has run yet." in life and not _has_restore(app)
    sandbox = _engine().session.sandbox
    assert sweep_idle_sessions() == 0  # its idle time counts from when this conversation took it
    sandbox.sleep(idle_seconds=settings.idle_timeout + 1)  # had nobody used it for the whole timeout
    app.run()
    assert "Sandbox ready: nothing has run yet." in page_text(app.sidebar, "caption") and not _has_restore(app)
    send(app, "```python\nprint('first ' + 'run')\n```")
    assert not [n for n in app.info if "idle" in str(n.value) or "were not saved" in str(n.value)]


def test_a_step_that_did_not_succeed_says_so_in_its_title(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    send(app, "```python\n1 / 0\n```")
    send(app, "!exit 3")
    send(app, "```python\nprint('fine')\n```")
    titles = [str(e.label) for e in app.main.expander if str(e.label).startswith("Ran ")]
    assert titles == [
        "Ran python code (run by you) · :red[failed]",
        "Ran a shell command (run by you) · :red[exit code 3]",
        "Ran python code (run by you)",
    ]


def test_the_starting_points_stay_after_an_upload_and_the_demo_never_claims_what_failed(
    make_app: Callable[..., AppTest],
) -> None:
    demo = json.loads((REPO / "examples" / "scripted-demo.json").read_text())
    app = make_app(demo)
    app.run()
    _button(app, "example_question_1").click()  # before any upload: the demo's code cannot find its data
    run_until_idle(app.run())
    answer = page_text(app.main)
    assert "no figures to report" in answer and "March" not in answer

    next(b for b in app.sidebar.button if b.label == "New conversation").click().run()
    uploader = app.sidebar.get("file_uploader")[0]
    uploader.set_value([("sales.zip", (REPO / "examples" / "sales.zip").read_bytes(), "application/zip")]).run()
    assert "Where to start" in page_text(app.main)  # an upload is when the example questions help most
    _button(app, "example_question_1").click()
    run_until_idle(app.run())
    assert "**March** was the best month" in page_text(app.main)
    assert not [b for b in app.button if str(b.key).startswith("example_")]  # asked: they made way


def test_the_demo_asked_again_after_the_upload_it_asked_for_shows_its_figures(
    make_app: Callable[..., AppTest],
) -> None:
    app = make_app(json.loads((REPO / "examples" / "scripted-demo.json").read_text()))
    app.run()
    _button(app, "example_question_1").click()
    run_until_idle(app.run())
    assert "then ask again" in page_text(app.main)
    uploader = app.sidebar.get("file_uploader")[0]
    uploader.set_value([("sales.zip", (REPO / "examples" / "sales.zip").read_bytes(), "application/zip")]).run()
    send(app, "What is in the files I uploaded?")
    run_until_idle(app.run())
    assert "**March** was the best month" in page_text(app.main)  # the same conversation: the demo replayed


def test_the_reaper_wakes_when_the_next_countdown_ends(session: Session) -> None:
    assert next_sweep_in() == 30  # no kernel runs: nothing to wait for
    session.sandbox.start_kernel()  # type: ignore[attr-defined]
    session.sandbox.last_used = time.monotonic() - session.settings.idle_timeout + 2
    assert 0.5 <= next_sweep_in() <= 2


def test_the_idle_note_comes_before_the_error_it_explains(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    send(app, "```python\nanswer = 42\n```")
    _engine().session.sandbox.sleep(idle_seconds=70)
    send(app, "```python\nprint(answer + undefined_name)\n```")
    step = [e for e in app.main.expander if str(e.label).startswith("Ran python code")][-1]
    kinds = [child.type for child in step.children.values() if child.type in ("alert", "info", "error")]
    texts = [str(getattr(child, "value", "")) for child in step.children.values()]
    note = next(text for text in texts if "idle for 1 minute," in text)
    error = next(text for text in texts if text.startswith("NameError"))
    assert texts.index(note) < texts.index(error), kinds


# -- the first page load -----------------------------------------------------------------------------------


def test_the_server_imports_the_pages_modules_before_the_first_visit(tmp_path: Path) -> None:
    """What ``streamlit run app.py`` does before it answers: importing the app makes the first page run light."""
    modules = ["components.chat", "components.side_panel", "pandas", "plotly", "strands"]
    probe = f"import sys, app; print([m for m in {modules!r} if m in sys.modules])"
    env = app_environment(tmp_path / "data", INTERPRETER_ALLOW_ANONYMOUS="true")
    output = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert output.stdout.strip().splitlines()[-1] == str(modules), output.stderr[-2000:]


# -- dev.sh ------------------------------------------------------------------------------------------------------


def test_dev_sh_announces_the_port_it_starts_the_app_on(tmp_path: Path) -> None:
    """``./dev.sh app --server.port N`` says http://127.0.0.1:N (it said 8501 whatever the port), and serves there."""
    port = free_port()
    env = app_environment(tmp_path / "data", INTERPRETER_PORT="8501")
    server = subprocess.Popen(
        ["./dev.sh", "app", "--server.port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert f"Starting the app on http://127.0.0.1:{port}" in first, first
        wait_until_healthy(port, server)
    finally:
        stop(server)


def test_dev_sh_probes_pythons_quietly(tmp_path: Path) -> None:
    """pyenv's shims of versions it lacks say so on stderr; the probe for a Python does not pass that on."""
    shims = tmp_path / "shims"
    shims.mkdir()
    for name in ("python3.13", "python3.12"):
        shim = shims / name
        shim.write_text(f"#!/bin/sh\necho 'pyenv: {name}: command not found' >&2\nexit 127\n")
        shim.chmod(0o755)
    probe = f'source <(sed -n "/^find_python()/,/^}}/p" dev.sh); PATH="{shims}:$PATH" find_python'
    output = subprocess.run(["bash", "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert output.returncode == 0 and output.stdout.strip().startswith("python3")
    assert "pyenv" not in output.stderr, output.stderr
