"""MCP servers for the tests: the real one of :mod:`tests.mcp.server` over stdio and over HTTP, and broken ones."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from core.mcp.hub import close_hubs
from tests.conftest import wait_for
from tests.servers import free_port

REPO = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-header-value"
HANGING_SERVER = "import sys, time\nsys.stdin.read(1)\ntime.sleep(600)\n"
"""A program that reads the first byte of the handshake and never answers."""


def stdio_server(**extra: Any) -> dict[str, Any]:
    """The test server run over stdio."""
    return {"command": sys.executable, "args": ["-m", "tests.mcp.server"], "cwd": str(REPO), **extra}


def servers_setting(servers: dict[str, Any]) -> str:
    """The value of INTERPRETER_MCP_SERVERS for ``servers``."""
    return json.dumps(servers)


@pytest.fixture(autouse=True)
def fresh_hubs() -> Iterator[None]:
    """Every test connects afresh, and its servers are disconnected after it."""
    close_hubs()
    yield
    close_hubs()


@contextmanager
def serving_http(token: str = "") -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The test server over streamable HTTP on loopback (with ``token``: requiring ``Authorization: Bearer``)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.mcp.server", "--http", str(port), "--token", token],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(listening, "the MCP test server to listen", 30)
        yield f"http://127.0.0.1:{port}/mcp", process
    finally:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """The test server over HTTP, requiring ``Authorization: Bearer TOKEN``; its URL."""
    with serving_http(TOKEN) as (url, _):
        yield url


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a hung HTTP server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]
