"""What a newcomer trips over in the chat (issue 18), in Debian's Chromium on a real ``streamlit run``.

The app replays the bundled demo script (``examples/scripted-demo.json``), as the README suggests for a first try:
the first screen offers starting points, Settings and back returns to the conversation, a sent code block is shown
once, long lines wrap, a running step never shows the success tick, and an idle sandbox says it is idle.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import gated_code
from tests.e2e.conftest import ARTIFACTS, needs_chromium, open_gate, wait_until_page_idle
from tests.servers import REPO, running_app

pytestmark = needs_chromium
MARKER = "print('sent ' + 'once')"
LONG_WORDS = " ".join(f"word{number}" for number in range(150))
SLOW_STEPS = f"print('tick', 0, flush=True)\nprint('tick', 1, flush=True)\n{gated_code('ticks')}print('tick', 2, 3)"
"""A step that runs until the test opens its gate, however long a loaded machine takes to draw it running."""
# Records every running step ("Running …") drawn with the success tick (Streamlit's status "complete" icon).
TICK_WATCH = """() => {
  window.ticks = [];
  const look = () => {
    for (const summary of document.querySelectorAll('[data-testid=stExpander] summary')) {
      if (summary.innerText.includes('Running') && summary.querySelector('[data-testid=stExpanderIconCheck]')) {
        window.ticks.push(summary.innerText);
      }
    }
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app replaying the demo script: its address and data folder."""
    demo = str(REPO / "examples" / "scripted-demo.json")
    data = tmp_path_factory.mktemp("newcomer-chat") / "data"
    with running_app(data, INTERPRETER_MODEL_PROVIDER="scripted", INTERPRETER_SCRIPTED_MODEL_FILE=demo) as (port, _):
        yield f"http://127.0.0.1:{port}", data


@pytest.fixture(scope="module")
def app_url(app_server: tuple[str, Path]) -> str:
    return app_server[0]


def _page(browser: Any, app_url: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(app_url)
    return page


def _send(page: Any, text: str) -> None:
    box = page.locator("[data-testid=stChatInputTextArea]")
    box.fill(text)
    box.press("Enter")


def test_the_first_screen_offers_starting_points_and_an_example_question_sends_itself(
    browser: Any, app_url: str
) -> None:
    from playwright.sync_api import expect

    page = _page(browser, app_url)
    main = page.locator("[data-testid=stMainBlockContainer]")
    expect(main.get_by_text("Where to start")).to_be_visible()
    expect(main.get_by_text("examples/sales.zip")).to_be_visible()
    expect(main.get_by_text("Run code yourself")).to_be_visible()
    question = "Which month had the most revenue? Draw a chart."
    expect(main.get_by_role("button", name=question)).to_be_visible()
    sidebar = page.locator("[data-testid=stSidebar]")
    expect(sidebar.get_by_text("Sandbox ready")).to_be_visible()  # the side panel is drawn
    expect(sidebar.get_by_role("button", name="Export notebook (.ipynb)")).to_have_count(0)
    expect(sidebar.get_by_role("link", name="Download everything (.zip)")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "newcomer-chat-first-screen.png"))

    main.get_by_role("button", name=question).click()
    expect(page.locator("[data-testid=stChatMessage]").filter(has_text=question)).to_be_visible()
    expect(main.get_by_text("Where to start")).to_have_count(0)
    wait_until_page_idle(page)
    expect(main.get_by_text("no figures to report", exact=False).first).to_be_visible()  # nothing uploaded yet
    expect(sidebar.get_by_role("button", name="Export notebook (.ipynb)")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "newcomer-chat-example-sent.png"))
    page.close()


def test_settings_and_back_returns_to_the_conversation(browser: Any, app_url: str) -> None:
    from playwright.sync_api import expect

    page = _page(browser, app_url)
    _send(page, "```python\nprint('still ' + 'here')\n```")
    expect(page.get_by_text("still here", exact=True).first).to_be_visible()
    wait_until_page_idle(page)
    conversation = re.search(r"[?&]c=([^&]+)", page.url)
    assert conversation is not None

    nav = page.locator("[data-testid=stSidebarNav]")
    nav.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("button", name="Save")).to_be_visible()
    nav.get_by_role("link", name="Chat").click()
    expect(page.get_by_text("still here", exact=True).first).to_be_visible()
    expect(page).to_have_url(re.compile(rf"[?&]c={conversation.group(1)}(&|$)"))
    page.screenshot(path=str(ARTIFACTS / "newcomer-chat-back-from-settings.png"))
    page.close()


def test_a_sent_code_block_is_shown_once(browser: Any, app_url: str) -> None:
    from playwright.sync_api import expect

    page = _page(browser, app_url)
    _send(page, f"```python\n{MARKER}\n```")
    expect(page.get_by_text("sent once", exact=True).first).to_be_visible()
    wait_until_page_idle(page)
    main = page.locator("[data-testid=stMainBlockContainer]")
    assert main.inner_text().count(MARKER) == 1  # in the step only; the message sums it up
    expect(page.locator("[data-testid=stChatMessage]").filter(has_text="Sent Python code to run")).to_be_visible()
    page.close()


def test_long_lines_wrap_and_the_idle_sandbox_says_idle(browser: Any, app_url: str) -> None:
    from playwright.sync_api import expect

    page = _page(browser, app_url)
    code = f"print({LONG_WORDS!r})\nprint('x' * 600)\nraise ValueError({LONG_WORDS!r})"
    _send(page, f"```python\n{code}\n```")
    expect(page.get_by_text("ValueError: word0").first).to_be_visible()
    wait_until_page_idle(page)
    main = page.locator("[data-testid=stMainBlockContainer]")
    page.get_by_text("Traceback", exact=True).click()
    expect(main.locator("pre").filter(has_text="Traceback (most recent call last)")).to_be_visible()
    boxes = main.locator("[data-testid=stCode] pre")
    hidden = boxes.evaluate_all(
        """boxes => boxes.filter(box => box.offsetParent !== null && box.scrollWidth > box.clientWidth + 1)
                        .map(box => box.innerText.slice(0, 80))"""
    )
    assert hidden == []  # every code, output and traceback box shows its whole width

    sidebar = page.locator("[data-testid=stSidebar]")
    life = sidebar.get_by_text(re.compile("Sandbox idle \\(Python\\) · shuts down after \\d+ min without use"))
    expect(life).to_be_visible()
    assert "running" not in life.inner_text().lower()
    page.screenshot(path=str(ARTIFACTS / "newcomer-chat-long-lines.png"))
    page.close()


def test_a_running_step_never_shows_the_success_tick(browser: Any, app_server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    page = _page(browser, app_server[0])
    expect(page.locator("[data-testid=stChatInputTextArea]")).to_be_visible()
    wait_until_page_idle(page)
    page.evaluate(TICK_WATCH)
    _send(page, f"```python\n{SLOW_STEPS}\n```")
    expect(page.locator("[data-testid=stExpander] summary").filter(has_text="Running python code")).to_be_visible()
    expect(page.get_by_text("tick 1").first).to_be_visible()  # drawn while the step runs
    open_gate(app_server, "ticks")
    expect(page.get_by_text("tick 2 3").first).to_be_visible()
    wait_until_page_idle(page)
    assert page.evaluate("window.ticks") == []
    page.close()
