"""Preview benchmark: how long the first preview of a 50-page PDF and of a 10-sheet workbook takes.

Run from the repository root (about fifteen seconds; ``.venv/bin/python -m bench`` runs it with the others):

    .venv/bin/python -m bench.previews [--json bench/previews.json] [--quick]

It makes the files with the libraries the sandbox offers: a 50-page PDF report (fpdf2; each page a heading,
20 lines of text and a matplotlib chart) and a 10-sheet workbook (openpyxl through pandas; 1,000 rows of 10
columns, numbers and text, per sheet). Each preview is ``components.previews.render_preview`` in Streamlit's
``AppTest`` (the PDF's page count and first page as an image; the workbook's sheet list and the first sheet's
first rows), the way the side panel shows a file when it is opened. The preview helper's answers are forgotten
before each run, so every run is a first preview, read by a helper process. Runs are 2 s apart, as a person opens
one preview after another (the helper started after a preview is then ready); the median of the runs after the
first is reported, with back-to-back runs (no helper ready: a new one loads its libraries), the first run
(imports included) and AppTest's own cost (an empty script) beside it.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from bench.common import Row, environment, progress, run_main

GOAL_SECONDS = 0.5
PAUSE_SECONDS = 2.0
PDF_PAGES, SHEETS, SHEET_ROWS = 50, 10, 1000

PREVIEW_SCRIPT = """
import os
from pathlib import Path

from components.previews import render_preview
from core.files.preview_host import forget_answers

forget_answers()  # answers are cached by content: each run must read the file again
path = Path(os.environ["PREVIEW_BENCH_FILE"])
render_preview(path.name, path.read_bytes(), "bench")
"""
EMPTY_SCRIPT = """
import streamlit as st
"""


def make_pdf(pages: int = PDF_PAGES) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from fpdf import FPDF

    figure, axes = plt.subplots(figsize=(6, 3), dpi=100)
    axes.plot(range(50), [value**0.5 for value in range(50)])
    chart = io.BytesIO()
    figure.savefig(chart, format="png")
    plt.close(figure)
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.cell(text=f"Section {number}: quarterly figures", new_x="LMARGIN", new_y="NEXT")
        for line in range(20):
            pdf.cell(
                text=f"Line {line}: revenue, costs and margin for region {line % 7}.", new_x="LMARGIN", new_y="NEXT"
            )
        pdf.image(io.BytesIO(chart.getvalue()), w=170)
    return bytes(pdf.output())


def make_workbook(sheets: int = SHEETS, rows: int = SHEET_ROWS) -> bytes:
    import pandas as pd

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for number in range(sheets):
            columns: dict[str, list[object]] = {
                f"value {c}": [row * c + number for row in range(rows)] for c in range(8)
            }
            columns |= {"region": [f"region {row % 13}" for row in range(rows)], "note": ["ok"] * rows}
            pd.DataFrame(columns).to_excel(writer, sheet_name=f"Sheet {number + 1}", index=False)
    return buffer.getvalue()


def _timed_runs(script: str, runs: int, pause: float = 0.0) -> list[float]:
    """Seconds of ``at.run()`` of ``script``: the first run of a fresh AppTest, then ``runs`` more.

    ``pause`` seconds pass between runs, untimed: a person looks at one preview before opening the next, and the
    preview helper started after a preview has time to load its libraries.
    """
    at = AppTest.from_string(script, default_timeout=60)
    samples = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        at.run()
        samples.append(time.perf_counter() - started)
        if at.exception:
            raise RuntimeError(at.exception[0].message)
        time.sleep(pause)
    return samples


def _bench_file(path: Path, label: str, runs: int, empty: float) -> Row:
    with environment({"PREVIEW_BENCH_FILE": str(path)}):
        cold, *paced = _timed_runs(PREVIEW_SCRIPT, runs, pause=PAUSE_SECONDS)
        back_to_back = _timed_runs(PREVIEW_SCRIPT, runs)[1:]
    median = statistics.median(paced)
    size = path.stat().st_size
    return Row(
        f"first preview of {label} (AppTest run)",
        median,
        "s",
        goal=GOAL_SECONDS,
        extra=f"median of {runs}, {PAUSE_SECONDS:g} s apart; back to back "
        f"{statistics.median(back_to_back):.2f} s; {size / 1024:,.0f} KB; first run in the process {cold:.2f} s; "
        f"AppTest's own cost (empty script) {empty:.3f} s",
        detail={
            "samples_s": paced,
            "back_to_back_s": back_to_back,
            "cold_s": cold,
            "bytes": size,
            "apptest_empty_s": empty,
        },
    )


def bench_previews(folder: Path, quick: bool) -> list[Row]:
    """The first-preview time of a 50-page PDF and of a 10-sheet workbook."""
    runs = 3 if quick else 7
    pdf, workbook = folder / "report.pdf", folder / "book.xlsx"
    progress("previews: making the PDF and the workbook ...")
    pdf.write_bytes(make_pdf())
    workbook.write_bytes(make_workbook())
    empty = statistics.median(_timed_runs(EMPTY_SCRIPT, runs)[1:])
    return [
        _bench_file(pdf, f"a {PDF_PAGES}-page PDF", runs, empty),
        _bench_file(workbook, f"a {SHEETS}-sheet workbook ({SHEET_ROWS:,} rows each)", runs, empty),
    ]


if __name__ == "__main__":
    sys.exit(run_main([bench_previews], "previews"))
