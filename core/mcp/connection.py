"""One MCP server's connection: started in the background, time-boxed, and its state in plain words.

The connection runs on Strands' ``MCPClient`` (its own thread and event loop). Connecting and listing tools
together must finish within ``connect_timeout`` seconds, else the server counts as failed and its tools are left
out; a call that does not answer within ``call_timeout`` ends with a plain error. Nothing here waits without a
limit, so a server that hangs never holds up a chat.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, Literal

import anyio
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client
from strands.tools.mcp import MCPClient
from strands.tools.mcp.mcp_agent_tool import MCPAgentTool
from strands.types.exceptions import MCPClientInitializationError

from core.mcp.config import ServerConfig

State = Literal["connecting", "connected", "failed"]
MAX_TOOLS = 64
"""The most tools one server may offer; more are left out (and the side panel says so)."""
CLOSED_WORDS = ("Connection closed", "connection closed", "was closed", "ClosedResourceError", "BrokenResourceError")
ABORT_POLL_SECONDS = 0.25
TIMEOUT_SETTING = "INTERPRETER_MCP_CALL_TIMEOUT"
TOOL_NAME_CHARS = 64
UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
logging.getLogger("strands.tools.mcp.mcp_client").setLevel(logging.CRITICAL)  # its tracebacks may quote headers


def agent_name(server: str, tool: str) -> str:
    """The name the agent calls a server's tool by: ``<server>_<tool>``, only ``[A-Za-z0-9_-]``, at most 64."""
    return f"{server}_{UNSAFE.sub('_', tool)}"[:TOOL_NAME_CHARS]


@dataclass(frozen=True)
class ServerStatus:
    """What the side panel shows of a server.

    Attributes:
        name: The server's name.
        transport: ``stdio`` or ``http``.
        where: The program's name or the address (never a header or an environment value).
        state: ``connecting``, ``connected`` or ``failed``.
        reason: Why it failed, in plain words (empty otherwise).
        tools: Its tools: the agent's name for each and its description (from the server: untrusted).
        left_out: Tools the server offered that were left out, and why.

    """

    name: str
    transport: str
    where: str
    state: State
    reason: str = ""
    tools: tuple[tuple[str, str], ...] = ()
    left_out: str = ""


class McpConnection:
    """A connection to one MCP server, shared by every conversation of this process.

    Args:
        config: The server.
        connect_timeout: Seconds connecting and listing the tools may take together.
        call_timeout: Seconds one tool call may take.

    """

    def __init__(self, config: ServerConfig, connect_timeout: float, call_timeout: float) -> None:
        self.config = config
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        self.state: State = "connecting"
        self.reason = ""
        self.tools: list[MCPAgentTool] = []
        self.left_out = ""
        self.ready = threading.Event()
        self.in_flight = 0
        """Calls waiting for the server's answer now."""
        self._client: MCPClient | None = None
        self._attempt = 0
        self._pending: dict[int, MCPClient] = {}  # clients still connecting, by attempt
        self._aborts: dict[int, threading.Event] = {}  # set: that attempt's transport is torn down
        self._lock = threading.Lock()

    def start(self) -> None:
        """Connect in the background; :attr:`ready` is set once it is connected or has failed."""
        with self._lock:
            self._attempt += 1
            attempt = self._attempt
            self.state, self.reason, self.tools, self.left_out = "connecting", "", [], ""
            self.ready.clear()
            old, self._client = self._client, None
        for earlier in [each for each in list(self._aborts) if each < attempt]:
            self._abort(earlier)
        if old is not None:
            _stop_later(old)
        threading.Thread(target=self._connect, args=(attempt,), name=f"mcp-{self.config.name}", daemon=True).start()
        threading.Thread(target=self._deadline, args=(attempt,), name="mcp-deadline", daemon=True).start()

    def _client_for(self, abort: threading.Event) -> MCPClient:
        config = self.config
        startup = max(int(self.connect_timeout + 0.999), 1)
        opener: Callable[[], AbstractAsyncContextManager[Any]]
        if config.url:
            opener = partial(_http_transport, config.url, dict(config.headers))
        else:
            parameters = StdioServerParameters(
                command=config.command, args=list(config.args), env=dict(config.env) or None, cwd=config.cwd or None
            )
            opener = partial(stdio_client, parameters, errlog=_devnull())
        transport: Any = partial(_abortable, opener, abort)
        return MCPClient(transport, startup_timeout=startup)

    def _connect(self, attempt: int) -> None:
        client: MCPClient | None = None
        try:
            client = self._pending[attempt] = self._client_for(self._aborts.setdefault(attempt, threading.Event()))
            client.start()
            tools = list(client.list_tools_sync())
        except Exception as exc:  # any failure to connect is the server's state, in plain words
            if client is not None:
                _stop_later(client)
            self._finish(attempt, None, [], connect_failure(exc, self.config, self.connect_timeout))
            return
        finally:
            self._pending.pop(attempt, None)
        self._finish(attempt, client, tools, "")

    def _deadline(self, attempt: int) -> None:
        if not self.ready.wait(self.connect_timeout + 0.5):
            self._finish(attempt, None, [], f"it did not answer within {self.connect_timeout:g} s")
            self._abort(attempt)  # its transport closes: a stdio server's process ends, a hung request too

    def _finish(self, attempt: int, client: MCPClient | None, tools: list[MCPAgentTool], reason: str) -> None:
        with self._lock:
            if attempt != self._attempt or self.ready.is_set():
                if client is not None:  # too late: the deadline already said it failed
                    _stop_later(client)
                return
            self._client = client
            self.tools = tools[:MAX_TOOLS]
            if len(tools) > MAX_TOOLS:
                self.left_out = f"{len(tools) - MAX_TOOLS} tools left out: a server may offer {MAX_TOOLS}."
            self.state, self.reason = ("failed", reason) if reason else ("connected", "")
            self.ready.set()

    def _abort(self, attempt: int) -> None:
        abort = self._aborts.pop(attempt, None)
        if abort is not None:
            abort.set()
        pending = self._pending.pop(attempt, None)
        if pending is not None:
            _stop_later(pending)

    def fail(self, reason: str) -> None:
        """Mark the server failed (its process ended, say); its tools are left out from the next turn on."""
        with self._lock:
            if self.state == "failed":
                return
            self.state, self.reason = "failed", reason
            client, self._client = self._client, None
        if client is not None:
            _stop_later(client)

    async def call(
        self, tool: MCPAgentTool, tool_use_id: str, arguments: dict[str, Any], cancel: Any
    ) -> dict[str, Any]:
        """Call one of the server's tools; a call that ends the connection marks the server failed.

        Returns:
            Strands' tool result (``status``, ``content``, perhaps ``structuredContent``).

        """
        client = self._client
        if client is None or self.state != "connected":
            return _error(f"The MCP server {self.config.name!r} is not connected ({self.reason or 'it is starting'}).")
        started = time.monotonic()
        self.in_flight += 1
        try:
            result: dict[str, Any] = dict(
                await client.call_tool_async(
                    tool_use_id=tool_use_id,
                    name=tool.mcp_tool.name,
                    arguments=arguments,
                    read_timeout_seconds=timedelta(seconds=self.call_timeout),
                    cancel_signal=cancel,
                )
            )
        except MCPClientInitializationError:  # its session ended since (an HTTP server gone, say)
            self.fail("its connection ended")
            return _error(f"The MCP server {self.config.name!r} is no longer connected; its tools are left out.")
        finally:
            self.in_flight -= 1
        if result.get("status") == "error" and not result.get("cancelled"):
            text = " ".join(str(block.get("text", "")) for block in result.get("content", []))
            if any(words in text for words in CLOSED_WORDS):
                self.fail("it stopped during a call")
                return _error(f"The MCP server {self.config.name!r} stopped during the call; its tools are left out.")
            if "timed out" in text.lower() or time.monotonic() - started >= self.call_timeout:
                return _error(f"The MCP tool did not answer within {self.call_timeout:g} s ({TIMEOUT_SETTING}).")
        if result.get("cancelled"):
            return _error("Stopped: the user pressed Stop (the server may finish the call on its own).")
        return result

    def status(self) -> ServerStatus:
        """The server's state for the UI."""
        config = self.config
        tools = tuple((agent_name(config.name, t.mcp_tool.name), t.mcp_tool.description or "") for t in self.tools)
        return ServerStatus(config.name, config.transport, config.where, self.state, self.reason, tools, self.left_out)

    def close(self) -> None:
        """Disconnect (a stdio server's process ends)."""
        with self._lock:
            self._attempt += 1
            client, self._client = self._client, None
        for attempt in list(self._aborts):
            self._abort(attempt)
        if client is not None:
            _stop_later(client)


def connect_failure(error: BaseException, config: ServerConfig, timeout: float) -> str:
    """Why connecting failed, in plain words without secrets (an exception's text may quote a header)."""
    chain: list[BaseException] = []
    waiting: list[BaseException] = [error]
    while waiting and len(chain) < 32:  # causes, contexts and the members of exception groups
        current = waiting.pop(0)
        if any(current is seen for seen in chain):
            continue
        chain.append(current)
        waiting += [e for e in (current.__cause__, current.__context__) if e is not None]
        waiting += list(getattr(current, "exceptions", ()))
    names = {type(each).__name__ for each in chain}
    texts = " ".join(str(each) for each in chain)
    if "FileNotFoundError" in names or "No such file" in texts:
        return f"the command {config.where!r} was not found"
    if "did not start in" in texts or "TimeoutError" in names:
        return f"it did not answer within {timeout:g} s"
    if any(f"'{code} " in texts or f" {code} " in texts for code in ("401", "403")):
        return "the server refused the credentials (HTTP 401/403)"
    if "ConnectError" in names or "Connection refused" in texts or "ConnectionRefused" in texts:
        return "nothing answers at its address"
    if "HTTPStatusError" in names or "Server returned an error response" in texts:
        return "the server refused the request (check its url and headers)"
    if "Connection closed" in texts:
        return "it closed the connection before it answered" if config.url else "its process ended before it answered"
    return "it could not be started"


class TransportAborted(Exception):
    """The connection was given up (its deadline passed, or it was closed): its transport is torn down."""


@contextlib.asynccontextmanager
async def _abortable(
    opener: Callable[[], AbstractAsyncContextManager[Any]], abort: threading.Event
) -> AsyncIterator[Any]:
    """A transport that ends, whatever the server does, once ``abort`` is set.

    Strands' own start-up timeout stops waiting but leaves a server that never answers the handshake running (its
    thread waits for it); here a watcher raises inside the transport's task group, which cancels the session and
    closes the transport: a stdio server's process is ended, an HTTP request is dropped.
    """
    async with opener() as streams, anyio.create_task_group() as group:

        async def watch() -> None:
            while not abort.is_set():
                await anyio.sleep(ABORT_POLL_SECONDS)
            raise TransportAborted("the connection was given up")

        group.start_soon(watch)
        try:
            yield streams
        finally:
            group.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def _http_transport(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    """The streamable HTTP transport of ``mcp`` 2, with the headers on every request."""
    async with (
        create_mcp_http_client(headers=headers or None) as http_client,
        streamable_http_client(url=url, http_client=http_client) as streams,
    ):
        yield streams


def _error(text: str) -> dict[str, Any]:
    return {"status": "error", "content": [{"text": text}]}


def _stop_later(client: MCPClient) -> None:
    """Stop a client in a thread of its own: stopping waits for its thread, which a hung server may hold."""

    def stop() -> None:
        with contextlib.suppress(Exception):
            client.stop(None, None, None)

    threading.Thread(target=stop, name="mcp-stop", daemon=True).start()


_DEVNULL: Any = None


def _devnull() -> Any:
    """Where a stdio server's error output goes: nowhere (it may print its secrets)."""
    global _DEVNULL
    if _DEVNULL is None:
        _DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - kept open for the process's life
    return _DEVNULL
