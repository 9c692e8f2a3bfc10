"""Variables benchmark: save and restore of a session holding a 1,000,000-row DataFrame (time and bytes).

Run from the repository root (about half a minute on 2 cores; ``.venv/bin/python -m bench`` runs it with the
others):

    .venv/bin/python -m bench.variables [--json bench/variables.json] [--quick]

The session's kernel is put to sleep (its variables are pickled into the session folder) and restored (a new
kernel loads them); the same DataFrame written and read as Parquet in the kernel is measured alongside, for the
choice of format. Everything started is stopped and its folders removed.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from bench.common import Row, run_code, run_main
from core.config import Settings
from core.sandbox.local.sandbox import LocalSandbox
from core.session import open_session
from core.types import VariablesReport

ROWS = 1_000_000
FRAME = f"""
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
frame = pd.DataFrame({{
    "id": np.arange({ROWS}), "x": rng.random({ROWS}), "y": rng.normal(size={ROWS}),
    "group": rng.choice(["north", "south", "east", "west"], {ROWS}),
    "name": [f"customer {{i % 5000}}" for i in range({ROWS})],
    "time": pd.date_range("2024-01-01", periods={ROWS}, freq="s"),
}})
"""
PARQUET = """
import time
started = time.perf_counter(); frame.to_parquet('/tmp/frame.parquet'); wrote = time.perf_counter() - started
started = time.perf_counter(); pd.read_parquet('/tmp/frame.parquet'); read = time.perf_counter() - started
import os; print(f"{wrote:.4f} {read:.4f} {os.path.getsize('/tmp/frame.parquet')}"); os.remove('/tmp/frame.parquet')
"""


def one_round(settings: Settings, name: str) -> tuple[VariablesReport, VariablesReport, list[float]]:
    """Make the DataFrame, measure Parquet, save (sleep) and restore; check the frame came back whole."""
    session = open_session(name, settings)
    try:
        run_code(session, FRAME)
        parquet = [float(part) for part in run_code(session, PARQUET).split()[-3:]]
        sandbox = session.sandbox
        assert isinstance(sandbox, LocalSandbox)
        sandbox.sleep()
        saved = sandbox.variables.waiting()
        restored = sandbox.restore_variables()
        if saved is None or restored is None or "frame" not in restored.kept:
            raise RuntimeError(f"the variables did not come back: {saved} {restored}")
        run_code(session, "print(len(frame), frame['name'].iloc[-1])", expect=f"{ROWS} customer")
        return saved, restored, parquet
    finally:
        session.close()


def bench_variables(tmp: Path, quick: bool = False) -> list[Row]:
    runs = 1 if quick else 3
    settings = Settings(data_dir=tmp / "variables", kernel_pool_size=0)
    rounds = [one_round(settings, f"bench-variables-{i}") for i in range(runs)]
    save = statistics.median(saved.seconds for saved, _, _ in rounds)
    restore = statistics.median(restored.seconds for _, restored, _ in rounds)
    size = rounds[0][0].size
    parquet_write = statistics.median(parquet[0] for _, _, parquet in rounds)
    parquet_read = statistics.median(parquet[1] for _, _, parquet in rounds)
    parquet_size = int(rounds[0][2][2])
    detail = {
        "rows": ROWS,
        "save_s": [saved.seconds for saved, _, _ in rounds],
        "restore_s": [restored.seconds for _, restored, _ in rounds],
        "snapshot_bytes": size,
        "parquet_write_s": parquet_write,
        "parquet_read_s": parquet_read,
        "parquet_bytes": parquet_size,
    }
    return [
        Row(f"save the variables of a session holding a {ROWS:,}-row DataFrame (cloudpickle)", save, "s",
            extra=f"{size / 1e6:.1f} MB on disk, median of {runs}; the same frame as Parquet: written in "
            f"{parquet_write:.2f} s, {parquet_size / 1e6:.1f} MB", detail=detail),
        Row(f"restore them into a new kernel ({ROWS:,}-row DataFrame)", restore, "s",
            extra=f"median of {runs}; Parquet read: {parquet_read:.2f} s"),
    ]  # fmt: skip


BENCHMARKS = (bench_variables,)


def main(argv: list[str] | None = None) -> int:
    return run_main(BENCHMARKS, "variables", argv)


if __name__ == "__main__":
    sys.exit(main())
