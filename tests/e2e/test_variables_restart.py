"""Variables survive an app restart, in Chromium against the real server stopped with SIGTERM and started again."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.sandbox.local.pool import READY_MARK
from tests.conftest import wait_for
from tests.e2e.conftest import ARTIFACTS, needs_chromium
from tests.servers import app_environment, free_port, start_app, stop, wait_until_healthy

pytestmark = needs_chromium
STATE = "import pandas as pd\ntable = pd.DataFrame({'n': [1, 2, 3]})\nlog = open('log.txt', 'w')"


def _send(page: Any, text: str) -> None:
    chat_input = page.locator("[data-testid=stChatInputTextArea]")
    chat_input.wait_for()
    chat_input.fill(text)
    chat_input.press("Enter")


def test_python_variables_come_back_after_the_server_restarts(browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    app = _RestartedApp(browser, app_environment(tmp_path / "data"))
    try:
        page = app.run_then_restart(STATE)
        expect(page.get_by_text("were saved and come back at the next Python run").first).to_be_visible()
        _send(page, "```python\nprint(int(table.n.sum()) * 100)\n```")
        expect(page.get_by_text("600", exact=True).first).to_be_visible()
        expect(page.get_by_text("(an open file)", exact=False).first).to_be_attached()
        page.screenshot(path=str(ARTIFACTS / "variables-after-restart.png"))
    finally:
        app.close()


def test_a_conversation_reopened_in_a_pooled_kernel_after_a_restart_runs_python(browser: Any, tmp_path: Path) -> None:
    """Issue 18: with the kernel pool on (the default) and the checkout under /tmp (as in a clean clone there), a
    conversation reopened after a restart ran in a pooled kernel that no longer saw the app's virtualenv: imports
    failed ('No module named IPython.core.logger') while the step showed a success tick."""
    from playwright.sync_api import expect

    data = tmp_path / "data"
    app = _RestartedApp(browser, app_environment(data, INTERPRETER_KERNEL_POOL_SIZE="1"))
    try:
        page = app.run_then_restart("answer = 41", ready=lambda: _wait_for_a_pooled_kernel(data / "sessions" / ".pool"))
        _send(page, "```python\nimport stack_data, IPython.core.logger\nprint(answer + 1)\n1 / 0\n```")
        expect(page.get_by_text("42", exact=True).first).to_be_visible()
        expect(page.get_by_text("ZeroDivisionError").first).to_be_visible()
        assert page.get_by_text("No module named").count() == 0
        assert page.get_by_text("Unexpected exception formatting exception").count() == 0
        page.screenshot(path=str(ARTIFACTS / "reopened-in-a-pooled-kernel.png"))
    finally:
        app.close()


def _wait_for_a_pooled_kernel(pool: Path) -> None:
    """Until the kernel pool has a started, warm sandbox waiting to be taken (it marks it so)."""
    wait_for(lambda: list(pool.glob(f"*/{READY_MARK}")), "the kernel pool to start a kernel", 120)


class _RestartedApp:
    """The app in a browser page: code run in a new conversation, the server stopped (SIGTERM) and started again."""

    def __init__(self, browser: Any, environment: dict[str, str]) -> None:
        self.port, self.environment = free_port(), environment
        self.server = start_app(self.port, environment)
        self.context = browser.new_context(viewport={"width": 1300, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)

    def run_then_restart(self, code: str, ready: Callable[[], None] = lambda: None) -> Any:
        """Run ``code``, restart the server, wait for ``ready``, open the conversation again; the page."""
        from playwright.sync_api import expect

        wait_until_healthy(self.port, self.server)
        self.page.goto(f"http://127.0.0.1:{self.port}")
        _send(self.page, f"```python\n{code}\n```")
        expect(self.page.get_by_text("Ran python code (run by you)").first).to_be_visible()
        conversation = self.page.url
        self.page.goto("about:blank")  # else the page reconnects at once and reopens it before the server is ready
        self.server.send_signal(signal.SIGTERM)  # what a service manager or Ctrl+C does
        self.server.wait(timeout=60)
        self.server = start_app(self.port, self.environment)
        wait_until_healthy(self.port, self.server)
        ready()
        self.page.goto(conversation)
        return self.page

    def close(self) -> None:
        """Close the page and stop the server."""
        self.context.close()
        stop(self.server)
