"""What an MCP tool call costs: the agent's MCP tool against calling the same Python function directly.

The server is the test suite's real MCP server (``tests/mcp/server.py``, written with the ``mcp`` package), run
over stdio and over streamable HTTP on loopback. Each call goes the agent's way (``core.mcp.tools.McpTool``:
JSON-RPC to the server, the result cut and recorded as a step); the direct side calls ``add_numbers`` in this
process. The figure is the overhead per call (MCP median minus direct median), with the bare Strands
``MCPClient.call_tool_sync`` beside it. Also: how long connecting and listing the tools takes. Goal: at most
10 ms of overhead per call over stdio. Run alone with ``python -m bench.mcp``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.common import ROOT, Row, free_port, run_main
from core.config import Settings
from core.mcp.hub import McpHub
from core.mcp.tools import McpTool
from tests.mcp.host import Host
from tests.mcp.server import add_numbers

CALLS = 300
GOAL_MS = 10.0


def _direct(count: int) -> list[float]:
    times = []
    for number in range(count):
        started = time.perf_counter()
        add_numbers(number, 1)
        times.append(time.perf_counter() - started)
    return times


async def _through_tool(tool: McpTool, count: int) -> list[float]:
    times = []
    for number in range(count):
        use: Any = {"toolUseId": f"b{number}", "name": tool.tool_name, "input": {"a": number, "b": 1}}
        started = time.perf_counter()
        events = [event async for event in tool.stream(use, {})]
        times.append(time.perf_counter() - started)
        assert events[-1].tool_result["content"][0]["text"] == str(number + 1)
    return times


def _bare(tool: McpTool, count: int) -> list[float]:
    client = tool.connection._client  # the bare Strands client, for comparison
    assert client is not None
    times = []
    for number in range(count):
        started = time.perf_counter()
        client.call_tool_sync(f"r{number}", "add", {"a": number, "b": 1})
        times.append(time.perf_counter() - started)
    return times


def _measure(settings: Settings, servers: dict[str, Any], count: int) -> dict[str, float]:
    started = time.perf_counter()
    hub = McpHub(settings.model_copy(update={"mcp_servers": SecretStr(json.dumps(servers))}))
    try:
        if not hub.wait_ready(60) or hub.connections[0].state != "connected":
            raise RuntimeError(f"the MCP server did not connect: {hub.connections[0].reason}")
        connect = time.perf_counter() - started
        connection = hub.connections[0]
        add = next(each for each in connection.tools if each.mcp_tool.name == "add")
        tool = McpTool(connection, add, Host(settings))
        asyncio.run(_through_tool(tool, 20))  # warm up
        via_tool = asyncio.run(_through_tool(tool, count))
        bare = _bare(tool, count)
    finally:
        hub.close()
    direct = _direct(count)
    return {
        "connect_s": connect,
        "tool_ms": statistics.median(via_tool) * 1000,
        "bare_ms": statistics.median(bare) * 1000,
        "direct_ms": statistics.median(direct) * 1000,
    }


def bench_mcp(tmp: Path, quick: bool = False) -> list[Row]:
    """MCP tool calls over stdio and HTTP against the direct function call."""
    settings = Settings(data_dir=tmp / "mcp", mcp_connect_timeout=60)
    count = 50 if quick else CALLS
    stdio = {"b": {"command": sys.executable, "args": ["-m", "tests.mcp.server"], "cwd": str(ROOT)}}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.mcp.server", "--http", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        figures = {"stdio": _measure(settings, stdio, count)}
        deadline = time.monotonic() + 30
        while True:  # the HTTP server listens within a second or two
            try:
                figures["HTTP"] = _measure(settings, {"b": {"url": f"http://127.0.0.1:{port}/mcp"}}, count)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
    finally:
        server.kill()
        server.wait()
    rows = []
    for transport, figure in figures.items():
        overhead = figure["tool_ms"] - figure["direct_ms"]
        rows.append(
            Row(
                f"MCP tool call over {transport} (add two numbers), overhead vs calling the function directly",
                overhead,
                "ms",
                goal=GOAL_MS if transport == "stdio" else None,
                extra=f"agent's tool {figure['tool_ms']:.2f} ms, bare Strands client {figure['bare_ms']:.2f} ms, "
                f"direct {figure['direct_ms'] * 1000:.2f} µs; medians of {count}; connect and list "
                f"{figure['connect_s']:.2f} s",
                detail=figure,
            )
        )
    return rows


if __name__ == "__main__":
    raise SystemExit(run_main([bench_mcp], "mcp"))
