"""A real language model: llama.cpp's ``llama-server`` with Gemma 3 270M (Q4_K_M), on this machine's CPU.

Run by ``./dev.sh test-real-model`` after its tests (it builds the server once and installs the GGUF), or alone:

    INTERPRETER_TEST_LLAMA_SERVER=... INTERPRETER_TEST_LLAMA_MODEL=... .venv/bin/python -m bench.real_model

Figures: time to first token of a streamed answer (the request to the first text chunk, as the ``openai`` SDK
sees it), prompt and decode speed as llama.cpp reports them (``timings`` of the last chunk), and one whole chat
turn of the app's engine with a tool call. Without the server and the model, one row says the part was skipped.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import Row, progress, run_main
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
    started, first, timings = time.monotonic(), 0.0, {}
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
    first_ms = statistics.median(first for first, _ in runs) * 1000
    decode = statistics.median(float(t.get("predicted_per_second", 0)) for _, t in runs)
    prefill = statistics.median(float(t.get("prompt_per_second", 0)) for _, t in runs)
    return [
        Row(f"{NAME}: time to first token", first_ms, "ms", extra=f"median of {len(runs)}, {len(PROMPT)}-char prompt"),
        Row(f"{NAME}: decode", decode, "tok/s", extra=f"prompt {prefill:.0f} tok/s"),
        Row(f"{NAME}: one chat turn", turn_s, "s", extra=f"{tool_calls} tool call(s), tool-call limit 4"),
    ]


if __name__ == "__main__":
    sys.exit(run_main([bench_real_model], "real_model"))
