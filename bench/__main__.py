"""All benchmarks in one run: one Markdown table (benchmark | result | goal | met?) and one JSON file.

Run from the repository root (a few minutes on 2 cores, of which the browser part takes about a minute and a half
while its steps take half a second; ``--quick``: fewer repetitions):

    .venv/bin/python -m bench [--json bench/results.json] [--quick]

Prints the machine and the table on stdout, progress on stderr, and writes every figure (with samples and
details) to the JSON file. Each part also runs on its own: ``python -m bench.engine``, ``bench.sessions``,
``bench.side_panel``, ``bench.chat_turn``, ``bench.browser`` (a real ``streamlit run`` driven in Chromium),
``bench.first_load`` (the first page loads, in Chromium), ``bench.egress`` (requests through the egress allow-list's
proxy), ``bench.preview_proxy`` (a live preview's first byte through its proxy), ``bench.mcp`` (MCP tool
calls against direct calls), ``bench.r_kernel`` (R's kernel start and first ggplot), ``bench.watching`` (the
server's CPU while a tab watches), ``bench.transfers`` (server memory through large uploads and downloads, in Chromium).
Everything started (sessions, kernels, the kernel pool, the browser benchmark's server and browser, temporary
folders) is stopped and removed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import (
    browser,
    chat_turn,
    egress,
    engine,
    file_door,
    first_load,
    mcp,
    preview_proxy,
    previews,
    r_kernel,
    sessions,
    side_panel,
    transfers,
    variables,
    watching,
)
from bench.common import ROOT, Row, machine, progress, report
from core.sandbox.local.pool import close_pools

BENCHMARKS = (
    *engine.BENCHMARKS,
    *sessions.BENCHMARKS,
    file_door.bench_file_door,
    side_panel.bench_side_panel,
    chat_turn.bench_chat_turn,
    browser.bench_browser,
    first_load.bench_first_load,
    watching.bench_watching,
    variables.bench_variables,
    previews.bench_previews,
    preview_proxy.bench_preview_proxy,
    egress.bench_egress,
    mcp.bench_mcp,
    r_kernel.bench_r_kernel,
    transfers.bench_transfers,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json", help="JSON output")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    info = machine()
    rows: list[Row] = []
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as folder:
            for bench in BENCHMARKS:
                progress(f"{bench.__name__} ...")
                began = time.monotonic()
                try:
                    rows += bench(Path(folder), args.quick)
                except Exception as exc:  # one broken benchmark must not hide the others
                    traceback.print_exc()
                    rows.append(Row.failure(bench.__name__, exc))
                timings[bench.__name__] = time.monotonic() - began
    finally:
        close_pools()
    total = time.monotonic() - started
    progress(f"done in {total:.0f} s")
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    report(rows, info, args.json, quick=args.quick, run_time_s=total, part_times_s=timings, load_average_at_end=load)
    print(f"(run time {total:.0f} s{', --quick' if args.quick else ''})")
    return 1 if any(row.failed for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
