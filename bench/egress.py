"""The egress allow-list's cost: a request through its proxy against the same request made directly.

Everything stays on this machine: a small HTTP server on ``127.0.0.1`` answers every request (HTTP/1.0, one per
connection, as the proxy forwards them), and the proxy's resolver maps the test name ``bench.test`` to it (with
``127.0.0.1/32`` opened, as ``INTERPRETER_SANDBOX_ALLOWED_NETWORKS`` would). Figures, medians over many requests,
each on a new connection:

- plain HTTP from the app's process: through a gate of the proxy on a loopback listener, against directly;
- a ``CONNECT`` tunnel (how HTTPS goes) with one request through it, against a direct connection and request;
- sandbox code (Python's urllib, finding the proxy in ``HTTP_PROXY``) in a real ``allowlist`` sandbox, against
  the same script run on the host without a proxy.

Goal: at most 5 ms added per request. Run alone with ``python -m bench.egress``.
"""

from __future__ import annotations

import http.client
import json
import shlex
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import Row, run_main
from core.config import Settings
from core.sandbox.local import egress
from core.sandbox.local.allowlist import AllowList
from tests.wire.http import BodyHandler, loopback_port

GOAL_MS = 5.0
NAME = "bench.test"

# Run by sandbox code and, for comparison, on the host: time each request, print the times in seconds as JSON.
CLIENT = """
import json, sys, time, urllib.request
url, count = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(count):
    started = time.perf_counter()
    urllib.request.urlopen(url, timeout=10).read()
    times.append(time.perf_counter() - started)
print(json.dumps(times))
"""


class _Answer(BodyHandler):
    def body(self) -> bytes:
        return b"x" * 512


@contextmanager
def _gate(port: int) -> Iterator[int]:
    """A gate of the proxy on a loopback listener, allowing ``bench.test`` (resolved to 127.0.0.1)."""
    saved = egress.RESOLVE
    egress.RESOLVE = lambda host, _port: ["127.0.0.1"]
    listener = socket.create_server(("127.0.0.1", 0))
    gate = egress.egress_proxy().open_gate(listener, AllowList([f"{NAME}:{port}"], ["127.0.0.1/32"]))
    try:
        yield int(listener.getsockname()[1])
    finally:
        gate.close()
        egress.RESOLVE = saved


def _samples(count: int, request: Callable[[], None]) -> list[float]:
    request()  # warm up
    times = []
    for _ in range(count):
        started = time.perf_counter()
        request()
        times.append(time.perf_counter() - started)
    return times


def _get(host_port: int, path: str, tunnel: tuple[str, int] | None = None) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", host_port, timeout=10)
    if tunnel:
        connection.set_tunnel(*tunnel)
    connection.request("GET", path)
    connection.getresponse().read()
    connection.close()


def _row(benchmark: str, through: list[float], direct: list[float], how: str) -> Row:
    through_ms, direct_ms = statistics.median(through) * 1000, statistics.median(direct) * 1000
    return Row(
        benchmark,
        through_ms - direct_ms,
        "ms",
        goal=GOAL_MS,
        extra=f"{through_ms:.2f} ms through the proxy vs {direct_ms:.2f} ms direct, medians of {len(through)} {how}",
        detail={"through_ms": through_ms, "direct_ms": direct_ms},
    )


def _in_sandbox(folder: Path, port: int, count: int) -> list[float]:
    """The request times sandbox code measures in a real allow-list sandbox."""
    from core.sandbox.local.sandbox import LocalSandbox

    saved = egress.RESOLVE
    egress.RESOLVE = lambda host, _port: ["127.0.0.1"]
    settings = Settings(
        data_dir=folder / "data",
        kernel_pool_size=0,
        sandbox_network="allowlist",
        sandbox_allowed_domains=[f"{NAME}:{port}"],
        sandbox_allowed_networks=["127.0.0.1/32"],
    )
    sandbox = LocalSandbox(settings, settings.sessions_dir / "local" / "egress-bench")
    try:
        if not sandbox.isolation_report().network.startswith("allow-list"):
            raise RuntimeError(f"no allow-list network here: {sandbox.isolation_report().warnings}")
        command = f"python3 -c {shlex.quote(CLIENT)} http://{NAME}:{port}/ {count + 1}"
        result = sandbox.run_command(command)
        if result.exit_code:
            raise RuntimeError(result.stdout + result.stderr)
        times: list[float] = json.loads(result.stdout)[1:]
        return times
    finally:
        sandbox.close()
        egress.RESOLVE = saved


def _on_host(port: int, count: int) -> list[float]:
    command = [sys.executable, "-I", "-c", CLIENT, f"http://127.0.0.1:{port}/", str(count + 1)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    times: list[float] = json.loads(done.stdout)[1:]
    return times


def bench_egress(folder: Path, quick: bool = False) -> list[Row]:
    """Requests through the allow-list's proxy against direct ones (see the module docstring)."""
    count = 100 if quick else 500
    rows = []
    with loopback_port(_Answer) as port, _gate(port) as proxy:
        direct = _samples(count, lambda: _get(port, "/"))
        through = _samples(count, lambda: _get(proxy, f"http://{NAME}:{port}/"))
        rows.append(_row("egress proxy: a plain HTTP request, added time", through, direct, "requests"))
        tunnelled = _samples(count, lambda: _get(proxy, "/", tunnel=(NAME, port)))
        rows.append(_row("egress proxy: a CONNECT tunnel and one request, added time", tunnelled, direct, "requests"))
        try:
            inside, outside = _in_sandbox(folder, port, count), _on_host(port, count)
            rows.append(_row("egress: a request by sandbox code (urllib), added time", inside, outside, "requests"))
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            rows.append(Row.failure("egress: a request by sandbox code (urllib), added time", exc))
    return rows


BENCHMARKS = (bench_egress,)


def main(argv: list[str] | None = None) -> int:
    return run_main(BENCHMARKS, "egress", argv)


if __name__ == "__main__":
    sys.exit(main())
