"""Chat-turn overhead: the app's engine (and the chat page) against the same Strands agent called directly.

Run from the repository root (``.venv/bin/python -m bench`` runs it with the others):

    .venv/bin/python -m bench.chat_turn [--json bench/chat_turn.json] [--quick]

Each turn replays the same script with the scripted model: one execute_code call, then a short answer. The
direct figure is ``Agent(model, tools)(prompt)`` on the same session; the engine figure adds what the app
does (background thread, transcript on disk, conversation title, UI events); the page figure is a whole
Streamlit AppTest run of the chat page for one message (that includes AppTest's own cost).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from strands import Agent
from streamlit.testing.v1 import AppTest

from bench.common import ROOT, Row, environment, run_main
from core.chat.conversations import ConversationStore
from core.chat.engine import ChatEngine
from core.config import Settings
from core.models.scripted import ScriptedModel
from core.session import open_session

STEPS: list[dict[str, Any]] = [{"tool": "execute_code", "input": {"code": "x = 1"}}, {"text": "Done: x is set."}]
GOAL_MS = 50.0


def measure_engine(settings: Settings, turns: int) -> tuple[list[float], list[float]]:
    """Seconds per turn: the agent called directly, and through the app's ChatEngine."""
    store = ConversationStore(settings)
    session = open_session(store.create().id, settings)
    direct, engine_times = [], []
    try:
        session.sandbox.execute("warm = 1")
        for _ in range(turns):
            agent = Agent(model=ScriptedModel(STEPS), tools=list[Any](session.tools), callback_handler=None)
            started = time.perf_counter()
            agent("go")
            direct.append(time.perf_counter() - started)
        for _ in range(turns):
            engine = ChatEngine(session, ScriptedModel(STEPS), "scripted model", store)
            started = time.perf_counter()
            turn = engine.start_turn("go")
            version = -1
            while not turn.wait(version, 5).done:
                version = turn.version
            engine_times.append(time.perf_counter() - started)
            engine.close()
    finally:
        session.close()
    return direct, engine_times


def measure_page(folder: Path, messages: int) -> list[float]:
    """Seconds of chat-page runs that answer a message (AppTest), the first one left out."""
    script = folder / "steps.json"
    script.write_text(json.dumps(STEPS * (messages + 2)))
    variables = {
        "INTERPRETER_DATA_DIR": str(folder / "page-data"),
        "INTERPRETER_MODEL_PROVIDER": "scripted",
        "INTERPRETER_SCRIPTED_MODEL_FILE": str(script),
        "INTERPRETER_KERNEL_POOL_SIZE": "0",
    }
    with environment(variables):
        app = AppTest.from_file(str(ROOT / "pages" / "chat.py"), default_timeout=60)
        samples = []
        try:
            app.run()
            for number in range(messages + 1):
                if app.exception:
                    raise RuntimeError(f"The chat page failed: {app.exception[0].message}")
                started = time.perf_counter()
                app.chat_input[0].set_value(f"go {number}").run()
                samples.append(time.perf_counter() - started)
            if app.exception:
                raise RuntimeError(f"The chat page failed: {app.exception[0].message}")
        finally:
            if "engines" in app.session_state:
                for engine in app.session_state["engines"].engines.values():
                    engine.close()
                    engine.session.close()
    return samples[1:]


def bench_chat_turn(tmp: Path, quick: bool = False) -> list[Row]:
    turns, messages = (10, 3) if quick else (30, 5)
    direct, engine = measure_engine(Settings(data_dir=tmp / "chat-turn", kernel_pool_size=0), turns)
    page = measure_page(tmp, messages)
    direct_ms, engine_ms, page_ms = (statistics.median(s) * 1000 for s in (direct, engine, page))
    return [
        Row("app overhead per chat turn (engine - agent called directly)", engine_ms - direct_ms, "ms",
            goal=GOAL_MS, extra=f"engine {engine_ms:.1f} ms, direct {direct_ms:.1f} ms, medians of {turns}; "
            f"chat page run for one message (AppTest) {page_ms:.0f} ms",
            detail={"direct_ms": direct_ms, "engine_ms": engine_ms, "page_ms": page_ms, "turns": turns,
                    "direct_samples_s": direct, "engine_samples_s": engine, "page_samples_s": page}),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run this benchmark alone (``--quick``, ``--json``): the command line shared by the benchmark scripts."""
    return run_main([bench_chat_turn], "chat_turn", argv)


if __name__ == "__main__":
    sys.exit(main())
