"""Engine benchmark: execute round trip, pooled session start, ZIP preload, JavaScript and TypeScript.

Run from the repository root (about a minute on 2 cores):

    .venv/bin/python -m bench.engine [--json bench/results.json]

Prints the machine and a Markdown table (benchmark | result | goal | met?) and writes the same figures
as JSON. Everything started (temporary folders, sessions, kernels, the kernel pool) is cleaned up.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jupyter_client.blocking.client import BlockingKernelClient  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

from core.config import Settings  # noqa: E402
from core.sandbox.pool import close_pools, pool_for  # noqa: E402
from core.session import Session, open_session  # noqa: E402

ROUND_TRIPS = 200
WARM_UPS = 20
ZIP_FILES, ZIP_FILE_BYTES = 5_000, 20_480  # 5,000 files of 20 KiB: ~100 MB uncompressed
DENO_RUNS = 10
DENO_CASES = [
    ("JavaScript execute", "javascript", "console.log(1+1)"),
    ("TypeScript execute", "typescript", "const n: number = 1; console.log(n + 1)"),
]


@dataclass
class Row:
    """One benchmark figure: ``value`` in ``unit``; ``goal`` is an upper bound (``None``: no goal)."""

    benchmark: str
    value: float
    unit: str
    goal: float | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.value <= self.goal

    def shown(self, value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value:.2f}x" if self.unit == "x" else f"{value:,.3g} {self.unit}"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def execute_tool(session: Session) -> Any:
    return next(t for t in session.tools if t.tool_name == "execute_code")


def run_code(session: Session, code: str, language: str = "python", expect: str | None = None) -> str:
    outcome = execute_tool(session)(code=code, language=language)
    text = "\n".join(str(block.get("text", "")) for block in outcome["content"])
    if outcome["status"] != "success" or (expect is not None and expect not in text):
        raise RuntimeError(f"Unexpected result of {code!r}: {outcome}")
    return text


def raw_execute(client: BlockingKernelClient, code: str) -> None:
    """Execute, wait for the idle status on iopub, then take the shell reply (what the engine does)."""
    msg_id = client.execute(code)
    while True:
        msg = client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["content"].get("execution_state") == "idle":
            break
    while client.get_shell_msg(timeout=30)["parent_header"].get("msg_id") != msg_id:
        pass


def bench_round_trip(tmp: Path) -> list[Row]:
    # IPC and no history database, like the engine's kernel: the ratio measures the engine's own overhead
    manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp / "raw-kernel"))
    manager.start_kernel(extra_arguments=["--HistoryManager.enabled=False"])
    session = open_session("bench-rt", Settings(data_dir=tmp / "rt", kernel_pool_size=0))
    try:
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        execute = execute_tool(session)
        for _ in range(WARM_UPS):
            raw_execute(client, "x = 1")
            execute(code="x = 1")
        raw: list[float] = []
        tool: list[float] = []
        for i in range(ROUND_TRIPS):  # interleaved, alternating which goes first
            pair = [(raw, lambda: raw_execute(client, "x = 1")), (tool, lambda: execute(code="x = 1"))]
            for samples, action in pair if i % 2 == 0 else pair[::-1]:
                samples.append(timed(action)[0])
        client.stop_channels()
    finally:
        session.close()
        manager.shutdown_kernel(now=True)
    raw_ms, tool_ms = median_ms(raw), median_ms(tool)
    return [
        Row("execute round trip (raw jupyter_client)", raw_ms, "ms", note=f"median of {ROUND_TRIPS}"),
        Row("execute round trip (tool)", tool_ms, "ms", note=f"median of {ROUND_TRIPS}"),
        Row("execute round trip ratio tool/raw", tool_ms / raw_ms, "x", goal=1.2),
    ]


def wait_for_pool(settings: Settings, deadline_s: float = 60) -> None:
    pool = pool_for(settings)
    assert pool is not None
    deadline = time.monotonic() + deadline_s
    while pool._ready.qsize() < 1:
        if time.monotonic() > deadline:
            raise RuntimeError(f"The kernel pool had no ready sandbox after {deadline_s:g} s")
        time.sleep(0.05)


def first_pandas_result(conversation: str, settings: Settings) -> float:
    import pandas

    started = time.perf_counter()
    session = open_session(conversation, settings)
    try:
        run_code(session, "import pandas as pd; print(pd.__version__)", expect=pandas.__version__)
        return time.perf_counter() - started
    finally:
        session.close()


def bench_new_session(tmp: Path) -> list[Row]:
    pooled = Settings(data_dir=tmp / "pool", kernel_pool_size=1)
    try:
        open_session("warm-up", pooled).close()
        samples = []
        for i in range(3):
            wait_for_pool(pooled)
            samples.append(first_pandas_result(f"bench-new-{i}", pooled))
        wait_for_pool(pooled)  # let the last refill finish before the pool is closed
    finally:
        close_pools()
    cold = first_pandas_result("bench-cold", Settings(data_dir=tmp / "cold", kernel_pool_size=0))
    return [
        Row("new session to first pandas result (pooled)", statistics.median(samples), "s", goal=0.2,
            note="median of 3: " + ", ".join(f"{s:.3f}" for s in samples)),
        Row("new session to first pandas result (cold, kernel_pool_size=0)", cold, "s", note="once"),
    ]  # fmt: skip


def make_zip() -> bytes:
    """5,000 files in 50 folders, each half random bytes and half text (deflated)."""
    words = [f"word{n}" for n in range(500)]
    rng = random.Random(1)
    buffer = io.BytesIO()
    half = ZIP_FILE_BYTES // 2
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for n in range(ZIP_FILES):
            text = " ".join(rng.choices(words, k=half // 5)).encode()[:half].ljust(half)
            archive.writestr(f"data/part{n // 100:02d}/file{n:04d}.bin", os.urandom(half) + text)
    return buffer.getvalue()


def bench_preload(tmp: Path) -> list[Row]:
    data = make_zip()
    settings = Settings(data_dir=tmp / "zip", kernel_pool_size=0)
    samples: list[float] = []
    baseline: list[float] = []  # stdlib extractall of the same ZIP on the same disk: no checks, no staging
    after_upload: list[float] = []
    for i in range(3):
        plain = tmp / "zip" / "extractall"
        baseline.append(timed(partial(zipfile.ZipFile(io.BytesIO(data)).extractall, plain))[0])
        shutil.rmtree(plain)
        session = open_session(f"bench-zip-{i}", settings)
        try:
            seconds, paths = timed(partial(session.preload, "big.zip", data))
            on_disk = sum(len(files) for _, _, files in os.walk(session.sandbox.root))
            if len(paths) != ZIP_FILES or on_disk != ZIP_FILES:
                raise RuntimeError(f"{len(paths)} paths returned, {on_disk} files on disk, not {ZIP_FILES}")
            samples.append(seconds)
            if i == 2:  # what every later run pays with 5,000 files in the sandbox
                run_code(session, "x = 1")
                after_upload = [timed(partial(run_code, session, "x = 1"))[0] for _ in range(20)]
        finally:
            session.close()
            shutil.rmtree(settings.sessions_dir, ignore_errors=True)
    size = f"{len(data) / 1e6:.0f} MB zip, {ZIP_FILES * ZIP_FILE_BYTES / 1e6:.0f} MB unpacked"
    return [
        Row("preload 100 MB, 5,000-file ZIP", statistics.median(samples), "s", goal=2.0,
            note=f"median of 3 ({size}): " + ", ".join(f"{s:.2f}" for s in samples)),
        Row("same ZIP with zipfile.extractall (baseline)", statistics.median(baseline), "s",
            note="median of 3: " + ", ".join(f"{s:.2f}" for s in baseline)),
        Row("execute round trip with 5,000 files in the sandbox (tool)", median_ms(after_upload), "ms",
            note="median of 20"),
    ]  # fmt: skip


def bench_deno(tmp: Path) -> list[Row]:
    session = open_session("bench-deno", Settings(data_dir=tmp / "deno", kernel_pool_size=0))
    rows = []
    try:
        for name, language, code in DENO_CASES:
            run_code(session, code, language, expect="2")  # warm-up
            samples = [timed(partial(run_code, session, code, language, "2"))[0] for _ in range(DENO_RUNS)]
            rows.append(Row(name, median_ms(samples), "ms", note=f"median of {DENO_RUNS}"))
    finally:
        session.close()
    return rows


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    return {
        "nproc": str(len(os.sched_getaffinity(0))),  # what `nproc` prints
        "cpu": models[0] if models else "unknown",
        "python": platform.python_version(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the engine; see the module docstring.")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json", help="JSON output")
    args = parser.parse_args(argv)
    info = machine()
    rows: list[Row] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as folder:
        tmp = Path(folder)
        for bench in (bench_round_trip, bench_new_session, bench_preload, bench_deno):
            rows += bench(tmp)
            print(f"... {bench.__name__} done ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    print("\n".join(f"- {key}: {value}" for key, value in info.items()) + "\n")
    print("| benchmark | result | goal | met? |\n|---|---|---|---|")
    for row in rows:
        met = "-" if row.met is None else "yes" if row.met else "**no**"
        goal = "-" if row.goal is None else "<= " + row.shown(row.goal)
        print(f"| {row.benchmark} | {row.shown(row.value)} | {goal} | {met} |")
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    report = {"machine": info, "results": [{**asdict(r), "met": r.met} for r in rows]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
