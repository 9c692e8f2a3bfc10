"""End to end: the real Streamlit server, driven in Debian's Chromium with Playwright, with the scripted model."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from tests.conftest import make_zip, wait_for
from tests.e2e.conftest import ARTIFACTS, needs_chromium, turn_stop

SALES_CSV = (
    "month,region,revenue\nJan,north,120\nJan,south,80\nFeb,north,150\nFeb,south,95\nMar,north,210\nMar,south,130\n"
)

pytestmark = needs_chromium


def _sales_zip(path: Path) -> Path:
    path.write_bytes(make_zip({"sales/2024.csv": SALES_CSV}))
    return path


def test_upload_chat_chart_table_downloads_and_reload(
    browser: Any, app_server: tuple[str, Path], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, data_dir = app_server
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(60_000)
    page.goto(url)
    chat_input = page.locator("[data-testid=stChatInputTextArea]")
    expect(chat_input).to_be_visible()
    expect(page.get_by_text("scripted model")).to_be_visible()

    sidebar = page.locator("[data-testid=stSidebar]")
    sidebar.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(
        str(_sales_zip(tmp_path / "sales.zip"))
    )
    expect(page.get_by_text("is in the sandbox").first).to_be_visible()
    expect(sidebar.get_by_text("sales/").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "1-uploaded.png"))

    chat_input.fill("Which month sold best? Chart it.")
    chat_input.press("Enter")
    messages = page.locator("[data-testid=stChatMessage]")
    expect(messages.get_by_text("March was the best month").first).to_be_visible()
    expect(messages.get_by_text("Best month: Mar (340)").first).to_be_visible()
    expect(messages.get_by_text("groupby('month', sort=False)").first).to_be_visible()
    expect(messages.locator("[data-testid=stImage] img").first).to_be_visible()
    expect(messages.locator("[data-testid=stDataFrame]").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "2-answer.png"))

    conversation_id = page.url.split("c=")[1].split("&")[0]
    saved = data_dir / "sessions" / "local" / conversation_id / "workspace" / "code-interpreter" / "chart.png"
    assert saved.read_bytes().startswith(b"\x89PNG")
    with page.expect_download() as linked:  # the link in the answer's text downloads the sandbox's file
        messages.get_by_role("link", name="the chart").click()
    assert linked.value.suggested_filename == "chart.png"
    assert Path(linked.value.path()).read_bytes().startswith(b"\x89PNG")

    sidebar.get_by_role("tab", name="Workspace").click()
    expect(sidebar.locator("[data-testid=stImage] img").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "3-workspace.png"))
    with page.expect_download() as chart_download:
        sidebar.get_by_role("button", name="Download", exact=True).first.click()
    assert Path(chart_download.value.path()).read_bytes() == saved.read_bytes()
    with page.expect_download() as workspace_zip:  # a link: the server writes the ZIP to disk and streams it
        sidebar.get_by_role("link", name="Download all").click()
    with zipfile.ZipFile(workspace_zip.value.path()) as archive:
        assert archive.read("chart.png") == saved.read_bytes()
    with page.expect_download() as everything:
        sidebar.get_by_role("link", name="Download everything (.zip)").click()
    with zipfile.ZipFile(everything.value.path()) as archive:
        assert archive.read("workspace/chart.png") == saved.read_bytes()
        assert "groupby('month'" in archive.read("conversation.ipynb").decode()
    # Sent, then deleted: the server deletes a file once its last byte is sent, a moment after the browser has it.
    wait_for(lambda: not list((data_dir / "downloads").iterdir()), "the sent files to be deleted", 30)
    with page.expect_download() as notebook_download:
        sidebar.get_by_role("button", name="Export notebook (.ipynb)").click()
    notebook = json.loads(Path(notebook_download.value.path()).read_text())
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert any("groupby('month'" in "".join(cell["source"]) for cell in code_cells)
    assert any(output.get("data", {}).get("image/png") for cell in code_cells for output in cell["outputs"])

    page.reload()
    expect(page.locator("[data-testid=stChatMessage]").get_by_text("March was the best month").first).to_be_visible()
    assert page.get_by_text("variables from before were lost").count() == 0  # the kernel lived on
    page.screenshot(path=str(ARTIFACTS / "4-reloaded.png"))


def test_stop_button_interrupts_running_code_and_keeps_variables(browser: Any, app_server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    url, _ = app_server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(url)
    chat_input = page.locator("[data-testid=stChatInputTextArea]")
    # It prints without pause: the kernel's output queue never runs empty (Stop once waited for that, forever).
    printing = "while True:\n    print('ti' + 'ck', flush=True)\n    time.sleep(0.01)"  # 'tick' is output only
    chat_input.fill(f"```python\nkept = 'still here'\nimport time\n{printing}\n```")
    chat_input.press("Enter")
    messages = page.locator("[data-testid=stChatMessage]")
    expect(messages.get_by_text("Running python code").first).to_be_visible()  # drawn in place: nothing moves
    expect(messages.get_by_text("tick").first).to_be_visible()  # it runs: the variable is set
    turn_stop(page).click()
    expect(
        page.locator("[data-testid=stChatMessage]").get_by_text("The run was stopped on request.").first
    ).to_be_visible()
    chat_input.fill("```python\nprint(kept)\n```")
    chat_input.press("Enter")
    expect(page.locator("[data-testid=stChatMessage]").get_by_text("still here", exact=True).first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "5-stopped.png"))


def test_a_file_a_step_made_downloads_from_the_step_and_saves_to_the_workspace(
    browser: Any, app_server: tuple[str, Path]
) -> None:
    from playwright.sync_api import expect

    url, data_dir = app_server
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(60_000)
    page.goto(url)
    chat_input = page.locator("[data-testid=stChatInputTextArea]")
    chat_input.fill(
        "```python\nimport os\nos.makedirs('out', exist_ok=True)\nopen('out/table.csv', 'w').write('a,b\\n1,2\\n')\n```"
    )
    chat_input.press("Enter")
    step = page.locator("[data-testid=stChatMessage]").filter(has_text="Files this step created or changed (1)")
    expect(step.get_by_text("out/table.csv · 8 B")).to_be_visible()
    with page.expect_download() as download:
        step.get_by_role("button", name="Download table.csv").first.click()
    assert download.value.suggested_filename == "table.csv"
    assert Path(download.value.path()).read_bytes() == b"a,b\n1,2\n"

    step.get_by_role("button", name="Save table.csv to the workspace").first.click()  # icon button, named
    expect(page.get_by_text("Saved to the workspace: code-interpreter/table.csv")).to_be_visible()
    conversation_id = page.url.split("c=")[1].split("&")[0]
    saved = data_dir / "sessions" / "local" / conversation_id / "workspace" / "code-interpreter" / "table.csv"
    assert saved.read_bytes() == b"a,b\n1,2\n"
    page.screenshot(path=str(ARTIFACTS / "6-step-files.png"))


def test_a_large_file_downloads_from_disk_through_a_link(browser: Any, app_server: tuple[str, Path]) -> None:
    """Files over 20 MB are not read into the server's memory: a link streams them from disk."""
    from playwright.sync_api import expect

    url, data_dir = app_server
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(60_000)
    page.goto(url)
    chat_input = page.locator("[data-testid=stChatInputTextArea]")
    chat_input.fill("```python\nwith open('big.bin', 'wb') as f:\n    f.write(b'z' * (21 * 2**20))\n```")
    chat_input.press("Enter")
    step = page.locator("[data-testid=stChatMessage]").filter(has_text="Files this step created or changed (1)")
    expect(step.get_by_text("big.bin · 21.0 MB")).to_be_visible()
    for place in (step, page.locator("[data-testid=stSidebar]")):
        with page.expect_download() as download:
            place.get_by_role("link", name="Download big.bin").first.click()
        assert Path(download.value.path()).read_bytes() == b"z" * (21 * 2**20)
    page.screenshot(path=str(ARTIFACTS / "7-large-file.png"))
    wait_for(lambda: not list((data_dir / "downloads").iterdir()), "the sent files to be deleted", 30)
