"""A long answer as it streams, in Chromium against a real server and an OpenAI-compatible wire server.

While only text streams, the page updates the answer's one element instead of redrawing the turn (what a tab
watching costs is measured in ``bench/watching.py``); here: the text keeps growing in place, Stop still ends the
turn at once, and the finished answer keeps what was written; nothing fades or blinks meanwhile, and a background
command's output stays live beside it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import needs_chromium, send, turn_stop, wait_until_page_idle
from tests.servers import running_app
from tests.wire.openai_chat import Reply, chat_completions_server

pytestmark = needs_chromium
WORDS = 3000  # at 50 words a second, a minute: Stop always comes before the end
ANSWER = "[data-testid=stChatMessage]"


TICKER = "for i in $(seq 1 600); do echo tick$i; sleep 0.2; done"
TICKS = "[data-testid=stExpanderDetails] [data-testid=stCode]"  # a background command's output, below the chat


TINY = 600  # paragraphs of one word
CODE_FIRST = ["A first paragraph.\n\n", "```python\n", "x = 1\n", "\n", "y = 2\n", "```\n\n"]


def _story(body: dict[str, Any]) -> Reply:
    """A long story; asked for a ticker first (and not given one yet), a background command that prints ticks."""
    last = body["messages"][-1]
    if last["role"] == "user" and "ticker" in str(last.get("content")):
        return Reply(tool_calls=[("execute_command", {"command": TICKER, "background": True})])
    asked = str(last.get("content"))
    opening = CODE_FIRST if "code first" in asked else []
    if "tiny paragraphs" in asked:
        opening = [f"p{n}\n\n" for n in range(TINY)]
    pause = _pause_at_word_150 if asked == "Tell me a long story" else None
    return Reply(text=[*opening, *(f"word{n} " for n in range(WORDS))], delay=0.02, before_chunk=pause)


def _pause_at_word_150(chunk: int) -> None:
    """A pause longer than ``TEXT_QUIET_SECONDS``: the page's streaming loop ends and its fragment is drawn again."""
    if chunk == 150:
        time.sleep(1.5)


MOVEMENTS = """() => {
  window.movements = [];
  for (const kind of ["transitionrun", "animationstart"]) {
    const record = (event) => window.movements.push(`${kind}: ${event.target.innerText.slice(0, 60)}`);
    document.addEventListener(kind, record, true);
  }
}"""


def _in_a_new_conversation(page: Any, message: str) -> Any:
    """Send ``message`` in a new conversation; its answer once the story began."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="New conversation").click()
    expect(page.locator(ANSWER)).to_have_count(0)
    send(page, message)
    answer = page.locator(ANSWER).filter(has_text="word10 ").last
    expect(answer).to_be_visible()
    return answer


def _stop_and_wait(page: Any) -> None:
    turn_stop(page).click()
    wait_until_page_idle(page)


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

    send(page, "Tell me a long story")
    answer = page.locator(ANSWER).filter(has_text="word0 word1").last
    expect(answer).to_contain_text("word10 ")
    text = answer.locator("[data-testid=stMarkdownContainer]").first
    handle = text.element_handle()
    lengths = [len(text.inner_text())]
    for word in (200, 400):
        expect(answer).to_contain_text(f"word{word} ")
        lengths.append(len(text.inner_text()))
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1], f"the text grows: {lengths}"
    connected = page.evaluate("node => node.isConnected", handle)
    assert connected, "the same element was updated, also after the pause drew the answer again, not a new one"
    _stop_and_wait(page)
    expect(page.get_by_text("Stopped. The sandbox kept its files and variables.")).to_be_visible()
    finished = page.locator(ANSWER).filter(has_text="word400 ").last
    expect(finished).not_to_contain_text(f"word{WORDS - 1} ")
    expect(finished).not_to_contain_text("▌")


def test_while_an_answer_streams_nothing_fades_and_the_caret_does_not_blink(page: Any) -> None:
    """No transition or animation starts while text streams (the side panel's status faded to a third while its
    timer's run waited for the text's, a fade the browser drew at its frame rate on the cores a local model uses)."""
    from playwright.sync_api import expect

    answer = _in_a_new_conversation(page, "Tell me another long story")
    page.mouse.move(700, 5)  # nothing under the pointer changes as the page is drawn again
    page.evaluate(MOVEMENTS)
    expect(answer).to_contain_text("word400 ")  # 8 s at 50 words a second: the status's timer ran meanwhile
    moved = page.evaluate("() => window.movements")
    assert moved == [], f"started while the answer streamed: {moved}"
    caret = page.locator("[data-testid=stChatInputTextArea]").evaluate("node => getComputedStyle(node).caretAnimation")
    assert caret == "manual", "the chat box's caret blinks"
    _stop_and_wait(page)


def test_a_background_commands_output_stays_live_while_an_answer_streams(page: Any) -> None:
    """While text streams, the page's other fragments wait for their runs; with a background command running
    they wait for about 3 s at most, not the 10 s the text may otherwise hold them."""
    from playwright.sync_api import expect

    answer = _in_a_new_conversation(page, "Start a ticker, then tell a story")
    ticks = page.locator(TICKS).last
    expect(ticks).to_contain_text("tick")
    seen = [_last_tick(ticks.inner_text())]
    words = [_last_word(answer.inner_text())]
    while len(seen) < 3:  # two more updates of the output, each before 400 more words (8 s at 50 a second)
        page.wait_for_function(
            "([node, tick]) => !node.isConnected || !node.innerText.trim().endsWith('tick' + tick)",
            arg=[ticks.element_handle(), seen[-1]],
        )
        seen.append(_last_tick(ticks.inner_text()))
        words.append(_last_word(answer.inner_text()))
        assert words[-1] - words[-2] < 400, f"the output waited for {words[-1] - words[-2]} words: {words}"
    assert seen == sorted(seen), seen
    turn_stop(page).click()
    expect(turn_stop(page)).to_have_count(0)
    page.get_by_role("button", name="Stop command", exact=True).click()  # the background command's own
    expect(page.get_by_role("button", name="Stop command", exact=True)).to_have_count(0)


def _last_tick(output: str) -> int:
    return int(output.strip().rsplit("tick", 1)[1])


def _last_word(answer: str) -> int:
    return int(answer.replace("▌", "").strip().rsplit("word", 1)[1])


def test_an_answer_streams_in_blocks_that_render_as_the_whole_answer_does(page: Any) -> None:
    """Settled blocks are drawn once each while the rest grows: a code block with a blank line stays one block."""
    from playwright.sync_api import expect

    answer = _in_a_new_conversation(page, "Show code first, then a story")
    expect(answer).to_contain_text("word100 ")
    expect(answer.get_by_text("A first paragraph.")).to_be_visible()
    code = answer.locator("[data-testid=stCode]")
    expect(code).to_have_count(1)
    assert code.inner_text().split() == ["x", "=", "1", "y", "=", "2"]
    expect(answer).to_contain_text("▌")  # still streaming
    _stop_and_wait(page)
    finished = page.locator(ANSWER).filter(has_text="word100 ").last
    expect(finished.locator("[data-testid=stCode]")).to_have_count(1)
    expect(finished.get_by_text("A first paragraph.")).to_be_visible()


def test_many_tiny_paragraphs_do_not_fill_the_page_with_elements(page: Any) -> None:
    """Settled blocks are drawn together once they hold a few hundred characters (each element costs a little)."""
    from playwright.sync_api import expect

    answer = _in_a_new_conversation(page, "Write tiny paragraphs, then a story")
    expect(answer).to_contain_text("word100 ")
    drawn = answer.locator("[data-testid=stMarkdownContainer]").count()
    assert drawn <= 6 * TINY // 400 + 3, f"{drawn} elements for {TINY} one-word paragraphs"
    _stop_and_wait(page)
