"""Live previews: the first byte of an answer of a server in a sandbox, through the preview proxy.

A local sandbox without network (``none``) runs ``python -m http.server``; the app's preview route and proxy
(:mod:`core.web.preview_proxy`) are served by uvicorn on ``127.0.0.1``, and requests name the preview host in
their ``Host`` header with the preview's cookie, as a browser does after Open preview. Figures, each request on a
new connection:

- first byte through the proxy: from sending a ``GET`` of a small file to the proxy until the answer's first byte
  (the proxy checks the cookie, finds the port in the sandbox's namespace, connects there through its helper and
  forwards), against the same request sent straight over a socket the namespace's helper connected;
- the first request of a sandbox, which also starts the helper that enters its namespace.

Goal: first byte through the proxy within 50 ms (median). Run alone with ``python -m bench.preview_proxy``.
"""

from __future__ import annotations

import http.client
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import Row, run_main
from core.config import Settings
from core.sandbox.local.ports import sandbox_ports
from core.sandbox.local.sandbox import LocalSandbox
from core.web.previews import Previews, preview_host, preview_path

GOAL_MS = 50.0
INNER = 8765
REQUEST = b"GET /hello.txt HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nConnection: close\r\n\r\n"


@contextmanager
def _proxy(previews: Previews) -> Iterator[int]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    from core.web.preview_proxy import PreviewProxy, preview_route

    app = Starlette(
        routes=[preview_route("", previews, requester=lambda cookies: "bench", domain="localhost")],
        middleware=[Middleware(PreviewProxy, previews=previews, domain="localhost")],
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the proxy's server did not start")
        time.sleep(0.02)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _first_byte(open_socket: Callable[[], socket.socket], request: bytes) -> float:
    """Seconds from sending ``request`` on a new connection until the first byte of the answer arrives."""
    with open_socket() as sock:
        started = time.perf_counter()
        sock.sendall(request)
        first = sock.recv(1)
        took = time.perf_counter() - started
        assert first == b"H", first
        while sock.recv(65536):
            pass
    return took


def _get(port: int, path: str, host: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers={"Host": host})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def _wait_until(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the server in the sandbox did not start listening")
        time.sleep(0.05)


def bench_preview_proxy(folder: Path, quick: bool) -> list[Row]:
    """Measure the first byte through the preview proxy, and a sandbox's first request."""
    count = 30 if quick else 200
    data = Path(tempfile.mkdtemp(prefix="preview-", dir=folder))
    sandbox = LocalSandbox(Settings(data_dir=data, kernel_pool_size=0, sandbox_network="none"), data / "session")
    try:
        sandbox.write_file("hello.txt", b"x" * 512)
        sandbox.start_task(f"python -m http.server {INNER} --bind 127.0.0.1 --directory /sandbox")
        ports = sandbox_ports(sandbox)
        if ports is None:
            raise RuntimeError("this sandbox has no network namespace of its own (bubblewrap is not in use)")
        ports.close()  # measured below: the first request of a sandbox starts its helper
        ports = sandbox_ports(sandbox)
        assert ports is not None
        previews = Previews()
        target = previews.offer("bench", "c1", ports)
        with _proxy(previews) as port:
            began = time.perf_counter()
            _wait_until(lambda: INNER in ports.listening())
            helper_ms = (time.perf_counter() - began) * 1000
            link = urlsplit(_get(port, preview_path("", target.token, INNER), f"127.0.0.1:{port}").headers["location"])
            login = _get(port, f"{link.path}?{link.query}", link.netloc)
            cookie = login.headers["set-cookie"].split(";")[0]
            host = f"{preview_host(INNER, target.token)}:{port}"
            through_request = REQUEST % (host.encode(), cookie.encode())
            direct_request = REQUEST % (f"127.0.0.1:{INNER}".encode(), b"")

            def to_proxy() -> socket.socket:
                return socket.create_connection(("127.0.0.1", port), timeout=30)

            def to_sandbox() -> socket.socket:
                return ports.connect(INNER)

            for _ in range(3):  # warm up
                _first_byte(to_proxy, through_request)
                _first_byte(to_sandbox, direct_request)
            through = [_first_byte(to_proxy, through_request) for _ in range(count)]
            direct = [_first_byte(to_sandbox, direct_request) for _ in range(count)]
    finally:
        sandbox.close()
    through_ms, direct_ms = statistics.median(through) * 1000, statistics.median(direct) * 1000
    p90 = statistics.quantiles(through, n=10)[-1] * 1000
    return [
        Row(
            "Preview: first byte through the proxy",
            through_ms,
            "ms",
            goal=GOAL_MS,
            extra=f"p90 {p90:.2f} ms; {direct_ms:.2f} ms straight over a socket in the sandbox's namespace; "
            f"medians of {count}, each on a new connection",
            detail={"through_ms": through_ms, "direct_ms": direct_ms, "p90_ms": p90},
        ),
        Row(
            "Preview: a sandbox's first look at its ports (starts the namespace's helper)",
            helper_ms,
            "ms",
            extra="once per network namespace",
        ),
    ]


BENCHMARKS = (bench_preview_proxy,)

if __name__ == "__main__":
    raise SystemExit(run_main(BENCHMARKS, "preview_proxy"))
