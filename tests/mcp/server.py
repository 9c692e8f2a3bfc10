"""A real MCP server for the tests, written with the ``mcp`` package; run over stdio or streamable HTTP.

``python -m tests.mcp.server`` serves stdio; ``--http PORT`` serves streamable HTTP on loopback (path ``/mcp``)
and, with ``--token T``, refuses requests without ``Authorization: Bearer T``. Its tools: ``add`` (the function
the benchmark also calls directly), ``echo``, ``shout`` (an oversized result), ``crash`` (the process exits in the
middle of the call) and ``hang`` (never answers). With ``--hang-listing`` it answers the handshake and never the
list of its tools.
"""

from __future__ import annotations

import argparse
import os
import time

import anyio
from mcp.server.mcpserver import MCPServer

server = MCPServer("test-tools")


def add_numbers(a: int, b: int) -> int:
    """Add two numbers (also called directly by the benchmark)."""
    return a + b


@server.tool(description="Add two numbers.")
def add(a: int, b: int) -> str:
    """Add two numbers."""
    return str(add_numbers(a, b))


@server.tool(description="Return the text unchanged. **Bold** [link](http://example.com) <b>html</b>")
def echo(text: str) -> str:
    """Echo the text."""
    return text


@server.tool(description="Return a very long text.")
def shout(size: int = 200_000) -> str:
    """A long result."""
    return "A" * size


@server.tool(description="Exit the server process in the middle of the call.")
def crash() -> str:
    """Crash mid-call."""
    os._exit(3)


@server.tool(description="Never answer.")
def hang() -> str:
    """Hang."""
    while True:
        time.sleep(1)


def main() -> None:
    """Serve stdio, or streamable HTTP with ``--http PORT``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=0)
    parser.add_argument("--token", default="")
    parser.add_argument("--hang-listing", action="store_true", help="answer the handshake, never the tool list")
    arguments = parser.parse_args()
    if arguments.hang_listing:

        async def never() -> list[object]:
            await anyio.sleep_forever()
            return []

        server.list_tools = never  # type: ignore[method-assign,assignment]
    if not arguments.http:
        server.run("stdio")
        return
    import uvicorn
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response

    app = server.streamable_http_app(host="127.0.0.1")
    token = arguments.token

    async def check(request: Request, call_next: object) -> Response:
        if token and request.headers.get("authorization") != f"Bearer {token}":
            return PlainTextResponse("no", status_code=401)
        return await call_next(request)  # type: ignore[operator,no-any-return]

    app.add_middleware(BaseHTTPMiddleware, dispatch=check)
    uvicorn.run(app, host="127.0.0.1", port=arguments.http, log_level="warning")


if __name__ == "__main__":
    main()
