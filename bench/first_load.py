"""First page load: how long a newcomer waits before the chat can be used, in a real ``streamlit run`` in Chromium.

Run from the repository root (about half a minute on 2 cores; ``.venv/bin/python -m bench`` runs it with the
others):

    .venv/bin/python -m bench.first_load [--json bench/first_load.json] [--quick]

The server starts as ``./dev.sh app`` starts it for a newcomer (the default kernel pool, no model), on a free
loopback port with a fresh data folder. Headless Chromium (Debian's, through Playwright) then opens the app in a
new browser context (a new conversation) several times (3; ``--quick``: 2), the first one right after the server
answers its health check (nothing imported or started yet), and measures from ``page.goto`` to:

- usable: the chat box enabled and the model caption drawn (the person can read the page and type);
- complete: the whole page drawn, side panel included (its last button, the "Download everything" link);

and, in one more browser context, a reload once the page was shown (the front end's files then come from the
browser's cache, as for a person coming back). The visits are then measured again while a second Chromium shows
the app (a person's own browser beside the one measured).

For scale, the same is measured on a bare Streamlit page (a chat box, a caption and one sidebar button) served the
same way: what Streamlit's own front end costs on this machine, which no change to the app can go below.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    Row,
    free_port,
    progress,
    run_main,
    stop_server,
    streamlit_server,
    wait_until_healthy,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

VISITS, QUICK_VISITS = 4, 2
PAUSE_S = 3.0  # between visits: a person does not open a new conversation every second
TYPING_S = 3.0  # a first message typed by a person, not pasted at once
USABLE_GOAL_S = 1.5
FIRST_RUN_GOAL_S = 0.3
TIMEOUT_MS = 60_000
USABLE = """() => {
  const box = document.querySelector('[data-testid=stChatInputTextArea]');
  const caption = [...document.querySelectorAll('[data-testid=stCaptionContainer]')]
    .some((el) => el.textContent.startsWith('Model:'));
  return !!box && !box.disabled && caption;
}"""
COMPLETE = """() => [...document.querySelectorAll('[data-testid=stSidebar] a, [data-testid=stSidebar] button')]
  .some((el) => el.textContent.includes('Download everything'))
  || (document.querySelector('[data-testid=stSidebar]')?.textContent || '').includes('No files yet')"""
"""The side panel's last part: the export links, or (an empty conversation offers none) the empty file list."""
BARE_PAGE = """import streamlit as st
st.chat_input("Ask")
st.caption("Model: none")
with st.sidebar:
    st.link_button("Download everything", "/download/x")
"""


def visit(browser: Browser, url: str) -> tuple[float, float]:
    """Open the app in a new browser context: seconds to usable and to complete."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_function(USABLE, polling="raf", timeout=TIMEOUT_MS)
        usable = time.perf_counter() - started
        page.wait_for_function(COMPLETE, polling="raf", timeout=TIMEOUT_MS)
        return usable, time.perf_counter() - started
    finally:
        context.close()


@contextmanager
def _shown(browser: Browser, url: str) -> Iterator[Page]:
    """The app open in a new browser context, once usable."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(url, wait_until="commit")
        page.wait_for_function(USABLE, polling="raf", timeout=TIMEOUT_MS)
        yield page
    finally:
        context.close()


def first_run(browser: Browser, url: str, typing_s: float = 0.0) -> float:
    """Open a new conversation and send ``print(1)`` as its first message: seconds from Enter to the printed 1.

    ``typing_s``: seconds between the page becoming usable and Enter (0: at once, faster than anyone types).
    """
    with _shown(browser, url) as page:
        time.sleep(typing_s)
        box = page.locator("[data-testid=stChatInputTextArea]")
        box.fill("```python\nprint(1)\n```")
        started = time.perf_counter()
        box.press("Enter")
        printed = page.locator("[data-testid=stChatMessage] [data-testid=stCode]").get_by_text("1", exact=True)
        printed.first.wait_for(timeout=TIMEOUT_MS)
        return time.perf_counter() - started


def reload(browser: Browser, url: str) -> float:
    """Open the app, then reload it in the same browser context (its front end cached): seconds to usable."""
    with _shown(browser, url) as page:
        time.sleep(PAUSE_S)
        started = time.perf_counter()
        page.reload(wait_until="commit")
        page.wait_for_function(USABLE, polling="raf", timeout=TIMEOUT_MS)
        return time.perf_counter() - started


def measure(
    url: str, visits: int, *, beside: bool = False, run_code: bool = True
) -> tuple[list[tuple[float, float]], float, tuple[float, float]]:
    """The visits (the first one on a server that has served nobody yet), a reload with a warm cache, and
    ``print(1)`` as the first message of a new conversation (``run_code``; a bare page has no chat).

    With ``beside``, a second Chromium shows the app the whole time (a person's own browser next to the one measured).
    """
    from playwright.sync_api import sync_playwright  # a test dependency: without it only this benchmark fails

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        other = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS) if beside else None
        try:
            if other is not None:
                shown = other.new_page(viewport={"width": 1400, "height": 1000})
                shown.goto(url, wait_until="commit")
                shown.wait_for_function(USABLE, polling="raf", timeout=TIMEOUT_MS)
            samples = []
            for number in range(visits):
                samples.append(visit(browser, url))
                progress(f"  visit {number + 1}: usable {samples[-1][0]:.2f} s, complete {samples[-1][1]:.2f} s")
                time.sleep(PAUSE_S)
            reloaded = reload(browser, url)
            time.sleep(PAUSE_S)
            if not run_code:
                return samples, reloaded, (float("nan"), float("nan"))
            at_once = first_run(browser, url)
            time.sleep(PAUSE_S)
            return samples, reloaded, (at_once, first_run(browser, url, TYPING_S))
        finally:
            browser.close()
            if other is not None:
                other.close()


@contextmanager
def bare_server(tmp: Path) -> Iterator[str]:
    """A bare Streamlit page served like the app (same flags), for scale."""
    script = tmp / "bare_page.py"
    script.write_text(BARE_PAGE)
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    command += ["--server.fileWatcherType", "none"]
    server = subprocess.Popen(command, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, server)
        yield url
    finally:
        stop_server(server)


def bench_first_load(tmp: Path, quick: bool = False) -> list[Row]:
    """Start the app as a newcomer does and time its first page loads in Chromium (and a bare page's, for scale)."""
    env = dict(os.environ, INTERPRETER_MODEL_PROVIDER="none", INTERPRETER_DATA_DIR=str(tmp / "first-load-data"))
    env.pop("INTERPRETER_KERNEL_POOL_SIZE", None)  # the default pool, as a newcomer has it
    visits = QUICK_VISITS if quick else VISITS
    with streamlit_server(env, tmp / "first-load-server.log") as (url, _):
        samples, reloaded, printed = measure(url, visits)
        progress("  with another Chromium showing the app ...")
        shared, _, printed_beside = measure(url, visits, beside=True)
    progress("  a bare Streamlit page, for scale ...")
    with bare_server(tmp) as url:
        bare, bare_reloaded, _ = measure(url, visits, run_code=False)
    (first_usable, first_complete), later = samples[0], samples[1:]
    later_usable = statistics.median(s[0] for s in later)
    bare_later = statistics.median(s[0] for s in bare[1:])
    detail = {"usable_s": [s[0] for s in samples], "complete_s": [s[1] for s in samples]}
    return [
        Row("first load: first visit after start, to a usable chat", first_usable, "s", goal=USABLE_GOAL_S,
            extra=f"whole page {first_complete:.2f} s; a bare Streamlit page {bare[0][0]:.2f} s", detail=detail),
        Row("first load: later visits (new conversation), to a usable chat (median)", later_usable, "s",
            goal=USABLE_GOAL_S, extra=f"whole page {statistics.median(s[1] for s in later):.2f} s; "
            f"a bare Streamlit page {bare_later:.2f} s", detail={"bare_usable_s": [s[0] for s in bare]}),
        Row("first load: a reload in the same browser (front end cached), to a usable chat", reloaded, "s",
            goal=USABLE_GOAL_S, extra=f"a bare Streamlit page {bare_reloaded:.2f} s"),
        Row("first load: new conversations while another Chromium shows the app, to a usable chat (median)",
            statistics.median(s[0] for s in shared), "s", goal=USABLE_GOAL_S,
            extra=f"whole page {statistics.median(s[1] for s in shared):.2f} s",
            detail={"usable_s": [s[0] for s in shared]}),
        Row("first load: print(1) as the first message of a new conversation, Enter to the printed 1", printed[1], "s",
            goal=FIRST_RUN_GOAL_S, extra=f"Enter {TYPING_S:g} s after the page is usable; at once: {printed[0]:.2f} s; "
            f"while another Chromium shows the app: {printed_beside[1]:.2f} s (at once {printed_beside[0]:.2f} s)"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run this benchmark alone (``--quick``, ``--json``): the command line shared by the benchmark scripts."""
    return run_main([bench_first_load], "first_load", argv)


if __name__ == "__main__":
    sys.exit(main())
