"""What a watching tab and the server say to each other, read off the page's WebSocket in Chromium.

A running turn's finished steps are drawn once, with the page, not again with every redraw of the live step: a
turn of many short steps (as small local models take) otherwise kept the browser busy enough to slow the model.
An idle page reruns only the timers it needs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import gated_code
from tests.e2e.conftest import needs_chromium, open_gate, send, wait_until

pytestmark = needs_chromium
FIRST_CODE = "print('first step ' + 'done')"
TICK = "second step ticking"
REDRAWS = 6  # redraws of the live step to watch


@pytest.fixture(scope="module")
def scripted_steps() -> list[dict[str, Any]]:
    """One turn of two steps: a quick one, then one that waits for the test's gate."""
    return [
        {"tool": "execute_code", "input": {"code": FIRST_CODE}},
        {"tool": "execute_code", "input": {"code": f"print({TICK!r}, flush=True)\n{gated_code('second')}"}},
        {"text": "Both steps ran."},
    ]


def test_a_finished_step_is_not_sent_again_while_the_next_step_runs(browser: Any, app_server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.set_default_timeout(60_000)
    sent: list[str] = []  # per WebSocket message from the server: which of the two steps' texts it carries

    def record(payload: bytes | str) -> None:
        data = payload if isinstance(payload, bytes) else payload.encode()
        sent.append("first" if FIRST_CODE.encode() in data else "tick" if TICK.encode() in data else "")

    page.on("websocket", lambda socket: socket.on("framereceived", record))
    page.goto(app_server[0])
    send(page, "Run two steps")
    expect(page.get_by_text(TICK).first).to_be_visible()

    def live_redraws() -> list[str]:
        ticks = [number for number, kind in enumerate(sent) if kind == "tick"]
        return sent[ticks[1] :] if len(ticks) > REDRAWS + 1 else []  # the first two may come with the whole page

    wait_until(page, lambda: bool(live_redraws()), f"{REDRAWS} redraws of the running step")
    assert "first" not in live_redraws(), f"the finished step was sent again with the live step's redraws: {sent}"

    open_gate(app_server, "second")
    expect(page.get_by_text("Both steps ran.")).to_be_visible()
    expect(page.get_by_text("first step done")).to_have_count(1)
    page.close()


LATE_SERVER = """import http.server, threading, time
def serve():
    time.sleep(1)  # after the turn ended
    http.server.ThreadingHTTPServer(("127.0.0.1", 8123), http.server.SimpleHTTPRequestHandler).serve_forever()
threading.Thread(target=serve, daemon=True).start()
print('ran ' + 'once')"""


def test_an_idle_page_keeps_one_timer_and_still_finds_an_app_served_after_the_turn(
    browser: Any, app_server: tuple[str, Path]
) -> None:
    """Each timer's tick is a run that costs the browser a redraw of the whole page: the idle page's one timer
    also looks for apps the sandbox begins to serve, once code ran (before, nothing in the sandbox can serve)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.set_default_timeout(60_000)
    timers: list[str] = []  # the fragment of each timed rerun the tab asks for, in order

    def record(payload: bytes | str) -> None:
        message = BackMsg.FromString(payload if isinstance(payload, bytes) else payload.encode())
        if message.WhichOneof("type") == "rerun_script" and message.rerun_script.is_auto_rerun:
            timers.append(message.rerun_script.fragment_id)

    def ticks_since(start: int, count: int) -> Counter[str] | None:
        """How often each timer ticked since ``start``, once the busiest ticked ``count`` times."""
        ticks = Counter(timers[start:])
        return ticks if ticks and ticks.most_common(1)[0][1] >= count else None

    page.on("websocket", lambda socket: socket.on("framesent", record))
    page.goto(app_server[0])
    page.locator("[data-testid=stChatInputTextArea]").wait_for()
    wait_until(page, lambda: ticks_since(0, 3) is not None, "three ticks of the page's idle timer")
    idle = ticks_since(0, 3)
    assert idle is not None and sorted(idle.values())[:-1] <= [1], f"more than one timer ticks on a new page: {idle}"

    send(page, f"```python\n{LATE_SERVER}\n```")
    wait_until(page, lambda: page.get_by_text("ran once").count() > 0, "the run's output")
    link = page.locator("[data-testid=stSidebar]").get_by_role("link", name="Open preview · port 8123")
    start = len(timers)
    wait_until(page, lambda: link.count() > 0, "Open preview for the app served after the turn ended")
    wait_until(page, lambda: ticks_since(start, 2) is not None, "two more ticks of the idle timer")
    ticks = ticks_since(start, 2)
    assert ticks is not None and len(ticks) == 1, f"more than one timer ticks on an idle page: {ticks}"
    page.close()


def test_the_page_follows_new_steps_without_polling_and_leaves_a_reader_where_they_are(
    browser: Any, app_server: tuple[str, Path]
) -> None:
    """Streamlit's own follow polls the scroll position 60 times a second; the page follows by its layout instead."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1300, "height": 700})
    page.set_default_timeout(60_000)
    page.goto(app_server[0])
    tall = browser.new_page(viewport={"width": 1300, "height": 1600})  # taller than the first screen's content
    tall.goto(app_server[0])
    tall.get_by_text("Where to start").wait_for(timeout=60_000)
    docked = tall.locator("[data-testid=stChatInputTextArea]").bounding_box()
    assert docked is not None and docked["y"] > 1450, f"the chat input is not at the window's bottom: {docked}"
    tall.close()
    send(page, "```python\nfor n in range(30):\n    print(f'row {n}')\n```")
    expect(page.get_by_text("row 29")).to_be_in_viewport()
    assert page.locator("[data-testid=stAppScrollToBottomContainer]").count() == 0, "Streamlit's polling follow is on"

    send(page, "```python\nprint('newest ' + 'step')\n```")
    expect(page.get_by_text("newest step")).to_be_in_viewport()
    page.reload()
    expect(page.get_by_text("newest step")).to_be_in_viewport()

    reading = page.get_by_text("row 3", exact=True)
    reading.scroll_into_view_if_needed()
    before = reading.bounding_box()
    send(page, "```python\nprint('while ' + 'reading')\n```")
    expect(page.get_by_text("while reading")).to_have_count(1)
    expect(page.get_by_text("while reading")).not_to_be_in_viewport()
    after = reading.bounding_box()
    assert before is not None and after is not None and abs(after["y"] - before["y"]) < 2, (before, after)
    page.close()
