"""Engine benchmark: execute round trip, pooled session start, JavaScript and TypeScript, ZIP preload.

Run from the repository root (about a minute on 2 cores; ``.venv/bin/python -m bench`` runs it with the others):

    .venv/bin/python -m bench.engine [--json bench/engine.json] [--quick]

Prints the machine and a Markdown table (benchmark | result | goal | met?) and writes the same figures
as JSON. Everything started (temporary folders, sessions, kernels, the kernel pool) is cleaned up.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import statistics
import sys
import time
import zipfile
from functools import partial
from pathlib import Path
from typing import cast

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from bench.common import Row, execute_tool, median_ms, run_code, run_main, timed
from core.config import Settings
from core.sandbox.local.pool import close_pools, pool_for
from core.sandbox.local.sandbox import LocalSandbox
from core.session import Session, open_session

ZIP_FILES, ZIP_FILE_BYTES = 5_000, 20_480  # 5,000 files of 20 KiB: ~100 MB uncompressed
DENO_CASES = [
    ("JavaScript execute", "javascript", "console.log(1+1)"),
    ("TypeScript execute", "typescript", "const n: number = 1; console.log(n + 1)"),
]


def raw_execute(client: BlockingKernelClient, code: str) -> None:
    """Execute, wait for the idle status on iopub, then take the shell reply (what the engine does)."""
    msg_id = client.execute(code)
    while True:
        msg = client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["content"].get("execution_state") == "idle":
            break
    while client.get_shell_msg(timeout=30)["parent_header"].get("msg_id") != msg_id:
        pass


def start_raw_kernel(folder: Path) -> tuple[KernelManager, BlockingKernelClient]:
    """A plain ipykernel over IPC without a history database, like the engine's kernel but not sandboxed."""
    manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(folder / "raw-kernel"))
    manager.start_kernel(extra_arguments=["--HistoryManager.enabled=False"])
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
    except RuntimeError:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        raise
    return manager, client


def bench_round_trip(tmp: Path, quick: bool = False) -> list[Row]:
    round_trips, warm_ups = (80, 10) if quick else (200, 20)
    # IPC and no history database, like the engine's kernel: the ratio measures the engine's own overhead
    manager, client = start_raw_kernel(tmp)
    session = open_session("bench-rt", Settings(data_dir=tmp / "rt", kernel_pool_size=0))
    try:
        execute = execute_tool(session)
        for _ in range(warm_ups):
            raw_execute(client, "x = 1")
            execute(code="x = 1")
        raw: list[float] = []
        tool: list[float] = []
        for i in range(round_trips):  # interleaved, alternating which goes first
            pair = [(raw, lambda: raw_execute(client, "x = 1")), (tool, lambda: execute(code="x = 1"))]
            for samples, action in pair if i % 2 == 0 else pair[::-1]:
                samples.append(timed(action)[0])
    finally:
        client.stop_channels()
        session.close()
        manager.shutdown_kernel(now=True)
    raw_ms, tool_ms = median_ms(raw), median_ms(tool)
    return [
        Row("execute round trip, tool / raw jupyter_client (`x = 1`)", tool_ms / raw_ms, "x", goal=1.2,
            extra=f"tool {tool_ms:.2f} ms, raw {raw_ms:.2f} ms; medians of {round_trips}",
            detail={"tool_ms": tool_ms, "raw_ms": raw_ms, "round_trips": round_trips}),
    ]  # fmt: skip


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


def bench_new_session(tmp: Path, quick: bool = False) -> list[Row]:
    runs = 2 if quick else 3
    pooled = Settings(data_dir=tmp / "pool", kernel_pool_size=1)
    try:
        open_session("warm-up", pooled).close()
        samples = []
        for i in range(runs):
            wait_for_pool(pooled)
            samples.append(first_pandas_result(f"bench-new-{i}", pooled))
        wait_for_pool(pooled)  # let the last refill finish before the pool is closed
    finally:
        close_pools()
    cold = first_pandas_result("bench-cold", Settings(data_dir=tmp / "cold", kernel_pool_size=0))
    pooled_s = statistics.median(samples)
    return [
        Row("new session to first pandas result (pooled)", pooled_s, "s", goal=0.2,
            extra=f"median of {runs}; cold, kernel_pool_size=0: {cold:.2f} s",
            detail={"pooled_samples_s": samples, "cold_s": cold}),
    ]  # fmt: skip


def deno_run(session: Session, code: str, language: str) -> bool:
    """Run JS/TS through the tool; whether its output (``2``) came back.

    Deno's kernel sometimes publishes console output after its idle status, which the engine does not wait
    for, so a run may succeed without output: that is counted, not fatal.
    """
    outcome = execute_tool(session)(code=code, language=language)
    if outcome["status"] != "success":
        raise RuntimeError(f"Unexpected result of {code!r}: {outcome}")
    return any("2" in str(block.get("text", "")) for block in outcome["content"])


def bench_deno(tmp: Path, quick: bool = False) -> list[Row]:
    runs = 10 if quick else 30
    session = open_session("bench-deno", Settings(data_dir=tmp / "deno", kernel_pool_size=0))
    rows = []
    try:
        for name, language, code in DENO_CASES:
            deno_run(session, code, language)  # warm-up (the first one starts the Deno kernel)
            timings = [timed(partial(deno_run, session, code, language)) for _ in range(runs)]
            samples = [seconds for seconds, _ in timings]
            lost = sum(not shown for _, shown in timings)
            extra = f"median of {runs}" + (f"; {lost} of {runs} runs lost their console.log output" if lost else "")
            rows.append(
                Row(name, median_ms(samples), "ms", extra=extra, detail={"samples_s": samples, "output_lost": lost})
            )
    finally:
        session.close()
    return rows


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


def bench_preload(tmp: Path, quick: bool = False) -> list[Row]:
    runs = 1 if quick else 3
    data = make_zip()
    settings = Settings(data_dir=tmp / "zip", kernel_pool_size=0)
    samples: list[float] = []
    baseline: list[float] = []  # stdlib extractall of the same ZIP on the same disk: no checks, no staging
    after_upload: list[float] = []
    cpu: list[float] = []  # CPU seconds of this process during the preload; the rest is waiting (disk, other processes)
    for i in range(runs):
        plain = tmp / "zip" / "extractall"
        baseline.append(timed(partial(zipfile.ZipFile(io.BytesIO(data)).extractall, plain))[0])
        shutil.rmtree(plain)
        session = open_session(f"bench-zip-{i}", settings)
        try:
            cpu_before = time.process_time()
            seconds, paths = timed(partial(session.preload, "big.zip", data))
            cpu.append(time.process_time() - cpu_before)
            root = cast(LocalSandbox, session.sandbox).root
            on_disk = sum(len(files) for _, _, files in os.walk(root))
            if len(paths) != ZIP_FILES or on_disk != ZIP_FILES:
                raise RuntimeError(f"{len(paths)} paths returned, {on_disk} files on disk, not {ZIP_FILES}")
            samples.append(seconds)
            if i == runs - 1:  # what every later run pays with 5,000 files in the sandbox
                run_code(session, "x = 1")
                after_upload = [timed(partial(run_code, session, "x = 1"))[0] for _ in range(20)]
        finally:
            session.close()
            shutil.rmtree(settings.sessions_dir, ignore_errors=True)
    unpacked_mb = ZIP_FILES * ZIP_FILE_BYTES / 1e6
    seconds = statistics.median(samples)
    return [
        Row(f"preload the 100 MB, {ZIP_FILES:,}-file ZIP", seconds, "s", goal=2.0,
            extra=f"{unpacked_mb / seconds:.0f} MB/s, {unpacked_mb:.1f} MB unpacked; median of {runs}, of which CPU "
            f"{statistics.median(cpu):.2f} s; zipfile.extractall: {statistics.median(baseline):.2f} s",
            detail={"zip_mb": len(data) / 1e6, "unpacked_mb": unpacked_mb, "mb_per_s": unpacked_mb / seconds,
                    "samples_s": samples, "cpu_samples_s": cpu, "extractall_samples_s": baseline,
                    "execute_ms_with_5000_files": median_ms(after_upload)}),
    ]  # fmt: skip


BENCHMARKS = (bench_round_trip, bench_new_session, bench_deno, bench_preload)


def main(argv: list[str] | None = None) -> int:
    return run_main(BENCHMARKS, "engine", argv)


if __name__ == "__main__":
    sys.exit(main())
