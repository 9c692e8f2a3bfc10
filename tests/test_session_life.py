"""Editing and re-running a step, and the sandbox's life in the side panel (AppTest, real sandboxes)."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from components.state import engine_registry
from core.chat.engine import ChatEngine
from tests.conftest import page_text, run_until_idle, send


def _engine(app: AppTest) -> ChatEngine:
    return engine_registry().engines()[0]


def test_edit_and_rerun_a_step_runs_the_new_code_and_tells_the_agent(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    send(app, "```python\nvalue = 20\nprint(value + 1)\n```")
    assert "21" in page_text(app, "markdown", "code")
    assert not [t for t in app.text_area if t.key and t.key.startswith("edit_step_")]  # closed until asked for
    next(t for t in app.toggle if t.label == "Edit and re-run").set_value(True).run()
    editor = next(t for t in app.text_area if t.key and t.key.startswith("edit_step_"))
    assert "print(value + 1)" in editor.value
    editor.set_value("print(value * 2)")
    run_until_idle(next(b for b in app.button if b.key == editor.key.replace("edit_", "rerun_")).click().run())
    assert "40" in page_text(app, "markdown", "code")
    assert not [t for t in app.text_area if t.key and t.key.startswith("edit_step_")]  # the editor closed
    assert any("print(value * 2)" in note for note in _engine(app).context_for_agent)


def test_side_panel_shows_life_memory_and_restores_an_expired_sandbox(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    send(app, "```python\nkept = 'yes'\nopen('f.txt', 'w').write('file')\n```")
    assert "Sandbox idle (Python)" in page_text(app, "caption")
    assert "memory" in page_text(app, "caption") and "CPU" in page_text(app, "caption")

    _engine(app).session.sandbox.sleep(idle_seconds=3600)  # as if the idle timeout had passed
    app.run()
    asleep = "The sandbox is asleep: files are kept, and 1 Python variable comes back on restore."
    assert asleep in page_text(app, "caption")
    next(b for b in app.button if b.key == "session_life_restore").click().run()
    restored = "The sandbox was restored: a new kernel with your files. Python variables are back: `kept`."
    assert any(restored in str(i.value) for i in app.info)
    assert "Sandbox idle (Python)" in page_text(app, "caption")
    send(app, "```python\nprint(open('f.txt').read(), kept)\n```")
    assert "file yes" in page_text(app, "markdown", "code")


def test_side_panel_says_why_the_last_run_died(make_app: Callable[..., AppTest], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("INTERPRETER_EXECUTION_TIMEOUT", "1")
    app = make_app(None)
    app.run()
    send(app, "```python\nimport time\ntime.sleep(30)\n```")
    assert "Last run: The run took longer than the time limit" in page_text(app, "caption")
