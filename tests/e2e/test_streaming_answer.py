"""A long answer as it streams, in Chromium against a real server and an OpenAI-compatible wire server.

While only text streams, the page updates the answer's one element instead of redrawing the turn (what a tab
watching costs is measured in ``bench/watching.py``); here: the text keeps growing in place, Stop still ends the
turn at once, and the finished answer keeps what was written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import needs_chromium, wait_until_page_idle
from tests.servers import running_app
from tests.wire.openai_chat import Reply, chat_completions_server

pytestmark = needs_chromium
WORDS = 3000  # at 50 words a second, a minute: Stop always comes before the end
ANSWER = "[data-testid=stChatMessage]"


def _story(body: dict[str, object]) -> Reply:
    return Reply(text=[f"word{n} " for n in range(WORDS)], delay=0.02)


@pytest.fixture(scope="module")
def page(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app with a model that tells a long story, open in a tab."""
    data_dir = tmp_path_factory.mktemp("streaming_answer") / "data"
    with (
        chat_completions_server(_story) as (base_url, _),
        running_app(
            data_dir,
            INTERPRETER_ISOLATION="none",
            INTERPRETER_MODEL_PROVIDER="openai",
            INTERPRETER_OPENAI_BASE_URL=base_url,
            INTERPRETER_MODEL_ID="wire-model",
        ) as (port, _),
    ):
        opened = browser.new_page(viewport={"width": 1400, "height": 1000})
        opened.set_default_timeout(60_000)
        opened.goto(f"http://127.0.0.1:{port}")
        yield opened
        opened.close()


def test_a_streaming_answer_grows_in_place_and_stop_ends_it(page: Any) -> None:
    from playwright.sync_api import expect

    box = page.locator("[data-testid=stChatInputTextArea]")
    box.fill("Tell me a long story")
    box.press("Enter")
    answer = page.locator(ANSWER).filter(has_text="word0 word1").last
    expect(answer).to_contain_text("word10 ")
    text = answer.locator("[data-testid=stMarkdownContainer]").first
    handle = text.element_handle()
    lengths = [len(text.inner_text())]
    for word in (200, 400):
        expect(answer).to_contain_text(f"word{word} ")
        lengths.append(len(text.inner_text()))
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1], f"the text grows: {lengths}"
    assert page.evaluate("node => node.isConnected", handle), "the same element was updated, not a new one drawn"
    page.get_by_role("button", name="Stop", exact=True).click()
    wait_until_page_idle(page)
    expect(page.get_by_text("Stopped. The sandbox kept its files and variables.")).to_be_visible()
    finished = page.locator(ANSWER).filter(has_text="word400 ").last
    expect(finished).not_to_contain_text(f"word{WORDS - 1} ")
    expect(finished).not_to_contain_text("▌")
