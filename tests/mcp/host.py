"""A session as MCP tools see it, for the MCP tests and ``bench.mcp``."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from core.config import Settings
from core.types import ToolRecord


class Host:
    """A session as MCP tools see it: settings, a Stop, and the calls recorded."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sandbox: Any = SimpleNamespace(cancel=threading.Event())
        self.records: list[ToolRecord] = []

    def record(self, entry: ToolRecord) -> None:
        self.records.append(entry)
