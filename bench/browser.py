"""Browser benchmark: a real ``streamlit run app.py`` driven in Chromium, many direct runs in one conversation.

Run from the repository root (about a minute and a half on 2 cores while steps take half a second, longer when
they are slower; ``.venv/bin/python -m bench`` runs it with the others):

    .venv/bin/python -m bench.browser [--json bench/browser.json] [--quick] [--steps N]

The server runs without a model (``INTERPRETER_MODEL_PROVIDER=none``) on a free loopback port with a fresh data
folder and the file watcher off. Headless Chromium (Debian's, through Playwright) sends N messages (100;
``--quick``: 30) into one conversation, each one fenced python block that draws a matplotlib chart, prints
``step-<n>-done`` and shows a 5-row DataFrame. A step's latency runs from pressing Enter until that marker and a
chart image of the same step are visible (checked in the page on every animation frame; the marker's digits are
not in the code, so only the output matches; older steps may be collapsed or gone). Before each message the
benchmark waits until the chat box is enabled. Then it measures:

- reload: from ``page.reload()`` to the last step's marker visible (and to its chart, in the JSON);
- ``print(1)``: 10 round trips in a fresh conversation (new browser context), Enter to the ``1`` of that step;
- first chart: a fresh conversation in a new browser context, Enter to the chart visible;
- lost messages: a message with no trace on the page 15 s after Enter is counted and sent again (goal: none);
- server CPU per step: user + system seconds of the server and everything it started (kernels, sandboxes)
  over the N steps, divided by N; and the resident memory of that process tree after them.

Before the first message of a page the benchmark waits 2 s, the least a person needs to type one. A screenshot of
the long conversation after the reload is saved to ``test-artifacts/bench-browser.png``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from bench.common import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    ROOT,
    Row,
    percentile,
    progress,
    report,
    streamlit_server,
    summary_ms,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

STEPS, QUICK_STEPS = 100, 30
PRINT_RUNS = 10
TYPING_PAUSE_S = 2.0
TIMEOUT_MS = 120_000
LOST_AFTER_MS, SENDS = 15_000, 3  # a message with no trace on the page after 15 s is lost: send it again, twice at most
VIEWPORT = {"width": 1400, "height": 1000}
SCREENSHOT = ROOT / "test-artifacts" / "bench-browser.png"
RATIO_GOAL, RELOAD_GOAL_S, PRINT_GOAL_S, FIRST_CHART_GOAL_S = 1.3, 2.0, 0.3, 1.0
CHAT_INPUT = "[data-testid=stChatInputTextArea]"

CHART_CODE = """n = {n}
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pandas as pd
fig, ax = plt.subplots(figsize=(4, 2.5))
ax.plot(range(10), [(i * i + n) % 7 for i in range(10)])
ax.set_title(f'step {{n}}')
print(f'step-{{n}}-done')
pd.DataFrame({{'x': range(5), 'y': [i * n for i in range(5)]}})"""

# Helpers shared by the page checks: visible (rendered, not hidden) and a loaded chart image outside the sidebar.
_VISIBLE = """
const shown = (el) => el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})
  && el.getClientRects().length > 0;
const chart = (img) => img.complete && img.naturalWidth >= 100 && shown(img)
  && !img.closest('[data-testid=stSidebar]');
const texts = (marker) => document.evaluate(`//text()[contains(., "${marker}")]`,
  document.body || document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);  // no body yet: a reload
"""
# The marker is visible, and so is a chart image in the same step: an ancestor of the marker that holds no other
# step's marker holds the image.
STEP_READY = f"""(marker) => {{{_VISIBLE}
  const found = texts(marker);
  for (let i = found.snapshotLength - 1; i >= 0; i--) {{
    let el = found.snapshotItem(i).parentElement;
    if (!el || !shown(el)) continue;
    for (; el && el !== document.body; el = el.parentElement) {{
      if (new Set(el.textContent.match(/step-\\d+-done/g)).size > 1) break;
      if ([...el.getElementsByTagName('img')].some(chart)) return true;
    }}
  }}
  return false;
}}"""
MARKER_VISIBLE = f"""(marker) => {{{_VISIBLE}
  const found = texts(marker);
  for (let i = 0; i < found.snapshotLength; i++) {{
    const el = found.snapshotItem(i).parentElement;
    if (el && shown(el)) return true;
  }}
  return false;
}}"""
# A visible "1" outside any code block, in the step whose code holds ``tag`` (and no other step's tag).
PRINT_READY = f"""(tag) => {{{_VISIBLE}
  const ones = document.evaluate('//*[not(*) and normalize-space(.)="1"]', document.body || document, null,
    XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
  for (let i = ones.snapshotLength - 1; i >= 0; i--) {{
    let el = ones.snapshotItem(i);
    if (!shown(el) || el.closest('[data-testid=stSidebar]')) continue;
    const block = el.closest('pre, code');
    if (block && block.textContent.includes('probe-')) continue;
    for (; el && el !== document.body; el = el.parentElement) {{
      const tags = new Set(el.textContent.match(/probe-\\d+/g));
      if (tags.size > 1) break;
      if (tags.has(tag)) return true;
    }}
  }}
  return false;
}}"""
INPUT_ENABLED = f"() => {{ const box = document.querySelector('{CHAT_INPUT}'); return !!box && !box.disabled; }}"
TO_BOTTOM = """() => {
  for (const el of document.querySelectorAll('body *')) {
    if (el.scrollHeight > el.clientHeight + 1 && !el.closest('[data-testid=stSidebar]')) el.scrollTop = el.scrollHeight;
  }
  window.scrollTo(0, document.body.scrollHeight);
}"""


@dataclass
class Measurements:
    """Everything measured, in seconds (memory in bytes), and the messages that were lost and sent again."""

    steps: list[float] = field(default_factory=list)
    reload_marker: float = float("nan")
    reload_chart: float = float("nan")
    prints: list[float] = field(default_factory=list)
    first_chart: float = float("nan")
    cpu: float = float("nan")
    memory: dict[str, float] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """A message to send, the page check that says its step is done, and text that shows the message arrived."""

    name: str
    message: str
    ready: str
    arrived: re.Pattern[str]


def chart_step(number: int) -> Step:
    """Step ``number``: one fenced python block (chart, marker line, 5-row DataFrame), done at marker and chart."""
    message = "```python\n" + CHART_CODE.format(n=number) + "\n```"
    return Step(f"step-{number}-done", message, STEP_READY, re.compile(rf"\bn = {number}\s+import"))


def print_step(number: int) -> Step:
    """A ``print(1)`` message made unique by a comment, done when its ``1`` shows."""
    message = f"```python\nprint(1)  # probe-{number}\n```"
    return Step(f"probe-{number}", message, PRINT_READY, re.compile(rf"probe-{number}\b"))


def until(page: Page, script: str, arg: Any = None, timeout_ms: float = TIMEOUT_MS) -> None:
    """Wait until ``script`` returns true in the page, checked on every animation frame."""
    page.wait_for_function(script, arg=arg, polling="raf", timeout=timeout_ms)


def send(page: Page, text: str) -> tuple[float, bool]:
    """Type a message once the chat box is enabled and press Enter: when, and whether the box held it just before."""
    until(page, INPUT_ENABLED)
    box = page.locator(CHAT_INPUT)
    box.fill(text)
    held = box.input_value() == text
    started = time.perf_counter()
    box.press("Enter")
    return started, held


def run_step(page: Page, step: Step, found: Measurements) -> float:
    """Send a step and wait until it is done: the seconds from Enter.

    A message with no trace on the page ``LOST_AFTER_MS`` after Enter counts as lost and is sent again (the
    latency is then that of the last sending); a step whose message arrived gets ``TIMEOUT_MS``.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for _ in range(SENDS):
        started, held = send(page, step.message)
        try:
            until(page, step.ready, step.name, LOST_AFTER_MS)
        except PlaywrightTimeoutError:
            if page.get_by_text(step.arrived).count() == 0:
                lost(page, step, held, found)
                continue
            try:
                until(page, step.ready, step.name)
            except PlaywrightTimeoutError as error:
                raise RuntimeError(f"{step.name}: not done {TIMEOUT_MS / 1000:.0f} s after Enter") from error
        return time.perf_counter() - started
    raise RuntimeError(f"{step.name}: sent {SENDS} times, the message never reached the page")


def lost(page: Page, step: Step, held: bool, found: Measurements) -> None:
    """Count a lost message, say so and keep a screenshot (``test-artifacts/bench-browser-lost-<step>.png``)."""
    found.lost.append(f"{step.name} (the box held it at Enter: {'yes' if held else 'no'})")
    progress(f"  {step.name}: no trace of the message on the page {LOST_AFTER_MS / 1000:.0f} s after Enter")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.evaluate(TO_BOTTOM)
    page.screenshot(path=str(SCREENSHOT.with_name(f"bench-browser-lost-{step.name}.png")))


def open_page(browser: Browser, url: str) -> Page:
    """A new browser context on the app (a fresh conversation), ready to type into after the typing pause."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    until(page, INPUT_ENABLED)
    time.sleep(TYPING_PAUSE_S)
    return page


def process_tree(pid: int) -> list[psutil.Process]:
    server = psutil.Process(pid)
    return [server, *server.children(recursive=True)]


def cpu_seconds(pid: int) -> float:
    """User + system seconds of the server and its descendants (and of their finished children)."""
    total = 0.0
    for process in process_tree(pid):
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def memory(pid: int) -> dict[str, float]:
    """Resident memory of the server process and of its whole process tree (shared pages counted per process)."""
    sizes = []
    for process in process_tree(pid):
        try:
            sizes.append(process.memory_info().rss)
        except psutil.Error:
            continue
    return {"server_rss": float(sizes[0]), "tree_rss": float(sum(sizes)), "processes": float(len(sizes))}


def long_conversation(browser: Browser, url: str, pid: int, count: int, found: Measurements) -> None:
    """``count`` chart steps in one conversation, then a reload and the screenshot."""
    page = open_page(browser, url)
    before = cpu_seconds(pid)
    for number in range(1, count + 1):
        found.steps.append(run_step(page, chart_step(number), found))
        if number % 10 == 0 or number == count:
            progress(f"  step {number}: {found.steps[-1]:.2f} s")
    found.cpu = (cpu_seconds(pid) - before) / count
    found.memory = memory(pid)
    marker = f"step-{count}-done"
    started = time.perf_counter()
    page.reload(wait_until="commit")
    until(page, MARKER_VISIBLE, marker)
    found.reload_marker = time.perf_counter() - started
    until(page, STEP_READY, marker)
    found.reload_chart = time.perf_counter() - started
    screenshot(page)
    page.context.close()


def screenshot(page: Page) -> None:
    """The page scrolled to its end once it has settled, saved as ``test-artifacts/bench-browser.png``."""
    time.sleep(1)
    page.evaluate(TO_BOTTOM)
    time.sleep(0.5)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))


def print_round_trips(browser: Browser, url: str, runs: int, found: Measurements) -> list[float]:
    """Seconds from Enter to the ``1`` of each ``print(1)`` step, in a fresh conversation."""
    page = open_page(browser, url)
    samples = [run_step(page, print_step(number), found) for number in range(1, runs + 1)]
    page.context.close()
    return samples


def first_chart(browser: Browser, url: str, found: Measurements) -> float:
    """Seconds from Enter to the chart of the first step of a fresh conversation."""
    page = open_page(browser, url)
    seconds = run_step(page, chart_step(0), found)
    page.context.close()
    return seconds


def failure_screenshots(browser: Browser) -> None:
    """Screenshots of the pages still open, next to the benchmark's own (``bench-browser-failed-<n>.png``)."""
    SCREENSHOT.parent.mkdir(exist_ok=True)
    pages = [page for context in browser.contexts for page in context.pages]
    for number, page in enumerate(pages):
        path = SCREENSHOT.with_name(f"bench-browser-failed-{number}.png")
        page.screenshot(path=str(path))
        progress(f"  screenshot of the failed page: {path}")


def measure(url: str, pid: int, count: int) -> Measurements:
    """Drive the app in headless Chromium: the long conversation, then the fresh conversations."""
    from playwright.sync_api import sync_playwright  # a test dependency: without it only this benchmark fails

    found = Measurements()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            long_conversation(browser, url, pid, count, found)
            progress("  first chart in a fresh conversation ...")
            found.first_chart = first_chart(browser, url, found)
            progress("  print(1) round trips in a fresh conversation ...")
            found.prints = print_round_trips(browser, url, PRINT_RUNS, found)
        except Exception:
            failure_screenshots(browser)
            raise
        finally:
            browser.close()
    return found


def step_rows(found: Measurements) -> list[Row]:
    """The step-latency rows: medians early and at the end, and their ratio."""
    count = len(found.steps)
    early, late = statistics.median(found.steps[2:7]), statistics.median(found.steps[-5:])
    last = f"steps {count - 4}-{count}"
    detail = {"steps": count, "samples_s": found.steps, "summary": summary_ms(found.steps)}
    return [
        Row("browser: step latency, steps 3-7 (median)", early, "s", extra=f"chart + table + print, {count} steps"),
        Row(f"browser: step latency, {last} (median)", late, "s", extra=f"max {max(found.steps):.2f} s"),
        Row(f"browser: step latency growth, {last} / steps 3-7", late / early, "x", goal=RATIO_GOAL,
            extra=f"{late:.2f} s / {early:.2f} s", detail=detail),
    ]  # fmt: skip


def other_rows(found: Measurements) -> list[Row]:
    """Reload, ``print(1)``, first chart, CPU and memory."""
    count = len(found.steps)
    p50, p95 = percentile(found.prints, 50), percentile(found.prints, 95)
    tree_mb, server_mb = found.memory["tree_rss"] / 2**20, found.memory["server_rss"] / 2**20
    return [
        Row(f"browser: reload to the last step visible ({count} steps)", found.reload_marker, "s",
            goal=RELOAD_GOAL_S, extra=f"its chart {found.reload_chart:.2f} s",
            detail={"marker_s": found.reload_marker, "chart_s": found.reload_chart}),
        Row("browser: print(1) round trip (p50)", p50, "s", goal=PRINT_GOAL_S,
            extra=f"p95 {p95:.3f} s, first {found.prints[0]:.3f} s, {len(found.prints)} runs",
            detail={"samples_s": found.prints}),
        Row("browser: first chart in a fresh conversation", found.first_chart, "s", goal=FIRST_CHART_GOAL_S),
        Row("browser: server CPU per step (user + sys, server and its processes)", found.cpu, "s",
            extra=f"over {count} steps"),
        Row("browser: messages lost (no trace on the page 15 s after Enter; sent again)", len(found.lost),
            "message(s)", goal=0, extra="; ".join(found.lost), detail={"lost": found.lost}),
        Row(f"browser: server memory after {count} steps (RSS)", tree_mb, "MB",
            extra=f"Streamlit process {server_mb:.0f} MB, {found.memory['processes']:.0f} processes",
            detail=found.memory),
    ]  # fmt: skip


def bench_browser(tmp: Path, quick: bool = False, steps: int | None = None) -> list[Row]:
    """Start the app without a model in a fresh data folder and measure it in the browser."""
    count = steps or (QUICK_STEPS if quick else STEPS)
    env = dict(os.environ, INTERPRETER_MODEL_PROVIDER="none", INTERPRETER_DATA_DIR=str(tmp / "browser-data"))
    log = tmp / "browser-server.log"
    with streamlit_server(env, log) as (url, server):
        try:
            found = measure(url, server.pid, count)
        except Exception:
            progress("the server's last output:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
            raise
    return step_rows(found) + other_rows(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "browser.json", help="JSON output")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps instead of {STEPS}")
    parser.add_argument("--steps", type=int, help="the number of steps (at least 7)")
    arguments = parser.parse_args(argv)
    if arguments.steps is not None and arguments.steps < 7:
        parser.error("--steps must be at least 7")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as folder:
        progress("bench_browser ...")
        rows = bench_browser(Path(folder), arguments.quick, arguments.steps)
    report(rows, json_path=arguments.json, run_time_s=time.monotonic() - started)
    print(f"(run time {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
