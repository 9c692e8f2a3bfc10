"""The MCP servers an admin chose: ``INTERPRETER_MCP_SERVERS``, a JSON object (or a JSON file's path).

Each entry is a server name (letters, digits, ``_``, ``-``) and either a command run over stdio or a streamable
HTTP address::

    {"files": {"command": "uvx", "args": ["mcp-server-fetch"], "env": {"LOG": "0"}},
     "search": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer ${SEARCH_TOKEN}"}}}

``${NAME}`` in an ``env`` or ``headers`` value is read from the app's environment, so a secret need not be written
in the setting itself. Header and environment values are secrets: they are never shown or logged.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.errors import InterpreterError

NAME = re.compile(r"^[A-Za-z0-9_-]{1,24}$")
VARIABLE = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\}")
KNOWN_KEYS = {"command", "args", "env", "cwd", "url", "headers", "disabled"}


class McpConfigError(InterpreterError):
    """The MCP servers setting cannot be read; the message says what to fix."""


@dataclass(frozen=True)
class ServerConfig:
    """One MCP server: a command over stdio, or a streamable HTTP address.

    Attributes:
        name: Its name; its tools are called ``<name>_<tool>``.
        command: The program to run (stdio), or empty.
        args: The program's arguments.
        env: Extra environment variables for the program (secret: never shown).
        cwd: The program's working folder, or empty.
        url: The streamable HTTP address (``http://`` or ``https://``), or empty.
        headers: HTTP headers sent with every request (secret: never shown).

    """

    name: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    cwd: str = ""
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def transport(self) -> str:
        """``stdio`` or ``http``."""
        return "http" if self.url else "stdio"

    @property
    def where(self) -> str:
        """What the UI may show of it: the program's name, or the address without credentials or query."""
        if self.url:
            parts = urlsplit(self.url)
            host = parts.hostname or ""
            host = f"[{host}]" if ":" in host else host
            return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"
        return Path(self.command).name


def _text_map(name: str, key: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise McpConfigError(f"MCP server {name!r}: {key!r} must be an object of texts.")
    return {str(k): _interpolate(name, v) for k, v in value.items()}


def _interpolate(name: str, value: str) -> str:
    def variable(match: re.Match[str]) -> str:
        if match.group(1) not in os.environ:
            raise McpConfigError(f"MCP server {name!r}: the environment variable {match.group(1)} is not set.")
        return os.environ[match.group(1)]

    return VARIABLE.sub(variable, value)


def _server(name: str, entry: Any) -> ServerConfig | None:
    if not NAME.match(name):
        raise McpConfigError(f"MCP server name {name[:40]!r}: use 1 to 24 letters, digits, '_' or '-'.")
    if not isinstance(entry, dict):
        raise McpConfigError(f"MCP server {name!r} must be an object with a 'command' or a 'url'.")
    if unknown := sorted(set(entry) - KNOWN_KEYS):
        raise McpConfigError(f"MCP server {name!r}: unknown key(s) {', '.join(unknown)}.")
    if entry.get("disabled"):
        return None
    command, url = entry.get("command") or "", entry.get("url") or ""
    if bool(command) == bool(url) or not isinstance(command, str) or not isinstance(url, str):
        raise McpConfigError(f"MCP server {name!r} needs either a 'command' (stdio) or a 'url' (HTTP), not both.")
    if url and not url.startswith(("http://", "https://")):
        raise McpConfigError(f"MCP server {name!r}: the url must start with http:// or https://.")
    args = entry.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise McpConfigError(f"MCP server {name!r}: 'args' must be a list of texts.")
    if url and (entry.get("env") or entry.get("args") or entry.get("cwd")):
        raise McpConfigError(f"MCP server {name!r}: 'args', 'env' and 'cwd' belong to a command, not a url.")
    if command and entry.get("headers"):
        raise McpConfigError(f"MCP server {name!r}: 'headers' belong to a url, not a command.")
    return ServerConfig(
        name=name,
        command=command,
        args=tuple(args),
        env=_text_map(name, "env", entry.get("env")),
        cwd=str(entry.get("cwd") or ""),
        url=url,
        headers=_text_map(name, "headers", entry.get("headers")),
    )


def parse_servers(value: str) -> list[ServerConfig]:
    """The servers of the setting ``INTERPRETER_MCP_SERVERS``.

    Args:
        value: A JSON object of servers (optionally under ``"mcpServers"``), or the path of a file holding one;
            empty for none.

    Returns:
        The enabled servers, in the order written.

    Raises:
        McpConfigError: What is wrong, in plain words (never a header's or variable's value).

    """
    text = value.strip()
    if not text:
        return []
    if not text.startswith(("{", "[")):
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise McpConfigError(f"INTERPRETER_MCP_SERVERS: the file could not be read ({exc.strerror}).") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise McpConfigError(f"INTERPRETER_MCP_SERVERS is not valid JSON: {exc.msg} (line {exc.lineno}).") from None
    if isinstance(data, dict) and isinstance(data.get("mcpServers"), dict):
        data = data["mcpServers"]
    if not isinstance(data, dict):
        raise McpConfigError("INTERPRETER_MCP_SERVERS must be a JSON object: server names to their settings.")
    servers = [_server(str(name), entry) for name, entry in data.items()]
    return [server for server in servers if server is not None]
