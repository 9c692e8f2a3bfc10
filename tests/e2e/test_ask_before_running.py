"""Ask before running code, in Chromium against a real server: the step waits, survives a reload, is skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import ARTIFACTS, needs_chromium

pytestmark = needs_chromium


def test_a_waiting_step_survives_a_reload_and_is_skipped_with_a_reason(
    browser: Any, app_server: tuple[str, Path]
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(app_server[0])
        page.get_by_text("Ask before running code").click()
        chat_input = page.locator("[data-testid=stChatInputTextArea]")
        chat_input.fill("Which month sold best?")
        chat_input.press("Enter")
        waiting = page.locator("[data-testid=stChatMessage]").filter(has_text="Waiting for you:")
        expect(waiting.get_by_text("groupby", exact=False).first).to_be_visible()
        assert page.get_by_text("Ran python code").count() == 0  # nothing ran

        page.reload()
        expect(waiting.get_by_text("groupby", exact=False).first).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "ask-1-waiting.png"))
        waiting.get_by_role("button", name="Skip").click()
        page.get_by_label("Why? (the agent is told)").fill("not before I upload the data")
        page.get_by_role("button", name="Skip this step").click()

        expect(page.get_by_text("Skipped by you: python code").first).to_be_visible()
        expect(page.get_by_text("Their reason: not before I upload the data").first).to_be_visible()
        expect(page.get_by_text("March was the best month").first).to_be_visible()  # the scripted answer goes on
        expect(page.get_by_text("Waiting for you:")).to_have_count(0)  # once the page is drawn again
        page.screenshot(path=str(ARTIFACTS / "ask-2-skipped.png"))
    finally:
        context.close()
