"""Shared by the browser tests: a real ``streamlit run`` of the app on loopback, and Debian's Chromium."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.prerequisites import requires
from tests.servers import app_environment, free_port, start_app, stop, wait_until_healthy

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = requires(Path(CHROMIUM).exists(), "Debian's chromium is not installed")
"""The mark of a browser test (``pytestmark = needs_chromium``): skipped without Chromium, failed under CI."""
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
ANALYSIS = """import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pandas as pd
sales = pd.read_csv('sales/2024.csv')
monthly = sales.groupby('month', sort=False)['revenue'].sum()
print(f"Best month: {monthly.idxmax()} ({monthly.max()})")
monthly.plot.bar(title='Revenue by month')
plt.savefig('chart.png')
monthly.reset_index()"""
STEPS = [
    {"tool": "execute_code", "input": {"code": ANALYSIS, "output_filename": "chart.png"}},
    {"text": "March was the best month, with 340 in revenue. Download [the chart](sandbox:/mnt/data/chart.png)."},
]


@pytest.fixture(scope="module")
def scripted_steps() -> list[dict[str, Any]]:
    """The scripted model's steps for the app of one module: ``STEPS`` unless the module overrides this fixture."""
    return STEPS


@pytest.fixture(scope="module")
def app_server(
    tmp_path_factory: pytest.TempPathFactory, scripted_steps: list[dict[str, Any]]
) -> Iterator[tuple[str, Path]]:
    """The app with the scripted model (``scripted_steps``), for the tests of one module: its URL and data folder."""
    folder = tmp_path_factory.mktemp("e2e")
    script = folder / "steps.json"
    script.write_text(json.dumps(scripted_steps))
    data_dir = folder / "data"
    environment = app_environment(
        data_dir, INTERPRETER_MODEL_PROVIDER="scripted", INTERPRETER_SCRIPTED_MODEL_FILE=str(script)
    )
    port = free_port()
    server = start_app(port, environment, output=subprocess.DEVNULL)
    try:
        wait_until_healthy(port, server)
        yield f"http://127.0.0.1:{port}", data_dir
    finally:
        stop(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, for the tests of one module."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    expect.set_options(timeout=30_000)  # a busy 2-core machine can take more than the default 5 s
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """When a browser test fails, keep a screenshot of each page it left open (what the person would have seen)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    browser = getattr(item, "funcargs", {}).get("browser")
    if report.when != "call" or not report.failed or browser is None:
        return
    for context_number, context in enumerate(browser.contexts):
        for page_number, page in enumerate(context.pages):
            name = f"failed-{item.name}-{context_number}-{page_number}.png".replace("/", "_")
            with contextlib.suppress(Exception):  # a page that crashed or closed leaves no picture
                page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def turn_stop(page: Any) -> Any:
    """The running turn's Stop button, "Stopping …" once pressed (a background command's own is "Stop command")."""
    return page.locator(".st-key-stop_turn button")


def wait_until_page_idle(page: Any) -> None:
    """Wait until the page shows no running turn and no queued message, and has been drawn since."""
    from playwright.sync_api import expect

    expect(turn_stop(page)).to_have_count(0)
    expect(page.get_by_text("Queued: runs when the current turn ends.")).to_have_count(0)
    expect(page.locator("[data-testid=stApp]")).not_to_have_attribute("data-test-script-state", "running")


def send(page: Any, text: str) -> None:
    """Type a message into the chat input and press Enter."""
    chat_input = page.locator("[data-testid=stChatInputTextArea]")
    chat_input.fill(text)
    chat_input.press("Enter")


def open_gate(app_server: tuple[str, Path], name: str) -> None:
    """Let the server's steps waiting on ``name`` (:func:`tests.conftest.gated_code`) go on."""
    for sandbox in app_server[1].glob("sessions/*/*/sandbox"):
        (sandbox / name).touch()


def wait_until(page: Any, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Let the page work (its events arrive meanwhile) until ``condition`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        page.wait_for_timeout(100)
