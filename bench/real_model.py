"""A real language model: llama.cpp's ``llama-server`` with Gemma 3 270M (Q4_K_M), on this machine's CPU.

Run by ``./dev.sh test-real-model`` after its tests (it builds the server once and installs the GGUF), or alone:

    INTERPRETER_TEST_LLAMA_SERVER=... INTERPRETER_TEST_LLAMA_MODEL=... .venv/bin/python -m bench.real_model

Figures: time to first token of a streamed answer (the request to the first text chunk, as the ``openai`` SDK
sees it), prompt and decode speed as llama.cpp reports them (``timings`` of the last chunk), one whole chat
turn of the app's engine with a tool call, and the decode speed of a turn sent from the app in Chromium while the
tab watches it against the same turn with the tab closed right after sending (llama.cpp's ``/metrics``:
``tokens_predicted_total`` over ``tokens_predicted_seconds_total``; the app and the model share the 2 cores),
five of each, alternately: one turn's speed moves by a fifth from run to run, so the loss is the median of each
round's watched turn against its unwatched one, which drift between rounds does not move.
Without the server and the model, one row says the part was skipped.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import CHROMIUM, CHROMIUM_FLAGS, Row, progress, run_main, streamlit_server
from core.chat.conversations import ConversationStore
from core.chat.engine import ChatEngine
from core.config import Settings
from core.models import ModelChoice, build_model
from core.session import open_session
from tests.real_model.llama_server import NOT_INSTALLED, installed, llama_server

NAME = "real model (llama.cpp, Gemma 3 270M)"
PROMPT = "Write three sentences about the sea."


def _one_stream(client: Any) -> tuple[float, dict[str, Any]]:
    """Seconds to the first text chunk, and llama.cpp's timings of the whole answer."""
    started, first, timings = time.monotonic(), 0.0, dict[str, Any]()
    stream = client.chat.completions.create(
        model="gemma3-270m", messages=[{"role": "user", "content": PROMPT}], max_tokens=128, stream=True
    )
    for chunk in stream:
        if not first and chunk.choices and chunk.choices[0].delta.content:
            first = time.monotonic() - started
        timings = getattr(chunk, "timings", None) or (chunk.model_extra or {}).get("timings") or timings
    return first, timings


def _engine_turn(base_url: str, folder: Path) -> tuple[float, int]:
    """Seconds for one chat turn through the app's engine, and how many tool calls it made."""
    settings = Settings(data_dir=folder / "data", kernel_pool_size=0, max_tool_calls_per_turn=4)
    store = ConversationStore(settings)
    session = open_session(store.create().id, settings)
    choice = ModelChoice(provider="openai", base_url=base_url, model_id="gemma3-270m", max_tokens=96, temperature=0)
    engine = ChatEngine(session, build_model(choice), "gemma", store)
    try:
        started = time.monotonic()
        turn = engine.start_turn("What is 6 * 7? Use Python.")
        while not turn.wait(turn.version, 5).done:
            pass
        return time.monotonic() - started, sum(event.kind == "tool" for event in turn.snapshot().events)
    finally:
        engine.close()
        session.close()


STORY = "Write a long story about a lighthouse keeper. Do not use any tool."
SETTLE_S = 5.0
PAGE_SETTLE_S = 5.0
ROUNDS, QUICK_ROUNDS = 5, 1  # turns watched and unwatched, alternately: one turn's speed moves by a fifth


def _predicted(base_url: str) -> tuple[float, float]:
    """llama.cpp's totals: tokens predicted, and the seconds spent predicting them."""
    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return float(values["llamacpp:tokens_predicted_total"]), float(values["llamacpp:tokens_predicted_seconds_total"])


def _until_idle(base_url: str, before: tuple[float, float], timeout: float = 600) -> None:
    """Wait until the server predicted something after ``before``, then nothing new for ``SETTLE_S`` seconds.

    The model first reads the prompt (the system prompt and the tools' descriptions) for several seconds.
    """
    deadline = time.monotonic() + timeout
    while _predicted(base_url) == before:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the model predicted nothing within {timeout:g} s")
        time.sleep(0.5)
    last, since = _predicted(base_url), time.monotonic()
    while time.monotonic() - since < SETTLE_S:
        time.sleep(0.5)
        now = _predicted(base_url)
        if now != last:
            last, since = now, time.monotonic()


def _decode_from_the_page(base_url: str, folder: Path, watch: bool, run: int) -> float:
    """Tokens per second of one turn sent from the app in Chromium, the tab watching it or closed after sending.

    The page is left to settle first (the kernel pool starts its kernel when the app starts), as a person reads
    the page before typing.
    """
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "INTERPRETER_DATA_DIR": str(folder / f"data-{watch}-{run}"),
           "INTERPRETER_MODEL_PROVIDER": "openai", "INTERPRETER_OPENAI_BASE_URL": base_url,
           "INTERPRETER_MODEL_ID": "gemma3-270m", "INTERPRETER_MODEL_MAX_TOKENS": "512",
           "INTERPRETER_MODEL_TEMPERATURE": "0"}  # fmt: skip
    with streamlit_server(env, folder / "server.log") as (url, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        box = page.locator("[data-testid=stChatInputTextArea]")
        box.wait_for(timeout=60_000)
        time.sleep(PAGE_SETTLE_S)
        box.fill(STORY)
        before = _predicted(base_url)
        box.press("Enter")
        page.get_by_text(STORY, exact=True).first.wait_for(timeout=60_000)
        if not watch:
            page.close()
        _until_idle(base_url, before)
        after = _predicted(base_url)
        browser.close()
    return (after[0] - before[0]) / max(after[1] - before[1], 1e-9)


def bench_real_model(folder: Path, quick: bool) -> list[Row]:
    """Time to first token, prompt and decode tokens/s, one engine turn; a skipped row without the model."""
    found = installed()
    if found is None:
        return [Row(NAME, float("nan"), "", extra=f"skipped: {NOT_INSTALLED}", note="skipped")]
    from openai import OpenAI

    with llama_server(*found) as base_url:
        client = OpenAI(base_url=base_url, api_key="not-needed")
        _one_stream(client)  # warm-up
        runs = [_one_stream(client) for _ in range(2 if quick else 5)]
        progress("engine turn ...")
        turn_s, tool_calls = _engine_turn(base_url, folder)
        watched, unwatched = [], []
        for run in range(QUICK_ROUNDS if quick else ROUNDS):
            progress(f"round {run + 1}: a turn watched in Chromium, then one with the tab closed ...")
            watched.append(_decode_from_the_page(base_url, folder, watch=True, run=run))
            unwatched.append(_decode_from_the_page(base_url, folder, watch=False, run=run))
    first_ms = statistics.median(first for first, _ in runs) * 1000
    decode = statistics.median(float(t.get("predicted_per_second", 0)) for _, t in runs)
    prefill = statistics.median(float(t.get("prompt_per_second", 0)) for _, t in runs)
    return [
        Row(f"{NAME}: time to first token", first_ms, "ms", extra=f"median of {len(runs)}, {len(PROMPT)}-char prompt"),
        Row(f"{NAME}: decode", decode, "tok/s", extra=f"prompt {prefill:.0f} tok/s"),
        Row(f"{NAME}: one chat turn", turn_s, "s", extra=f"{tool_calls} tool call(s), tool-call limit 4"),
        Row(
            f"{NAME}: decode speed lost while a tab watches the turn",
            100 * (1 - statistics.median(w / u for w, u in zip(watched, unwatched, strict=True))),
            "%",
            10,
            extra=f"median of {len(watched)} rounds, each a watched turn against the next, unwatched one; "
            f"tok/s watched {', '.join(f'{w:.1f}' for w in watched)}, with the tab closed "
            f"{', '.join(f'{u:.1f}' for u in unwatched)}",
        ),
    ]


if __name__ == "__main__":
    sys.exit(run_main([bench_real_model], "real_model"))
