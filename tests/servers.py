"""The real app server for tests: ``python -m streamlit run app.py`` on a free port, waited for, always stopped."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Variables of the web layer that a developer's environment must not leak into a test's server.
WEB_VARIABLES = ("INTERPRETER_ALLOW_ANONYMOUS", "INTERPRETER_ALLOWED_HOSTS", "INTERPRETER_ADMIN_EMAILS")


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving_asgi(app: Any) -> Iterator[int]:
    """An ASGI app (the app's own routes, say) on a real HTTP server, uvicorn on 127.0.0.1 in a thread: its port."""
    import threading

    import uvicorn

    from tests.conftest import wait_for

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), "the test server to start", 30)
    assert server.started, "the test server did not start"
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def app_environment(data_dir: Path, **variables: str) -> dict[str, str]:
    """The environment of a test server: no model, no kernel pool, ``data_dir``, and ``variables``."""
    env = {key: value for key, value in os.environ.items() if key not in WEB_VARIABLES}
    env.update(
        INTERPRETER_DATA_DIR=str(data_dir),
        INTERPRETER_MODEL_PROVIDER="none",
        INTERPRETER_KERNEL_POOL_SIZE="0",
    )
    env.update(variables)
    return env


def start_app(port: int, env: dict[str, str], *flags: str, output: Any = subprocess.PIPE) -> subprocess.Popen[str]:
    """Start ``streamlit run app.py`` from the repository (its ``.streamlit/config.toml`` applies).

    ``output`` takes the server's output: a pipe to read it (short-lived servers), or ``subprocess.DEVNULL`` for
    a server that lives long and logs much (a full pipe would block it).
    """
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), *flags]
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def get(
    port: int, path: str = "/_stcore/health", host: str | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    """GET ``path`` from 127.0.0.1:``port`` with the given ``Host`` header (and ``headers``); the status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", f"127.0.0.1:{port}" if host is None else host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_healthy(port: int, server: subprocess.Popen[str], timeout: float = 60) -> None:
    """Wait until the server answers its health check; fail with its output if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read() if server.stdout else ""
            raise AssertionError(f"the server exited during start-up ({server.returncode}):\n{output}")
        try:
            if get(port) == (200, b"ok"):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server did not become healthy within {timeout} s")


def stop(server: subprocess.Popen[str]) -> None:
    """Stop a server started by :func:`start_app` and wait for it."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    if server.stdout:
        server.stdout.close()


@contextmanager
def running_app(data_dir: Path, *flags: str, **variables: str) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """A healthy app server (port, process), stopped afterwards."""
    port = free_port()
    server = start_app(port, app_environment(data_dir, **variables), *flags)
    try:
        wait_until_healthy(port, server)
        yield port, server
    finally:
        stop(server)
