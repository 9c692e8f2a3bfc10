"""The side panel says what a turn is doing: the model thinking, writing its answer, writing code, a step running.

The chat page runs against a local server speaking OpenAI's streaming protocol that holds its answer at chosen
points; at each the page is drawn until the panel says what is happening there (a condition, not a sleep).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO, close_app_engines
from tests.wire.openai_chat import Reply, chat_completions_server, text

DEADLINE = 30.0


class Holds:
    """Points where the server waits until the test lets it go on."""

    def __init__(self, *names: str) -> None:
        self.reached = {name: threading.Event() for name in names}
        self.released = {name: threading.Event() for name in names}

    def hold(self, name: str) -> None:
        """Called by the server: say the point is reached, then wait to be let go (or the deadline)."""
        self.reached[name].set()
        self.released[name].wait(DEADLINE)

    def release_all(self) -> None:
        """Let every held point go on (at the end of a test, whatever happened)."""
        for event in self.released.values():
            event.set()


@contextmanager
def _app_on_wire(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, reply: Callable[[dict[str, Any]], Reply]
) -> Iterator[AppTest]:
    from components.state import app_settings

    with chat_completions_server(reply) as (base_url, _):
        monkeypatch.setenv("INTERPRETER_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("INTERPRETER_KERNEL_POOL_SIZE", "0")
        monkeypatch.setenv("INTERPRETER_MODEL_PROVIDER", "openai")
        monkeypatch.setenv("INTERPRETER_OPENAI_BASE_URL", base_url)
        monkeypatch.setenv("INTERPRETER_MODEL_ID", "wire-model")
        app_settings.clear()
        try:
            yield AppTest.from_file(str(REPO / "pages" / "chat.py"), default_timeout=60)
        finally:
            close_app_engines()
            app_settings.clear()


def _panel_says(app: AppTest, words: str) -> None:
    """Draw the page until the side panel's captions hold ``words``."""
    deadline = time.monotonic() + DEADLINE
    while True:
        app.run()
        shown = "\n".join(str(caption.value) for caption in app.sidebar.caption)
        if words in shown:
            return
        assert time.monotonic() < deadline, f"the panel never said {words!r}; it said:\n{shown}"
        time.sleep(0.05)


def test_the_panel_says_what_the_turn_is_doing(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    holds = Holds("thinking", "text", "code")
    # Chunks: 0 "Let me ", 1 "check.", 2 the call's start, 3 and 4 its arguments, 5 the finish.
    at_chunk = {2: "text", 4: "code"}

    def reply(body: dict[str, Any]) -> Reply:
        if any(message["role"] == "tool" for message in body["messages"]):
            return text("Done.")
        holds.hold("thinking")
        call = Reply(text=["Let me ", "check."], tool_calls=[("execute_code", {"code": "print(6 * 7)"})])
        call.before_chunk = lambda number: holds.hold(at_chunk[number]) if number in at_chunk else None
        return call

    with _app_on_wire(monkeypatch, tmp_path, reply) as app:
        try:
            app.run()
            app.chat_input[0].set_value("What is 6*7?").run()
            for hold, words in [
                ("thinking", "The model is thinking"),
                ("text", "The model is writing its answer"),
                ("code", "The model is writing Python code"),
            ]:
                assert holds.reached[hold].wait(DEADLINE), f"the server never reached {hold}"
                _panel_says(app, words)
                assert "Running" not in "\n".join(str(c.value) for c in app.sidebar.caption)
                holds.released[hold].set()
            _panel_says(app, "Sandbox idle (Python)")
        finally:
            holds.release_all()
