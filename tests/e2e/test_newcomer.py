"""What a newcomer sees (issue 12), in Debian's Chromium on a real ``streamlit run`` without a model.

Named file buttons, "Save to workspace" and a confirmed delete, "Download all" named like the notebook, the
step-wide monospace editor that Ctrl+Enter runs, expanders with their arrow, and the sandbox's state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import ARTIFACTS, needs_chromium
from tests.servers import running_app

pytestmark = needs_chromium
CODE = "open('report.csv', 'w').write('a,b')\nprint('made ' + 'it')"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_app(tmp_path_factory.mktemp("newcomer") / "data") as (port, _):
        yield f"http://127.0.0.1:{port}"


def test_a_first_session_without_a_model(browser: Any, app_url: str) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(60_000)
    page.goto(app_url)
    sidebar = page.locator("[data-testid=stSidebar]")
    expect(sidebar.get_by_text("Sandbox ready: nothing has run yet")).to_be_visible()
    no_model = page.locator("[data-testid=stExpander] summary").filter(has_text="How to add a model")
    expect(no_model.locator("[data-testid=stIconMaterial]")).to_have_text("keyboard_arrow_right")  # its arrow

    box = page.locator("[data-testid=stChatInputTextArea]")
    box.fill(f"```python\n{CODE}\n```")
    box.press("Enter")
    expect(page.get_by_text("made it", exact=True).first).to_be_visible()
    expect(sidebar.get_by_text("Sandbox idle (Python)")).to_be_visible()
    for action in ("Preview report.csv", "Download report.csv", "Delete report.csv"):
        expect(sidebar.get_by_role("button", name=action)).to_be_visible()

    sidebar.get_by_role("button", name="Save report.csv to the workspace").click()
    expect(sidebar.get_by_text("report.csv saved as code-interpreter/report.csv in the workspace.")).to_be_visible()
    with page.expect_download() as notebook:
        sidebar.get_by_role("button", name="Export notebook (.ipynb)").click()
    sidebar.get_by_role("tab", name="Workspace").click()
    with page.expect_download() as everything:
        sidebar.get_by_role("link", name="Download all").click()
    stem = notebook.value.suggested_filename.removesuffix(".ipynb")
    assert everything.value.suggested_filename == f"{stem}-workspace.zip"

    sidebar.get_by_role("tab", name="Sandbox files").click()
    sidebar.get_by_role("button", name="Delete report.csv").click()
    expect(sidebar.get_by_text("Delete report.csv from the sandbox? This cannot be undone.")).to_be_visible()
    sidebar.get_by_role("button", name="Delete", exact=True).click()
    expect(sidebar.get_by_text("Deleted report.csv from the sandbox.")).to_be_visible()

    app = page.locator("[data-testid=stApp]")
    expect(app).not_to_have_attribute("data-test-script-state", "running")  # the delete's redraw is over
    page.get_by_text("Edit and re-run").first.click()
    editor = page.locator("textarea[aria-label=Code]").first
    assert "monospace" in editor.evaluate("element => getComputedStyle(element).fontFamily")
    assert editor.bounding_box()["width"] > 600  # as wide as the step
    editor.fill("print('edited ' + 'run')")
    expect(app).not_to_have_attribute("data-test-script-state", "running")
    editor.press("Control+Enter")
    expect(page.get_by_text("edited run", exact=True).first).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "newcomer.png"))
    page.close()
