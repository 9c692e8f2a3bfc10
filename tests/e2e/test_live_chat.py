"""The chat as it happens, in Chromium against a real server: live output, order, long output, reloads, queue."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import gated_code
from tests.e2e.conftest import ARTIFACTS, needs_chromium, open_gate, send, turn_stop, wait_until_page_idle

pytestmark = needs_chromium
MESSAGES = "[data-testid=stChatMessage]"
STEP_PARTS = "[data-testid=stCode], [data-testid=stDataFrame], [data-testid=stImage]"
MIXED = """import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
print('first ' + 'text')
display(pd.DataFrame({'a': [1, 2, 3]}))
print('second ' + 'text')
figure = plt.figure()
plt.plot([1, 3, 2])
display(figure)
plt.close(figure)
print('third ' + 'text')"""


@pytest.fixture
def page(browser: Any, app_server: tuple[str, Path]) -> Iterator[Any]:
    """A new tab on a new conversation of the app."""
    context = browser.new_context(viewport={"width": 1300, "height": 1000}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    tab.goto(app_server[0])
    tab.locator("[data-testid=stChatInputTextArea]").wait_for()
    yield tab
    context.close()


def _eventually(check: Callable[[], None], timeout: float = 60) -> None:
    """Retry ``check`` until it passes, as Playwright's own assertions do: the page may be mid-redraw."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except Exception:  # an assertion, or a locator whose element was just redrawn
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _finished_step(page: Any, containing: str) -> Any:
    """The last step, once it has finished and shows ``containing``."""
    from playwright.sync_api import expect

    step = page.locator(MESSAGES).locator("[data-testid=stExpander]").filter(has_text="Ran python code").last
    expect(step.get_by_text(containing).first).to_be_visible(timeout=30_000)
    return step


def test_output_shows_while_the_code_still_runs(page: Any, app_server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    send(page, f"```python\nprint('tick', 0, flush=True)\n{gated_code('ticks')}print('tick', 7)\n```")
    expect(page.get_by_text("tick 0").first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Running python code").first).to_be_visible()
    assert page.get_by_text("tick 7").count() == 0  # the code still waits
    page.screenshot(path=str(ARTIFACTS / "live-1-running.png"))
    open_gate(app_server, "ticks")
    _finished_step(page, "tick 7")


def test_outputs_keep_their_order_and_progress_bars_are_one_line(page: Any) -> None:
    from playwright.sync_api import expect

    send(page, f"```python\n{MIXED}\n```")
    step = _finished_step(page, "third text")
    expect(step.locator("[data-testid=stDataFrame]")).to_be_visible()
    expect(step.locator("[data-testid=stImage]")).to_be_visible()

    def in_order() -> None:
        kinds = step.locator(STEP_PARTS).evaluate_all(
            "parts => parts.map(p => p.dataset.testid === 'stCode' ? 'code:' + p.innerText.split('\\n')[0] "
            ": p.dataset.testid)"
        )
        kinds = kinds[1:]  # the step's source code comes first
        assert kinds == ["code:first text", "stDataFrame", "code:second text", "stImage", "code:third text"], kinds

    _eventually(in_order)

    send(page, "```python\nfrom tqdm import tqdm\nfor _ in tqdm(range(40), mininterval=0):\n    pass\n```")
    step = _finished_step(page, "40/40")

    def one_line() -> None:
        bar = step.locator("[data-testid=stCode]").filter(has_text="40/40").inner_text()
        assert bar.strip().count("\n") == 0 and "|" in bar, bar
        assert all(text.strip() for text in step.locator("[data-testid=stCode]").all_inner_texts())  # no empty boxes

    _eventually(one_line)


def test_long_output_is_collapsed_with_the_note_first(page: Any) -> None:
    from playwright.sync_api import expect

    send(page, "```python\nprint('\\n'.join(f'row {i}' for i in range(20000)))\n```")
    step = _finished_step(page, "Long output:")

    def note_first() -> None:
        parts = step.locator("[data-testid=stCaptionContainer], [data-testid=stCode]").evaluate_all(
            "parts => parts.map(p => p.innerText.slice(0, 40))"
        )
        assert len(parts) > 2 and "Long output:" in parts[1] and parts[2].startswith("row 0"), parts

    _eventually(note_first)
    assert step.get_by_text("row 10000").count() == 0
    assert step.get_by_text("row 19999").count() == 1
    step.get_by_text("Show all").click()
    expect(step.locator("[data-testid=stCode]").filter(has_text="row 10000")).to_be_attached()
    with page.expect_download() as download:
        step.get_by_role("button", name="Download the full output").click()
    assert Path(download.value.path()).read_text().count("\n") >= 19999
    page.screenshot(path=str(ARTIFACTS / "live-2-long.png"))


def test_a_reload_shows_the_running_turn_live_and_it_completes(page: Any, app_server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    send(page, f"```python\nprint('beat', 0, flush=True)\n{gated_code('beats')}print('beat', 5)\n```")
    expect(page.get_by_text("beat 0").first).to_be_visible(timeout=60_000)
    page.reload()
    expect(page.get_by_text("Running python code").first).to_be_visible()
    expect(turn_stop(page)).to_be_visible()
    expect(page.get_by_text("beat 0").first).to_be_visible()
    open_gate(app_server, "beats")
    _finished_step(page, "beat 5")


def test_a_message_sent_during_a_turn_is_queued_then_runs(page: Any, app_server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    send(page, f"```python\n{gated_code('slow')}print('slow ' + 'finished')\n```")
    expect(page.get_by_text("Running python code").first).to_be_visible(timeout=60_000)
    send(page, "```python\nprint('queued ' + 'ran')\n```")
    # .first: while a loaded server redraws the live area, the old caption can linger beside the new one
    expect(page.get_by_text("Queued: runs when the current turn ends.").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "live-3-queued.png"))
    open_gate(app_server, "slow")
    expect(page.get_by_text("queued ran", exact=True).first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("slow finished", exact=True).first).to_be_visible()
    # run once: Streamlit could deliver the submit twice (17 ms apart), and a second run would have been queued
    # behind the first, so once nothing runs or waits any more, every run there was is on the page
    wait_until_page_idle(page)
    _eventually(lambda: _once(page, "queued ran"))


def _once(page: Any, text: str) -> None:
    assert page.get_by_text(text, exact=True).count() == 1, page.get_by_text(text, exact=True).count()


def test_streamlit_developer_chrome_is_hidden(page: Any) -> None:
    assert page.get_by_role("button", name="Deploy").count() == 0
    assert page.locator("[data-testid=stMainMenu]").count() == 0
