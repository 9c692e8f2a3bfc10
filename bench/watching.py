"""What watching costs: the server's CPU while one Chromium tab shows the app, during a turn and at rest.

Run from the repository root (about a minute on 2 cores; ``.venv/bin/python -m bench`` runs it with the others):

    .venv/bin/python -m bench.watching [--json bench/watching.json] [--quick]

A real ``streamlit run app.py`` answers with the OpenAI-compatible provider, pointed at a local server speaking
OpenAI's streaming protocol (``tests/wire/openai_chat.py``) that writes a long answer at 30 tokens a second, as
a small local model does. Headless Chromium (Debian's, through Playwright) shows one conversation while the
benchmark reads the CPU time (user + system) of the Streamlit process alone, not of its kernels:

- idle: the page open after a step ran (its sandbox may serve an app now), nothing running, once it settled
  (``IDLE_SETTLE_S``);
- streaming turn: while the model's answer streams into the page, and again 30 s later (is it dearer as it grows?);
- printing step: while a step runs that prints a line every second;
- ``print(1)`` step: the server's CPU per direct-run step, over several steps sent one after another (Enter to
  the printed 1), the page drawing each.

Each window lasts 10 s (``--quick``: 5 s); CPU is given as a share of one core.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from bench.common import CHROMIUM, CHROMIUM_FLAGS, Row, progress, run_main, streamlit_server
from tests.wire.openai_chat import Reply, chat_completions_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

WINDOW_S, QUICK_WINDOW_S = 10.0, 5.0
SETTLE_S = 3.0
IDLE_SETTLE_S = 12.0  # after a step: the page's first idle ticks (the first loads the code of tables) are over
TOKENS_PER_SECOND = 30
PARAGRAPH_WORDS = 60
LATE_S = 30.0  # the second streaming window starts this long after the first (the answer lasts 60 s)
PRINT_STEPS, QUICK_PRINT_STEPS = 10, 5
TIMEOUT_MS = 60_000
WATCHED_TURN_GOAL, IDLE_GOAL, STEP_CPU_GOAL_S = 0.10, 0.01, 0.05
BROWSER_GOAL = 0.15  # a tab watching an answer leaves a local model on 2 cores at least 90% of its speed
CHAT_INPUT = "[data-testid=stChatInputTextArea]"
PRINTING = "```python\nimport time\nfor i in range(60):\n    print(f'tick {i}', flush=True)\n    time.sleep(1)\n```"


def _story(body: dict[str, object]) -> Reply:
    """A long answer, one word per chunk at the pace of a small local model, in paragraphs of 60 words."""
    words = [
        f"word{n}" + ("\n\n" if n % PARAGRAPH_WORDS == PARAGRAPH_WORDS - 1 else " ")
        for n in range(TOKENS_PER_SECOND * 60)
    ]
    return Reply(text=words, delay=1 / TOKENS_PER_SECOND)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def cpu_share(process: psutil.Process, seconds: float) -> float:
    """The share of one core ``process`` used over the next ``seconds``."""
    return cpu_shares([process], [], seconds)[0]


def _browser_processes() -> list[psutil.Process]:
    """Chromium's processes (Playwright starts them below this one)."""
    names = ("chrom", "headless")
    return [child for child in psutil.Process().children(recursive=True) if any(n in child.name() for n in names)]


def _group_cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            total += _cpu(process)
        except psutil.Error:  # a renderer that ended meanwhile
            continue
    return total


def cpu_shares(server: list[psutil.Process], browser: list[psutil.Process], seconds: float) -> tuple[float, float]:
    """The shares of one core the server's and the browser's processes used over the next ``seconds``."""
    before, started = (_group_cpu(server), _group_cpu(browser)), time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    return (_group_cpu(server) - before[0]) / elapsed, (_group_cpu(browser) - before[1]) / elapsed


def _send(page: Page, text: str) -> None:
    page.wait_for_function(
        f"() => {{ const box = document.querySelector('{CHAT_INPUT}'); return !!box && !box.disabled; }}",
        polling="raf",
        timeout=TIMEOUT_MS,
    )
    box = page.locator(CHAT_INPUT)
    box.fill(text)
    box.press("Enter")


def _new_conversation(page: Page, url: str) -> None:
    page.goto(url)
    page.locator(CHAT_INPUT).wait_for(timeout=TIMEOUT_MS)
    time.sleep(SETTLE_S)


def _print_steps(page: Page, process: psutil.Process, count: int) -> float:
    """Server CPU seconds per ``print(1)`` direct run, each waited for in the page."""
    before = _cpu(process)
    for number in range(count):
        _send(page, f"```python\nprint(1)  # probe-{number}\n```")
        marker = page.locator("[data-testid=stChatMessage]").filter(has_text=f"probe-{number}")
        marker.locator("[data-testid=stCode]").get_by_text("1", exact=True).first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_function(
            f"() => !!document.querySelector('{CHAT_INPUT}') && !document.querySelector('{CHAT_INPUT}').disabled",
            timeout=TIMEOUT_MS,
        )
    return (_cpu(process) - before) / count


def measure(url: str, pid: int, window: float, steps: int) -> dict[str, float]:
    """Open the app in Chromium and read the server's CPU in each situation."""
    from playwright.sync_api import sync_playwright  # a test dependency: without it only this benchmark fails

    process = psutil.Process(pid)
    found: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            _new_conversation(page, url)
            _send(page, "```python\nprint('ran ' + 'once')\n```")
            page.get_by_text("ran once").first.wait_for(timeout=TIMEOUT_MS)
            time.sleep(IDLE_SETTLE_S)
            progress("  idle page ...")
            found["idle"], found["idle_browser"] = cpu_shares([process], _browser_processes(), window)
            progress("  a streaming answer ...")
            _send(page, "Tell me a long story")
            page.get_by_text("word5", exact=False).first.wait_for(timeout=TIMEOUT_MS)
            found["streaming"], found["streaming_browser"] = cpu_shares([process], _browser_processes(), window)
            time.sleep(LATE_S - window)  # the same measure later in the answer: does watching cost more as it grows?
            found["streaming_late"], found["streaming_late_browser"] = cpu_shares(
                [process], _browser_processes(), window
            )
            page.get_by_role("button", name="Stop").click()
            _new_conversation(page, url)
            progress("  a step printing every second ...")
            _send(page, PRINTING)
            page.get_by_text("tick 1", exact=False).first.wait_for(timeout=TIMEOUT_MS)
            found["printing"] = cpu_share(process, window)
            page.get_by_role("button", name="Stop").click()
            _new_conversation(page, url)
            progress("  print(1) steps ...")
            found["print_step"] = _print_steps(page, process, steps)
        finally:
            browser.close()
    return found


@contextmanager
def _app(folder: Path) -> Iterator[tuple[str, int]]:
    with chat_completions_server(_story) as (base_url, _):
        env = {**os.environ, "INTERPRETER_DATA_DIR": str(folder / "data"), "INTERPRETER_MODEL_PROVIDER": "openai",
               "INTERPRETER_OPENAI_BASE_URL": base_url, "INTERPRETER_MODEL_ID": "wire-model"}  # fmt: skip
        with streamlit_server(env, folder / "server.log") as (url, server):
            yield url, server.pid


def bench_watching(folder: Path, quick: bool) -> list[Row]:
    """The server's CPU while a tab watches: a streaming turn, a printing step, an idle page; per print(1) step."""
    window = QUICK_WINDOW_S if quick else WINDOW_S
    steps = QUICK_PRINT_STEPS if quick else PRINT_STEPS
    progress("watching: the server's CPU while Chromium shows the app ...")
    with tempfile.TemporaryDirectory(dir=folder) as work, _app(Path(work)) as (url, pid):
        found = measure(url, pid, window, steps)
    share = f"of one core, over {window:g} s, the Streamlit process alone"
    return [
        Row("watching: a streaming answer (30 tokens/s), server CPU", 100 * found["streaming"], "%",
            100 * WATCHED_TURN_GOAL, extra=share),
        Row("watching: a streaming answer (30 tokens/s), Chromium CPU", 100 * found["streaming_browser"], "%",
            100 * BROWSER_GOAL, extra="of one core, all of Chromium's processes: what a local model loses"),
        Row("watching: the same answer 30 s later (900 words in), Chromium CPU",
            100 * found["streaming_late_browser"], "%", 100 * BROWSER_GOAL,
            extra=f"Chromium; the server {100 * found['streaming_late']:.1f} %, of one core"),
        Row("watching: a step printing every second, server CPU", 100 * found["printing"], "%",
            100 * WATCHED_TURN_GOAL, extra=share),
        Row("watching: an idle page, server CPU", 100 * found["idle"], "%", 100 * IDLE_GOAL,
            extra=f"{share}, after a step ran"),
        Row("watching: an idle page, Chromium CPU", 100 * found["idle_browser"], "%",
            extra="of one core, all of Chromium's processes"),
        Row("watching: server CPU per `print(1)` step", found["print_step"], "s", STEP_CPU_GOAL_S,
            extra=f"the Streamlit process alone, over {steps} steps"),
    ]  # fmt: skip


BENCHMARKS = (bench_watching,)

if __name__ == "__main__":
    sys.exit(run_main(BENCHMARKS, "watching"))
