"""Chat-turn overhead: the app's engine (and the chat page) against the same Strands agent called directly.

Run from the repository root:

    .venv/bin/python -m bench.chat_turn [--json bench/chat_turn.json]

Each turn replays the same script with the scripted model: one execute_code call, then a short answer. The
direct figure is ``Agent(model, tools)(prompt)`` on the same session; the engine figure adds what the app
does (background thread, transcript on disk, conversation title, UI events); the page figure is a whole
Streamlit AppTest run of the chat page for one message (that includes AppTest's own cost).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from strands import Agent  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from core.agent import ChatEngine  # noqa: E402
from core.config import Settings  # noqa: E402
from core.conversations import ConversationStore  # noqa: E402
from core.scripted_model import ScriptedModel  # noqa: E402
from core.session import open_session  # noqa: E402

STEPS = [{"tool": "execute_code", "input": {"code": "x = 1"}}, {"text": "Done: x is set."}]
TURNS = 30


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def measure_engine(settings: Settings) -> tuple[float, float]:
    """Median seconds per turn: the agent called directly, and through the app's ChatEngine."""
    store = ConversationStore(settings)
    session = open_session(store.create().id, settings)
    direct, engine_times = [], []
    try:
        session.sandbox.execute("warm = 1")
        for _ in range(TURNS):
            agent = Agent(model=ScriptedModel(STEPS), tools=list[Any](session.tools), callback_handler=None)
            started = time.perf_counter()
            agent("go")
            direct.append(time.perf_counter() - started)
        for _ in range(TURNS):
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
    return statistics.median(direct), statistics.median(engine_times)


def measure_page(folder: Path) -> float:
    """Median seconds of one chat-page run that answers a message (AppTest)."""
    script = folder / "steps.json"
    script.write_text(json.dumps(STEPS * 20))
    os.environ.update(
        INTERPRETER_DATA_DIR=str(folder / "page-data"),
        INTERPRETER_MODEL_PROVIDER="scripted",
        INTERPRETER_SCRIPTED_MODEL_FILE=str(script),
        INTERPRETER_KERNEL_POOL_SIZE="0",
    )
    app = AppTest.from_file(str(ROOT / "pages" / "chat.py"), default_timeout=60).run()
    samples = []
    for number in range(6):
        started = time.perf_counter()
        app.chat_input[0].set_value(f"go {number}").run()
        samples.append(time.perf_counter() - started)
    for engine in app.session_state["engines"].engines.values():
        engine.close()
        engine.session.close()
    return statistics.median(samples[1:])


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=str(ROOT / "bench" / "chat_turn.json"))
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        direct, engine = measure_engine(Settings(data_dir=folder / "data", kernel_pool_size=0))
        page = measure_page(folder)
    overhead = engine - direct
    rows = [
        ("chat turn, agent called directly", f"{_median_ms([direct])} ms", "-", "-"),
        ("chat turn through the app's engine", f"{_median_ms([engine])} ms", "-", "-"),
        ("app overhead per chat turn", f"{_median_ms([overhead])} ms", "<= 50 ms", "yes" if overhead <= 0.05 else "no"),
        ("chat page run for one message (AppTest)", f"{_median_ms([page])} ms", "-", "-"),
    ]
    print("| benchmark | result | goal | met? |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    Path(arguments.json).write_text(
        json.dumps({"direct_s": direct, "engine_s": engine, "overhead_s": overhead, "page_s": page}, indent=2)
    )


if __name__ == "__main__":
    main()
