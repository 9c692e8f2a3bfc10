"""The side panel's MCP part: each server an admin chose, its state (connected, connecting, failed and why), its tools.

What a server says of its tools is untrusted: names and descriptions are shown literally and cut short. Header
and environment values are never shown; an HTTP server is named by its address without the query.
"""

from __future__ import annotations

import streamlit as st

from core.mcp.connection import ServerStatus
from core.mcp.hub import McpHub
from core.text import escape_markdown

DESCRIPTION_CHARS = 200
SHOWN_TOOLS = 30
STATE_WORDS = {
    "connected": (":material/check_circle:", "connected"),
    "connecting": (":material/hourglass_top:", "connecting"),
    "failed": (":material/error:", "failed"),
}


def server_line(status: ServerStatus) -> str:
    """One server as a Markdown line: icon, name, state (and why it failed), how many tools."""
    icon, state = STATE_WORDS[status.state]
    line = f"{icon} **{escape_markdown(status.name)}** · {state}"
    if status.state == "failed" and status.reason:
        line += f": {escape_markdown(status.reason)}"
    if status.state == "connected":
        line += f" · {len(status.tools)} tool{'s' * (len(status.tools) != 1)}"
    return line


def _server(hub: McpHub, status: ServerStatus) -> None:
    st.markdown(server_line(status))
    st.caption(f"{'stdio' if status.transport == 'stdio' else 'HTTP'}: {escape_markdown(status.where[:120])}")
    for name, description in status.tools[:SHOWN_TOOLS]:
        said = " ".join(description.split())
        cut = said[:DESCRIPTION_CHARS] + ("…" if len(said) > DESCRIPTION_CHARS else "")
        st.caption(f"`{name}` {escape_markdown(cut)}")
    if len(status.tools) > SHOWN_TOOLS:
        st.caption(f"… and {len(status.tools) - SHOWN_TOOLS} more tools.")
    if status.left_out:
        st.caption(escape_markdown(status.left_out))
    if status.state == "failed":
        st.button(
            "Connect again",
            key=f"mcp_reconnect_{status.name}",
            icon=":material/refresh:",
            on_click=hub.reconnect,
            args=(status.name,),
        )


def render_mcp_servers(hub: McpHub | None) -> None:
    """The MCP servers and their tools, in an expander that says at a glance whether one failed."""
    if hub is None:
        return
    statuses = hub.statuses()
    failed = sum(status.state == "failed" for status in statuses)
    label = f"MCP tools: {len(statuses) - failed} of {len(statuses)} servers connected"
    if hub.problem:
        label = "MCP tools: the setting could not be read"
    with st.expander(label, icon=":material/error:" if failed or hub.problem else ":material/extension:"):
        if hub.problem:
            st.error(escape_markdown(hub.problem))
        for status in statuses:
            _server(hub, status)
        st.caption("An admin chooses these servers (INTERPRETER_MCP_SERVERS); their tools join the agent's.")
