"""Many sessions at once: execute latency under concurrency, and the memory of an idle session.

Run from the repository root (about a minute and a half on 2 cores; ``.venv/bin/python -m bench`` runs it with the
others):

    .venv/bin/python -m bench.sessions [--json bench/sessions.json] [--quick]

Concurrency: 1, 5 and 20 sessions (``kernel_pool_size=0``), opened before the clock starts and warmed up with
one run each, then each session runs ``x = 1`` 50 times through its ``execute_code`` tool in a thread of its
own, all threads released together; p50 and p95 are over every execute of every session, and an error result
or an exception counts as an error.

Idle memory: 5 sessions run ``import pandas`` once and sit idle; a session's memory is the PSS (from
``/proc/<pid>/smaps_rollup``) summed over all its processes: the kernel's process tree (bubblewrap and the
kernel in it) and the session's network helpers (slirp4netns and the process holding its namespace). PSS
splits shared pages between the processes that map them, so the figure is what each of 5 idle sessions adds.
What dominates is measured on a plain ipykernel: its memory bare and after each module the prelude imports.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient

from bench.common import Row, execute_tool, progress, run_code, run_main, summary_ms
from bench.engine import raw_execute, start_raw_kernel
from core.config import Settings
from core.session import Session, open_session

CONCURRENCY = (1, 5, 20)
OPEN_WORKERS = 2  # kernel starts are CPU-bound: more at once only makes each slower (and risks failures)
P95_GOAL_MS = 50.0
MEMORY_GOAL_MB = 80.0
PRELUDE_MODULES = ("numpy", "pandas", "matplotlib.pyplot")


def open_warm_session(conversation: str, settings: Settings, failures: list[str]) -> Session:
    """A session whose Python kernel has started and answered once (each of its own user, as in a busy app).

    A kernel start that fails is retried (twice at most) and the failure is appended to ``failures``: on a busy
    machine jupyter_client's ``wait_for_ready`` mistakes a heartbeat slower than 1 s for a dead kernel.
    """
    session = open_session(conversation, settings, user_id=f"user-{conversation}")
    try:
        for attempt in range(3):
            try:
                run_code(session, "x = 0")
                break
            except RuntimeError as exc:
                failures.append(str(exc)[:300])
                if attempt == 2:
                    raise
    except BaseException:
        session.close()
        raise
    return session


def open_sessions(count: int, settings: Settings, prefix: str, failures: list[str]) -> list[Session]:
    """``count`` warm sessions, opened a few at a time; if one fails, the others are closed."""
    with ThreadPoolExecutor(max_workers=min(count, OPEN_WORKERS)) as pool:
        futures = [pool.submit(open_warm_session, f"{prefix}-{i}", settings, failures) for i in range(count)]
        sessions, failure = [], None
        for future in futures:
            try:
                sessions.append(future.result())
            except Exception as exc:
                failure = failure or exc
    if failure is not None:
        close_sessions(sessions)
        raise failure
    return sessions


def close_sessions(sessions: list[Session]) -> None:
    if sessions:
        with ThreadPoolExecutor(max_workers=min(len(sessions), 8)) as pool:
            list(pool.map(Session.close, sessions))


def engine_execute(session: Session) -> Callable[[], str | None]:
    """One ``x = 1`` through the session's tool; returns what went wrong, if anything."""
    execute = execute_tool(session)

    def run() -> str | None:
        outcome = execute(code="x = 1")
        return None if outcome["status"] == "success" else str(outcome["content"])[:300]

    return run


def raw_kernel_execute(client: BlockingKernelClient) -> Callable[[], str | None]:
    """One ``x = 1`` on a plain kernel with jupyter_client (the baseline)."""

    def run() -> None:
        raw_execute(client, "x = 1")

    return run


def hammer(actions: list[Callable[[], str | None]], executes: int) -> dict[str, Any]:
    """Every action runs ``executes`` times in a thread of its own, all threads released together.

    Returns:
        The latencies (seconds, all threads together), the error count, examples of errors and the wall time.

    """
    start = threading.Barrier(len(actions) + 1)
    latencies: list[list[float]] = [[] for _ in actions]
    errors: list[str] = []

    def work(index: int) -> None:
        start.wait()
        for _ in range(executes):
            began = time.perf_counter()
            try:
                problem = actions[index]()
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"[:300]
            latencies[index].append(time.perf_counter() - began)
            if problem is not None:
                errors.append(problem)

    threads = [threading.Thread(target=work, args=(i,), name=f"bench-session-{i}") for i in range(len(actions))]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return {
        "samples": [s for samples in latencies for s in samples],
        "errors": len(errors),
        "error_examples": errors[:5],
        "wall_s": time.perf_counter() - began,
    }


def measured_hammer(actions: list[Callable[[], str | None]], executes: int, pids: list[int]) -> dict[str, Any]:
    """:func:`hammer` plus latency statistics and the CPU used by this process and by ``pids``."""
    app_before, sandbox_before = time.process_time(), cpu_seconds(pids)
    outcome = hammer(actions, executes)
    app_cpu, sandbox_cpu = time.process_time() - app_before, cpu_seconds(pids) - sandbox_before
    samples = outcome.pop("samples")
    return {
        **summary_ms(samples),
        **outcome,
        "executes_per_s": len(samples) / outcome["wall_s"],
        "app_cpu_ms_per_execute": app_cpu / len(samples) * 1000,
        "kernel_cpu_ms_per_execute": sandbox_cpu / len(samples) * 1000,
    }


def raw_baseline(tmp: Path, count: int, executes: int) -> dict[str, Any]:
    """The same load on ``count`` plain, unsandboxed ipykernels driven with jupyter_client directly."""
    kernels = []
    try:
        for index in range(count):  # in this thread: jupyter_client's managers do not like pool threads
            folder = tmp / f"raw-{index}"
            folder.mkdir(parents=True, exist_ok=True)
            kernels.append(start_raw_kernel(folder))
        actions = [raw_kernel_execute(client) for _, client in kernels]
        for action in actions:
            action()  # warm-up
        pids = [pid for manager, _ in kernels for pid in process_tree(manager.provisioner.pid)]  # type: ignore[union-attr]
        return measured_hammer(actions, executes, pids)
    finally:
        for manager, client in kernels:
            client.stop_channels()
            manager.shutdown_kernel(now=True)


# -- processes -----------------------------------------------------------------------------------------------


def smaps_rollup(pid: int) -> dict[str, int]:
    """The kB figures of ``/proc/<pid>/smaps_rollup`` (empty if the process is gone)."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    except OSError:
        return {}
    return {line.split(":")[0]: int(line.split()[1]) for line in lines if line.endswith("kB")}


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from ``/proc/<pid>/task/*/children``)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def process_name(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [word.decode(errors="replace") for word in argv if word]
    if not words:
        return "?"
    name = Path(words[0]).name
    return "ipykernel" if name.startswith("python") and "ipykernel_launcher" in words else name


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (from ``/proc/<pid>/stat``)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the whole line)
    return total / os.sysconf("SC_CLK_TCK")


def session_processes(session: Session) -> list[int]:
    """Every process of a local session: the kernels' trees and the network helpers."""
    sandbox: Any = session.sandbox
    pids = []
    for kernel in sandbox._kernels.values():
        if kernel.process is not None and kernel.process.poll() is None:
            pids += process_tree(kernel.process.pid)
    network = sandbox.isolation.network
    for helper in (network._holder, network._slirp):
        if helper is not None and helper.poll() is None:
            pids += process_tree(helper.pid)
    return pids


def bench_concurrency(tmp: Path, quick: bool = False) -> list[Row]:
    executes = 20 if quick else 50
    settings = Settings(data_dir=tmp / "concurrency", kernel_pool_size=0)
    rows = []
    for count in CONCURRENCY:
        progress(f"  opening {count} session(s)")
        began, failures = time.perf_counter(), list[str]()
        sessions = open_sessions(count, settings, f"bench-c{count}", failures)
        opened = time.perf_counter() - began
        try:
            progress(f"  {count} session(s) x {executes} executes")
            pids = [pid for session in sessions for pid in session_processes(session)]
            figures = measured_hammer([engine_execute(s) for s in sessions], executes, pids)
        finally:
            close_sessions(sessions)
        figures.update(sessions=count, executes_per_session=executes, open_s=opened, start_failures_retried=failures)
        cpu = figures["app_cpu_ms_per_execute"] + figures["kernel_cpu_ms_per_execute"]
        extra = (
            f"p50 {figures['p50_ms']:.1f} ms, {figures['errors']} errors, {figures['executes_per_s']:.0f} executes/s, "
            f"CPU {cpu:.1f} ms per execute"
        )
        has_goal = count == max(CONCURRENCY)
        if has_goal:
            progress(f"  baseline: {count} plain kernels with jupyter_client x {executes} executes")
            raw = raw_baseline(tmp / "raw", count, executes)
            figures["raw_jupyter_client_baseline"] = raw
            extra += (
                f"; {count} plain kernels, raw jupyter_client: p95 {raw['p95_ms']:.0f} ms, p50 {raw['p50_ms']:.1f} ms"
            )
        rows.append(
            Row(
                f"{count} concurrent session{'s' if count > 1 else ''} x {executes} executes of `x = 1`, p95",
                figures["p95_ms"],
                "ms",
                goal=P95_GOAL_MS if has_goal else None,
                goal_text=f"p95 <= {P95_GOAL_MS:g} ms, 0 errors" if has_goal else "",
                condition=figures["errors"] == 0,
                extra=extra,
                detail=figures,
            )
        )
    return rows


# -- memory -----------------------------------------------------------------------------------------------


def session_memory(session: Session) -> dict[str, Any]:
    """PSS of the session's processes in MB, in total and per process."""
    processes = []
    for pid in session_processes(session):
        figures = smaps_rollup(pid)
        processes.append({
            "pid": pid,
            "name": process_name(pid),
            "pss_mb": figures.get("Pss", 0) / 1024,
            "pss_anon_mb": figures.get("Pss_Anon", 0) / 1024,
            "pss_file_mb": figures.get("Pss_File", 0) / 1024,
            "rss_mb": figures.get("Rss", 0) / 1024,
        })  # fmt: skip
    sandbox: Any = session.sandbox  # a LocalSandbox
    used = sandbox.memory_used()
    return {
        "pss_mb": sum(p["pss_mb"] for p in processes),
        "cgroup_memory_mb": None if used is None else used / 1024**2,
        "processes": processes,
    }


def import_costs(tmp: Path) -> list[dict[str, Any]]:
    """PSS and anonymous PSS of a plain (unsandboxed) ipykernel, bare and after each prelude import."""
    manager, client = start_raw_kernel(tmp)
    try:
        pid = manager.provisioner.pid  # type: ignore[union-attr]
        steps: list[dict[str, Any]] = []
        for module in ("(bare ipykernel)", *PRELUDE_MODULES):
            if not module.startswith("("):
                raw_execute(client, f"import {module}")
            raw_execute(client, "import gc; gc.collect()")
            figures = smaps_rollup(pid)
            steps.append({"after": module, "pss_mb": figures["Pss"] / 1024, "pss_anon_mb": figures["Pss_Anon"] / 1024})
        for before, step in zip([None, *steps], steps, strict=False):
            step["added_anon_mb"] = step["pss_anon_mb"] - (before["pss_anon_mb"] if before else 0)
        return steps
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def bench_idle_memory(tmp: Path, quick: bool = False) -> list[Row]:
    count = 3 if quick else 5
    settings = Settings(data_dir=tmp / "memory", kernel_pool_size=0)
    failures: list[str] = []
    sessions = open_sessions(count, settings, "bench-mem", failures)
    try:
        for session in sessions:
            run_code(session, "import pandas")
        time.sleep(3)  # idle
        measured = [session_memory(session) for session in sessions]
    finally:
        close_sessions(sessions)
    steps = import_costs(tmp)
    totals = [m["pss_mb"] for m in measured]
    median = statistics.median(totals)
    typical = min(measured, key=lambda m: abs(m["pss_mb"] - median))
    kernel = max(typical["processes"], key=lambda p: p["pss_mb"])
    others = median - kernel["pss_mb"]
    imports = sum(step["added_anon_mb"] for step in steps[1:])
    return [
        Row(
            "idle session memory after `import pandas` (PSS, all its processes)",
            median,
            "MB",
            goal=MEMORY_GOAL_MB,
            extra=f"median of {count}; the kernel process {kernel['pss_mb']:.0f} MB ({kernel['pss_anon_mb']:.0f} MB "
            f"anonymous), other processes {others:.1f} MB; numpy + pandas + matplotlib.pyplot add {imports:.0f} MB "
            f"to a bare ipykernel's {steps[0]['pss_anon_mb']:.0f} MB",
            detail={
                "sessions": count,
                "start_failures_retried": failures,
                "pss_mb_per_session": totals,
                "typical_session": typical,
                "plain_ipykernel_import_steps": steps,
                "dominated_by": f"the Python kernel ({kernel['pss_mb']:.0f} of {median:.0f} MB), mostly anonymous "
                f"memory of the modules the prelude imports ({', '.join(PRELUDE_MODULES)}: "
                f"{imports:.0f} MB on a plain ipykernel over a bare {steps[0]['pss_anon_mb']:.0f} MB)",
            },
        )
    ]


BENCHMARKS = (bench_concurrency, bench_idle_memory)


def main(argv: list[str] | None = None) -> int:
    return run_main(BENCHMARKS, "sessions", argv)


if __name__ == "__main__":
    sys.exit(main())
