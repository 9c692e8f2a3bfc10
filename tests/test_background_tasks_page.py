"""What the person sees of a background command on the chat page (AppTest, the local bubblewrap sandbox): the
step that started it, the command's output growing below the chat after the turn ended, a Stop that ends it,
and a call that waits for it showing its output live in the running step."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from core.sandbox.local.isolation import bubblewrap_works
from core.sandbox.tasks import TaskState
from tests.conftest import sandbox_of, send, shown_until
from tests.prerequisites import requires

pytestmark = requires(bubblewrap_works(), "bubblewrap cannot run on this machine")

GATED = "echo begun-$((1 + 1)); while [ ! -e go ]; do sleep 0.02; done; echo done-$((6 * 7))"
"""Prints begun-2, waits until the test writes the file ``go``, prints done-42 (neither is in the command's text)."""


def test_a_background_command_shows_its_output_live_and_stop_ends_it(make_app: Callable[..., AppTest]) -> None:
    app = make_app(
        [{"tool": "execute_command", "input": {"command": GATED, "background": True}}, {"text": "It runs on."}]
    )
    app.run()
    send(app, "start the long job")
    titles = [expander.label for expander in app.expander]
    assert "Started a shell command in the background" in titles
    text = shown_until(app, lambda t: "begun-2" in t and "Running in the background (cmd-1)" in t, "live output")
    assert "done-42" not in text and "It runs on." in text  # the turn ended; the command still runs
    assert "1 background command running" in text  # the side panel does not call the sandbox idle
    (stop,) = [button for button in app.button if button.key == "stop_task_cmd-1"]
    stop.click().run()
    sandbox = sandbox_of(app)
    assert sandbox.task("cmd-1").state is TaskState.STOPPED
    text = shown_until(app, lambda t: "Background command cmd-1 was stopped" in t, "the stopped command")
    assert "The run was stopped on request." in text
    assert not [button for button in app.button if button.key == "stop_task_cmd-1"]
    assert "background command running" not in text


def test_a_call_that_waits_shows_the_command_finishing(make_app: Callable[..., AppTest]) -> None:
    app = make_app(
        [
            {"tool": "execute_command", "input": {"command": GATED, "background": True}},
            {"tool": "command_task", "input": {"task_id": "cmd-1", "wait_seconds": 60}},
            {"text": "Done."},
        ]
    )
    app.run()
    app.chat_input[0].set_value("start and wait").run()
    shown_until(app, lambda t: "Following background command cmd-1" in t and "begun-2" in t, "the waiting step")
    sandbox_of(app).write_file("go", b"")
    text = shown_until(app, lambda t: "Done." in t, "the turn's end")
    titles = [expander.label for expander in app.expander]
    assert "Checked background command cmd-1" in titles
    assert "done-42" in text and "Background command cmd-1 finished after" in text
