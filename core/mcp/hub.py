"""The MCP servers of this process, and the hook that gives a conversation's agent their tools turn by turn.

One :class:`McpHub` per servers setting serves every conversation (its connections start when it is first
asked for). At the start of each agent turn :class:`McpTools` waits, at most until the connections' deadlines,
for servers still connecting, adds the tools of connected servers to the agent, takes out those of failed ones
and says once per failure that they were left out.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from strands.hooks import BeforeInvocationEvent, HookProvider, HookRegistry

from core.config import Settings
from core.mcp.config import McpConfigError, parse_servers
from core.mcp.connection import McpConnection, ServerStatus
from core.mcp.tools import McpHost, McpTool

Notify = Callable[[str], None]


class McpHub:
    """The connections to the servers of one setting.

    Args:
        settings: The settings (``mcp_servers``, ``mcp_connect_timeout``, ``mcp_call_timeout``).

    """

    def __init__(self, settings: Settings) -> None:
        self.problem = ""
        self.connections: list[McpConnection] = []
        try:
            servers = parse_servers(settings.mcp_servers.get_secret_value())
        except McpConfigError as exc:
            self.problem = str(exc)
            servers = []
        for server in servers:
            connection = McpConnection(server, settings.mcp_connect_timeout, settings.mcp_call_timeout)
            self.connections.append(connection)
            connection.start()

    def statuses(self) -> list[ServerStatus]:
        """Each server's state, in the setting's order."""
        return [connection.status() for connection in self.connections]

    def wait_ready(self, timeout: float) -> bool:
        """Wait until no server is still connecting, at most ``timeout`` seconds; whether none is."""
        deadline = time.monotonic() + timeout
        return all(connection.ready.wait(max(deadline - time.monotonic(), 0)) for connection in self.connections)

    def reconnect(self, name: str) -> None:
        """Connect to a server again (after it failed, say)."""
        for connection in self.connections:
            if connection.config.name == name:
                connection.start()

    def close(self) -> None:
        """Disconnect every server."""
        for connection in self.connections:
            connection.close()


_HUBS: dict[tuple[str, float, float], McpHub] = {}
_HUBS_LOCK = threading.Lock()


def hub_for(settings: Settings) -> McpHub | None:
    """The process's hub for these settings' MCP servers (made and connecting on first use); None without any."""
    servers = settings.mcp_servers.get_secret_value()
    if not servers.strip():
        return None
    key = (servers, settings.mcp_connect_timeout, settings.mcp_call_timeout)
    with _HUBS_LOCK:
        hub = _HUBS.get(key)
        if hub is None:
            hub = _HUBS[key] = McpHub(settings)
        return hub


@atexit.register
def close_hubs() -> None:
    """Disconnect every hub (at exit; tests call it to start afresh)."""
    with _HUBS_LOCK:
        hubs = list(_HUBS.values())
        _HUBS.clear()
    for hub in hubs:
        with contextlib.suppress(Exception):
            hub.close()


class McpTools(HookProvider):
    """Keeps a conversation's agent's MCP tools in step with the servers, at the start of every turn.

    Args:
        hub: The servers.
        host: The conversation's session (its tools record their calls there).
        notify: Says something in the chat (a server left out, and why).

    """

    def __init__(self, hub: McpHub, host: McpHost, notify: Notify) -> None:
        self.hub = hub
        self.host = host
        self.notify = notify
        self._told: set[tuple[str, str]] = set()

    def register_hooks(self, registry: HookRegistry, **kwargs: Any) -> None:
        """Sync the tools before each invocation."""
        registry.add_callback(BeforeInvocationEvent, self.sync)

    def sync(self, event: BeforeInvocationEvent) -> None:
        """Add connected servers' tools to the agent, take out failed ones', and tell what was left out."""
        tools = event.agent.tool_registry.registry
        if self.hub.problem and ("", self.hub.problem) not in self._told:
            self._told.add(("", self.hub.problem))
            self.notify(f"The MCP servers setting could not be read, so no MCP tools are offered: {self.hub.problem}")
        self.hub.wait_ready(max((c.connect_timeout for c in self.hub.connections), default=0) + 1)
        for connection in self.hub.connections:
            name = connection.config.name
            mine = [key for key, tool in tools.items() if getattr(tool, "mcp_server", None) == name]
            if connection.state != "connected":
                for key in mine:
                    del tools[key]
                reason = connection.reason or "it is still connecting"
                if (name, reason) not in self._told:
                    self._told.add((name, reason))
                    self.notify(f"The MCP server {name!r} is not available ({reason}): its tools are left out.")
                continue
            self._told = {told for told in self._told if told[0] != name}  # a later failure is told again
            offered = {key: tools[key] for key in mine}
            for key in mine:
                del tools[key]
            for mcp_tool in connection.tools:
                tool = McpTool(connection, mcp_tool, self.host)
                if tool.tool_name in tools or not tool.fits():
                    continue  # a clash with another tool, or a schema too large: left out (the side panel says so)
                previous = offered.get(tool.tool_name)
                same = isinstance(previous, McpTool) and previous.mcp_tool is mcp_tool
                tools[tool.tool_name] = previous if same and previous is not None else tool
