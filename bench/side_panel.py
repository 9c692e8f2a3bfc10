"""Side panel benchmark: how long the panel takes to render with 1,000 workspace and 1,000 sandbox files.

Run from the repository root (about ten seconds; ``.venv/bin/python -m bench`` runs it with the others):

    .venv/bin/python -m bench.side_panel [--json bench/side_panel.json] [--runs 5]

It fills a fresh session (in a temporary data folder, no kernel) with 1,000 workspace files (950 small text and
CSV files, 50 small PNG charts) and 1,000 sandbox files (half at the root, half in 10 folders), then renders
``components.side_panel.render_side_panel`` in Streamlit's ``AppTest`` and takes the median of ``--runs``
calls of ``at.run()`` after one warm-up run. ``at.run()`` also pays for AppTest itself (running the script
through a script runner, building the element tree), so the same is measured for an empty script; the
difference is the panel's own cost. The goal (<= 0.5 s) applies to the full ``at.run()`` time.

Prints the machine and a Markdown table (benchmark | result | goal | met?) and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import cast

from streamlit.testing.v1 import AppTest

from bench.common import ROOT, Row, environment, progress, report
from core.config import Settings
from core.sandbox.local.sandbox import LocalSandbox
from core.session import open_session
from core.workspace.local import LocalWorkspace

GOAL_SECONDS = 0.5
WORKSPACE_TEXT, WORKSPACE_PNG = 950, 50
SANDBOX_FILES, SANDBOX_FOLDERS = 1000, 10

PANEL_SCRIPT = """
import os
from pathlib import Path

import streamlit as st

from components.side_panel import render_side_panel
from core.config import Settings
from core.session import open_session

if "bench_session" not in st.session_state:
    settings = Settings(data_dir=Path(os.environ["SIDE_PANEL_BENCH_DATA"]), kernel_pool_size=0)
    st.session_state["bench_session"] = open_session(os.environ["SIDE_PANEL_BENCH_CONVERSATION"], settings)
with st.sidebar:
    render_side_panel(st.session_state["bench_session"])
"""
EMPTY_SCRIPT = """
import streamlit as st
"""


def small_png() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(2, 1.5), dpi=50)
    axes.plot([1, 3, 2, 4])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def fill(data_dir: Path, conversation_id: str) -> None:
    """1,000 workspace files (950 text/CSV, 50 PNG) and 1,000 sandbox files (half in folders)."""
    session = open_session(conversation_id, Settings(data_dir=data_dir, kernel_pool_size=0))
    try:
        png = small_png()
        now = time.time()
        for index in range(WORKSPACE_TEXT):
            if index % 2:
                name, data = f"table-{index:04d}.csv", f"x,y\n{index},{index * 2}\n{index + 1},{index * 3}\n".encode()
            else:
                name, data = f"notes-{index:04d}.txt", f"note {index}\n".encode() * 20
            session.workspace.write(name, data)
        for index in range(WORKSPACE_PNG):
            session.workspace.write(f"chart-{index:02d}.png", png)
        workspace_root = cast(LocalWorkspace, session.workspace).root
        # Spread modification times so "newest first" mixes charts, tables and notes as a real session would.
        for position, info in enumerate(sorted(session.workspace.list(), key=lambda i: i.path)):
            stamp = now - (position * 7919 % 1000)
            os.utime(workspace_root / info.path, (stamp, stamp))
        root = cast(LocalSandbox, session.sandbox).root
        for index in range(SANDBOX_FILES):
            folder = root if index % 2 == 0 else root / f"folder-{index % SANDBOX_FOLDERS:02d}" / "sub"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"file-{index:04d}.txt").write_bytes(f"line {index}\n".encode() * 10)
    finally:
        session.close()


def script_file(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def time_runs(script: Path, runs: int) -> tuple[float, list[float]]:
    """Median seconds of ``runs`` calls of ``at.run()`` after one warm-up, and all samples."""
    at = AppTest.from_file(str(script), default_timeout=120)
    try:
        at.run()
        if at.exception:
            raise RuntimeError(f"{script.name} failed: {at.exception[0].message}")
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            at.run()
            samples.append(time.perf_counter() - started)
            if at.exception:
                raise RuntimeError(f"{script.name} failed: {at.exception[0].message}")
        return statistics.median(samples), samples
    finally:
        if "bench_session" in at.session_state:
            at.session_state["bench_session"].close()


def bench_side_panel(tmp: Path, quick: bool = False, runs: int | None = None) -> list[Row]:
    runs = runs or (3 if quick else 5)
    temp = Path(tempfile.mkdtemp(prefix="side-panel-bench-", dir=tmp))
    try:
        conversation_id = "bench-side-panel"
        started = time.perf_counter()
        fill(temp / "data", conversation_id)
        fill_seconds = time.perf_counter() - started
        variables = {"SIDE_PANEL_BENCH_DATA": str(temp / "data"), "SIDE_PANEL_BENCH_CONVERSATION": conversation_id}
        with environment(variables, cwd=ROOT):  # AppTest scripts import the project's packages
            empty, empty_samples = time_runs(script_file(temp, "empty.py", EMPTY_SCRIPT), runs)
            panel, panel_samples = time_runs(script_file(temp, "panel.py", PANEL_SCRIPT), runs)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    files = f"{WORKSPACE_TEXT + WORKSPACE_PNG:,} workspace + {SANDBOX_FILES:,} sandbox files"
    return [
        Row(f"side panel render, {files} (AppTest run)", panel, "s", goal=GOAL_SECONDS,
            extra=f"median of {runs}; AppTest's own cost (empty script) {empty:.3f} s",
            detail={"samples_s": panel_samples, "empty_script_s": empty, "empty_script_samples_s": empty_samples,
                    "panel_own_cost_s": panel - empty, "fill_s": fill_seconds}),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "side_panel.json")
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-side-panel-") as folder:
        progress("bench_side_panel ...")
        rows = bench_side_panel(Path(folder), runs=arguments.runs)
    report(rows, json_path=arguments.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
