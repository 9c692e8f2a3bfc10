"""What every benchmark script shares: result rows, the Markdown table, machine info, statistics, sessions, servers."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from core.session import Session

_STARTED = time.monotonic()
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


@dataclass
class Row:
    """One benchmark figure: ``value`` in ``unit``, ``goal`` an upper bound (``None``: no goal).

    ``extra`` is shown after the value in the table (other figures of the same benchmark); ``condition`` is a
    further requirement for the goal to be met (say, no errors), described in ``goal_text``; ``detail`` and
    ``note`` only go to the JSON.
    """

    benchmark: str
    value: float
    unit: str
    goal: float | None = None
    extra: str = ""
    goal_text: str = ""
    condition: bool = True
    failed: bool = False
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(cls, benchmark: str, error: BaseException) -> Row:
        """The row of a benchmark that could not run."""
        message = " ".join(f"{type(error).__name__}: {error}".split())
        return cls(benchmark, float("nan"), "", extra=message[:300], failed=True, note=message)

    @property
    def met(self) -> bool | None:
        if self.failed:
            return False
        return None if self.goal is None else self.value <= self.goal and self.condition

    def result_cell(self) -> str:
        if self.failed:
            return self.extra
        shown = fmt(self.value, self.unit)
        return f"{shown} ({self.extra})" if self.extra else shown

    def goal_cell(self) -> str:
        if self.goal_text:
            return self.goal_text
        if self.goal is None:
            return "-"
        return f"<= {self.goal:g}x" if self.unit == "x" else f"<= {self.goal:g} {self.unit}"

    def met_cell(self) -> str:
        if self.failed:
            return "**failed**"
        return "-" if self.met is None else "yes" if self.met else "**no**"

    def as_json(self) -> dict[str, Any]:
        shown = {"met": self.met, "result": self.result_cell(), "goal_shown": self.goal_cell()}
        return {**asdict(self), "value": None if self.failed else self.value, **shown}


def fmt(value: float, unit: str) -> str:
    """A figure with its unit: ``1.14x``, ``3.18 ms``, ``41.3 ms``, ``0.0134 s``, ``1.86 s``, ``105 MB``."""
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"


def markdown_table(rows: list[Row]) -> str:
    lines = ["| benchmark | result | goal | met? |", "|---|---|---|---|"]
    lines += [f"| {r.benchmark} | {r.result_cell()} | {r.goal_cell()} | {r.met_cell()} |" for r in rows]
    return "\n".join(lines)


def machine() -> dict[str, str]:
    """nproc, CPU model, memory, Python, OS kernel, how sandboxes are isolated, the load and the date."""
    from core.sandbox.local.isolation import bubblewrap_works

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    meminfo = {line.split(":")[0]: line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()}
    namespaced = os.geteuid() == 0 and shutil.which("slirp4netns") is not None
    return {
        "nproc": str(len(os.sched_getaffinity(0))),  # what `nproc` prints
        "cpu": models[0] if models else platform.machine(),
        "memory": f"{int(meminfo['MemTotal']) / 1024**2:.1f} GiB",
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "sandbox": ("bubblewrap" if bubblewrap_works() else "reduced isolation")
        + (", slirp4netns network namespace" if namespaced else ""),
        "load average at start": " ".join(f"{load:.2f}" for load in os.getloadavg()),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def machine_text(info: dict[str, str]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in info.items())


def report(rows: list[Row], info: dict[str, str] | None = None, json_path: Path | None = None, **extra: Any) -> None:
    """Print the machine and the table on stdout and write everything as JSON (when ``json_path`` is given)."""
    info = info or machine()
    print(machine_text(info) + "\n")
    print(markdown_table(rows))
    if json_path is not None:
        payload = {"machine": info, **extra, "results": [row.as_json() for row in rows]}
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\n(figures written to {json_path})")


def progress(message: str) -> None:
    """A progress line on stderr, with the seconds since the start."""
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


# -- statistics -------------------------------------------------------------------------------------------


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def percentile(samples: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100), interpolated between the closest ranks."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary_ms(samples: list[float]) -> dict[str, float]:
    """Count, p50, p95, p99, max and mean of samples in seconds, as milliseconds."""
    return {
        "count": len(samples),
        "p50_ms": percentile(samples, 50) * 1000,
        "p95_ms": percentile(samples, 95) * 1000,
        "p99_ms": percentile(samples, 99) * 1000,
        "max_ms": max(samples, default=float("nan")) * 1000,
        "mean_ms": statistics.fmean(samples) * 1000 if samples else float("nan"),
    }


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


# -- sessions and environment -----------------------------------------------------------------------------


def execute_tool(session: Session) -> Any:
    """The session's ``execute_code`` tool, called as the agent calls it."""
    return next(t for t in session.tools if t.tool_name == "execute_code")


def run_code(session: Session, code: str, language: str = "python", expect: str | None = None) -> str:
    """Run code through the tool; raise unless it succeeds (and prints ``expect``, when given)."""
    outcome = execute_tool(session)(code=code, language=language)
    text = "\n".join(str(block.get("text", "")) for block in outcome["content"])
    if outcome["status"] != "success" or (expect is not None and expect not in text):
        raise RuntimeError(f"Unexpected result of {code!r}: {outcome}")
    return text


@contextlib.contextmanager
def environment(variables: dict[str, str], cwd: Path | None = None) -> Iterator[None]:
    """Set environment variables (and the working folder) for a block, restoring them afterwards."""
    saved = {name: os.environ.get(name) for name in variables}
    old_cwd = os.getcwd()
    os.environ.update(variables)
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# -- a real Streamlit server --------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait until the Streamlit server at ``url`` answers its health check; raise if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the Streamlit server exited during start-up")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the Streamlit server did not become healthy within {timeout:g} s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Stop the server, then whatever it started that is still running (kernels, sandboxes), by process id."""
    import psutil

    try:
        started = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        started = []
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)
    for process in started:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(started, timeout=10)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real ``streamlit run app.py`` on a free loopback port, with ``env``; its output goes to ``log``.

    Yields:
        The server's URL and process. The file watcher is off, so edits made while it runs do not reach it.

    """
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    command += ["--server.fileWatcherType", "none"]
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(url, server)
            yield url, server
        finally:
            stop_server(server)


def run_main(benchmarks: Sequence[Callable[[Path, bool], list[Row]]], name: str, argv: list[str] | None = None) -> int:
    """The command line shared by the benchmark scripts: run ``benchmarks``, print the table, write JSON."""
    parser = argparse.ArgumentParser(description=f"Benchmark {name}; see the module docstring.")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / f"{name}.json", help="JSON output")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as folder:
        for bench in benchmarks:
            progress(f"{bench.__name__} ...")
            rows += bench(Path(folder), args.quick)
    report(rows, json_path=args.json)
    return 0
