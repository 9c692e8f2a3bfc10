"""R benchmark: the R kernel's start in a new session's sandbox, the first ggplot, and a run's round trip.

Run from the repository root (about half a minute on 2 cores; ``.venv/bin/python -m bench`` runs it with the
others):

    .venv/bin/python -m bench.r_kernel [--json bench/r_kernel.json] [--quick]

The kernel pool starts Python kernels only, so R's kernel starts at a session's first R run (IRkernel in
bubblewrap, then the prelude): that run is timed whole, through the execute_code tool as the agent calls it.
Then the first ggplot in that kernel (``library(ggplot2)`` and drawing it) and the median round trip of a
one-line run. Where R is not installed the rows say so. Everything started is stopped and its folders removed.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from bench.common import Row, run_code, run_main, summary_ms, timed
from core.config import Settings
from core.sandbox.local.r_install import r_missing
from core.session import open_session

GGPLOT = "library(ggplot2)\nggplot(mtcars, aes(wt, mpg)) + geom_point()"
ROUND_TRIPS = 20


def one_round(settings: Settings, name: str) -> tuple[float, float, list[float]]:
    """A new session: its first R run, its first ggplot, then ``ROUND_TRIPS`` one-line runs (seconds)."""
    session = open_session(name, settings)
    try:
        run_code(session, "print(1)")  # the Python kernel is up, as in a pooled session: R's start is alone
        start, _ = timed(lambda: run_code(session, "cat(40 + 2)", language="r", expect="42"))
        chart, text = timed(lambda: run_code(session, GGPLOT, language="r"))
        if "image" not in text:
            raise RuntimeError(f"the ggplot was not captured: {text}")
        trips = [timed(lambda: run_code(session, "cat(1)", language="r"))[0] for _ in range(ROUND_TRIPS)]
        return start, chart, trips
    finally:
        session.close()


def bench_r_kernel(tmp: Path, quick: bool = False) -> list[Row]:
    if r_missing():
        raise RuntimeError(r_missing())
    runs = 1 if quick else 3
    settings = Settings(data_dir=tmp / "r-kernel", kernel_pool_size=0)
    rounds = [one_round(settings, f"bench-r-{i}") for i in range(runs)]
    start = statistics.median(r[0] for r in rounds)
    chart = statistics.median(r[1] for r in rounds)
    trips = [trip for r in rounds for trip in r[2]]
    detail = {"start_s": [r[0] for r in rounds], "first_ggplot_s": [r[1] for r in rounds], **summary_ms(trips)}
    return [
        Row("first R run of a session (IRkernel starts in bubblewrap; the pool starts Python only)", start, "s",
            goal=3.0, extra=f"median of {runs}, through execute_code", detail=detail),
        Row("first ggplot in that R kernel (library(ggplot2) and the chart as PNG)", chart, "s", goal=2.0,
            extra=f"median of {runs}"),
        Row("R run round trip (cat(1) through execute_code)", statistics.median(trips) * 1000, "ms", goal=50,
            extra=f"median of {len(trips)}"),
    ]  # fmt: skip


BENCHMARKS = (bench_r_kernel,)


def main(argv: list[str] | None = None) -> int:
    return run_main(BENCHMARKS, "r_kernel", argv)


if __name__ == "__main__":
    sys.exit(main())
