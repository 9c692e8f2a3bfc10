"""What a newcomer trips over in the side panel (issue 18), in Debian's Chromium at 1400x1000 on a real app.

A CSV preview shows a table of many rows, in the sandbox and in the workspace; the panel is wide enough for sizes
and icon buttons; conversations are listed left-aligned with when they were last used, the current one marked
calmly; the isolation box speaks plainly and each warning is one line. The server runs without bubblewrap and
asks for no network, so the panel has warnings to show (``isolation="none"`` says so, as it should).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS, needs_chromium, wait_until_page_idle
from tests.servers import running_app

pytestmark = needs_chromium
CODE = """import pandas as pd
pd.DataFrame({'month': range(1, 41), 'revenue': range(100, 140)}).to_csv('sales.csv', index=False)
open('notes.txt', 'w').write('x' * 131)
open(LONG_NAME, 'w').write('a,b')
print('files ' + 'written')"""
LAST_USED = re.compile(r"today \d\d:\d\d")
LONG_NAME = "quarterly_revenue_breakdown_by_region_2024.csv"
CODE = CODE.replace("LONG_NAME", repr(LONG_NAME))
BREAKS = """element => {  // the character before each line break of the element's text
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT), breaks = [];
  let top = null, before = "";
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    for (let i = 0; i < text.length; i++) {
      const range = document.createRange();
      range.setStart(text, i); range.setEnd(text, i + 1);
      const rect = range.getBoundingClientRect();
      if (rect.width === 0) { before = text.data[i]; continue; }
      if (top !== null && rect.top > top + 2) breaks.push(before);
      top = rect.top; before = text.data[i];
    }
  }
  return breaks;
}"""


@pytest.fixture(scope="module")
def page(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app with two conversations titled alike, the second one open, its files written."""
    from playwright.sync_api import expect

    data_dir = tmp_path_factory.mktemp("newcomer_panel") / "data"
    with running_app(data_dir, INTERPRETER_ISOLATION="none", INTERPRETER_SANDBOX_NETWORK="none") as (port, _):
        opened = browser.new_page(viewport={"width": 1400, "height": 1000})
        opened.set_default_timeout(60_000)
        opened.goto(f"http://127.0.0.1:{port}")
        sidebar = opened.locator("[data-testid=stSidebar]")
        for first in (True, False):
            box = opened.locator("[data-testid=stChatInputTextArea]")
            box.fill(f"```python\n{CODE}\n```")
            box.press("Enter")
            expect(opened.get_by_text("files written", exact=True).first).to_be_visible()
            expect(sidebar.get_by_role("button", name="Preview sales.csv")).to_be_visible()
            if first:
                sidebar.get_by_role("button", name="New conversation").click()
                expect(opened.get_by_text("files written", exact=True)).to_have_count(0)
        yield opened
        opened.close()


def _lines(locator: Any) -> float:
    """How many lines of text an element's box holds."""
    height = locator.bounding_box()["height"]
    line = locator.evaluate("element => parseFloat(getComputedStyle(element).lineHeight) || 24")
    return float(height) / float(line)


def test_a_csv_preview_shows_many_rows_in_the_sandbox_and_the_workspace(page: Any) -> None:
    from playwright.sync_api import expect

    sidebar = page.locator("[data-testid=stSidebar]")
    wait_until_page_idle(page)
    sidebar.get_by_role("button", name="Preview sales.csv").click()
    body = page.locator("[data-testid=stPopoverBody]")
    table = body.locator("[data-testid=stDataFrame]")
    expect(table).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "newcomer-panel-1-csv-preview.png"))
    shown, box = table.bounding_box(), body.bounding_box()
    assert shown["height"] > 250, "about 10 rows, not a strip with the header only"
    assert shown["y"] + shown["height"] <= box["y"] + box["height"] + 1, "the box shows the whole table"
    assert box["y"] >= 0 and box["y"] + box["height"] <= 1000, "the box is inside the window"
    assert box["width"] >= 400
    page.keyboard.press("Escape")
    expect(body).to_have_count(0)

    wait_until_page_idle(page)
    sidebar.get_by_role("button", name="Save sales.csv to the workspace").click()
    expect(sidebar.get_by_text("sales.csv saved as code-interpreter/sales.csv in the workspace.")).to_be_visible()
    sidebar.get_by_role("tab", name="Workspace").click()
    saved = sidebar.locator("[data-testid=stExpander]").filter(has_text="sales.csv")
    expect(saved.locator("[data-testid=stDataFrame]")).to_be_visible()
    assert saved.locator("[data-testid=stDataFrame]").bounding_box()["height"] > 250
    saved.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "newcomer-panel-2-workspace-table.png"))
    sidebar.get_by_role("tab", name="Sandbox files").click()


def test_the_side_panel_has_room_for_sizes_buttons_and_conversations(page: Any) -> None:
    from playwright.sync_api import expect

    sidebar = page.locator("[data-testid=stSidebar]")
    wait_until_page_idle(page)
    assert sidebar.bounding_box()["width"] >= 380
    size = sidebar.locator("[data-testid=stText]").filter(has_text="notes.txt")
    expect(size).to_contain_text("131\u00a0B")
    assert _lines(size) < 1.5, "the name and size of a file fit on one line"
    names = ("Preview notes.txt", "Download notes.txt", "Save notes.txt to the workspace", "Delete notes.txt")
    boxes = [sidebar.get_by_role("button", name=name).bounding_box() for name in names]
    for left, right in itertools.pairwise(boxes):
        assert left["x"] + left["width"] + 4 <= right["x"], "icon buttons keep a gap between them"
        assert abs(left["y"] - right["y"]) < 4, "icon buttons share one row"
    panel_right = sidebar.bounding_box()["x"] + sidebar.bounding_box()["width"]
    assert boxes[-1]["x"] + boxes[-1]["width"] <= panel_right - 8, "the last button is not cut by the panel's edge"

    listed = sidebar.locator("[class*=st-key-conversation_c-] button")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text(LAST_USED)
    label = listed.locator("p").first
    assert label.bounding_box()["x"] - listed.bounding_box()["x"] < 48, "titles are left-aligned"
    current = sidebar.locator("[class*=st-key-conversation_current_]")
    expect(current).to_contain_text(LAST_USED)
    current_title = current.locator("[data-testid=stMarkdownContainer] p").first
    assert current_title.bounding_box()["x"] - current.bounding_box()["x"] < 48
    colour = current.evaluate("element => getComputedStyle(element).backgroundColor")
    red, green, blue = (int(part) for part in re.findall(r"\d+", colour)[:3])
    assert red - max(green, blue) < 20, f"the current conversation is not tinted red ({colour})"
    bar = current.evaluate("element => getComputedStyle(element).borderLeftColor")
    red, green, blue = (int(part) for part in re.findall(r"\d+", bar)[:3])
    assert red - max(green, blue) < 20, f"the current conversation has no red bar ({bar})"
    assert current.locator("strong").count() == 0, "the current title is normal text"
    icons = [current.locator("span[role=img]"), listed.locator("[data-testid=stIconMaterial]")]
    starts = [icon.first.bounding_box()["x"] for icon in icons]
    assert abs(starts[0] - starts[1]) <= 3, f"the icons line up: {starts}"
    sidebar.locator("[data-testid=stSidebarContent]").screenshot(path=str(ARTIFACTS / "newcomer-panel-3-sidebar.png"))

    long_row = sidebar.locator("[data-testid=stText]").filter(has_text="quarterly_")
    long_row.scroll_into_view_if_needed()
    breaks = long_row.evaluate(BREAKS)
    assert breaks and set(breaks) <= {"\u200b", " ", "·"}, f"a name breaks only after _ or a space: {breaks}"
    size.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "newcomer-panel-3-files.png"))

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    assert sidebar.bounding_box()["width"] >= 380, "the panel keeps its width on every page"
    page.get_by_role("link", name="Chat").click()
    expect(sidebar.get_by_role("button", name="Preview sales.csv")).to_be_visible()  # back where it was


def test_the_isolation_box_speaks_plainly_and_warnings_are_one_line(page: Any) -> None:
    from playwright.sync_api import expect

    sidebar = page.locator("[data-testid=stSidebar]")
    wait_until_page_idle(page)
    warnings = sidebar.locator("[class*=st-key-isolation_warning_] [data-testid=stAlert]")
    expect(warnings).to_have_count(2)
    for index in range(2):
        text = warnings.nth(index).locator("[data-testid=stMarkdownContainer] p").first
        assert _lines(text) < 1.5, f"warning {index} is one line: {text.inner_text()}"
    sidebar.locator("[data-testid=stExpander] summary").filter(has_text="Sandbox isolation").click()
    expect(sidebar.get_by_text(re.compile(r"memory: at most 2,048\sMB"))).to_be_visible()
    expect(sidebar.get_by_text(re.compile("bubblewrap is not available"))).to_be_visible()  # the details
    expect(sidebar.get_by_text(re.compile("as root"))).to_have_count(0)
    expect(sidebar.get_by_text(re.compile(r"sleeps after 30\smin without use"))).to_be_visible()  # not 1,800 s
    expect(sidebar.get_by_text(re.compile("rlimit"))).to_have_count(0)
    sidebar.get_by_text(re.compile(r"memory: at most")).scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "newcomer-panel-4-isolation.png"))


def test_after_a_delete_the_list_and_the_title_box_name_an_untitled_conversation_alike(page: Any) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    sidebar = page.locator("[data-testid=stSidebar]")
    wait_until_page_idle(page)
    sidebar.locator("[data-testid=stExpander] summary").filter(has_text="This conversation").click()
    confirm = sidebar.get_by_role("button", name="Delete", exact=True)
    # A click that lands while the side panel's timed fragment reruns can be dropped by Streamlit (seen once in
    # CI); a person clicks again, and so does the test, at most twice more.
    for _ in range(3):
        sidebar.get_by_role("button", name="Delete conversation").click()
        try:
            confirm.wait_for(timeout=10_000)
            break
        except PlaywrightTimeout:
            continue
    confirm.click()
    current = sidebar.locator("[class*=st-key-conversation_current_]")
    expect(current).not_to_contain_text("Python")
    wait_until_page_idle(page)
    title_box = sidebar.get_by_label("Title")
    if not title_box.is_visible():
        sidebar.locator("[data-testid=stExpander] summary").filter(has_text="This conversation").click()
    shown = current.inner_text().split("\n")[-1]
    expect(title_box).to_be_visible()
    value = title_box.input_value() or title_box.get_attribute("placeholder") or ""
    assert value and value in current.inner_text(), f"the list says {shown!r}, the title box {value!r}"
    page.screenshot(path=str(ARTIFACTS / "newcomer-panel-5-after-delete.png"))
