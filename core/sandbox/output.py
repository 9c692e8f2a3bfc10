"""Collecting what a run prints and displays, with a bound on size."""

from __future__ import annotations

import base64
import re
from typing import Any

from core.types import (
    IMAGE_JPEG,
    IMAGE_PNG,
    IMAGE_SVG,
    JSON,
    PLOTLY_JSON,
    TABLE_JSON,
    TEXT_HTML,
    TEXT_MARKDOWN,
    ExecutionError,
    ExecutionResult,
    RichOutput,
)

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# The most useful representation first: one rich output per display call.
PREFERRED_MIME_TYPES = (
    PLOTLY_JSON,
    TABLE_JSON,
    IMAGE_PNG,
    IMAGE_JPEG,
    IMAGE_SVG,
    TEXT_HTML,
    TEXT_MARKDOWN,
    JSON,
)
MAX_RICH_OUTPUTS = 50


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes."""
    return ANSI_ESCAPE.sub("", text)


class BoundedText:
    """Text that keeps its first and last ``limit // 2`` characters and counts what it dropped between.

    Args:
        limit: The most characters kept.

    """

    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head = ""
        self.tail = ""
        self.dropped = 0

    def add(self, text: str) -> None:
        """Append text, dropping the middle when the bound is passed."""
        if len(self.head) < self.half:
            room = self.half - len(self.head)
            self.head += text[:room]
            text = text[room:]
        if not text:
            return
        combined = self.tail + text
        if len(combined) > self.half:
            self.dropped += len(combined) - self.half
            combined = combined[-self.half :]
        self.tail = combined

    @property
    def truncated(self) -> bool:
        """Whether anything was dropped."""
        return self.dropped > 0

    def text(self) -> str:
        """The kept text, with a marker where the middle was dropped."""
        if not self.dropped:
            return self.head + self.tail
        return f"{self.head}\n\n[... {self.dropped:,} characters omitted ...]\n\n{self.tail}"


def rich_output(data: dict[str, Any]) -> RichOutput | None:
    """Turn a Jupyter MIME bundle into the one representation worth showing.

    Args:
        data: The ``data`` of a ``display_data`` or ``execute_result`` message.

    Returns:
        The best representation with its plain-text fallback; a ``text/plain`` output when that is all there
        is; ``None`` for an empty bundle.

    """
    text = strip_ansi(str(data.get("text/plain", "")))
    for mime in PREFERRED_MIME_TYPES:
        if mime not in data:
            continue
        value = data[mime]
        if mime in (IMAGE_PNG, IMAGE_JPEG) and isinstance(value, str):
            value = base64.b64decode(value)
        elif isinstance(value, list):
            value = "".join(value)
        return RichOutput(mime_type=mime, data=value, text=text)
    return RichOutput(mime_type="text/plain", data=text, text=text) if text else None


class OutputCollector:
    """Accumulates one run's streams, rich outputs and error into an :class:`ExecutionResult`.

    Args:
        limit: The most characters kept of stdout and of stderr each.

    """

    def __init__(self, limit: int) -> None:
        self.stdout = BoundedText(limit)
        self.stderr = BoundedText(limit)
        self.outputs: list[RichOutput] = []
        self.dropped_outputs = 0
        self.error: ExecutionError | None = None

    def stream(self, name: str, text: str) -> None:
        """Add text printed to ``stdout`` or ``stderr``."""
        (self.stderr if name == "stderr" else self.stdout).add(text)

    def display(self, data: dict[str, Any]) -> None:
        """Add a displayed object."""
        output = rich_output(data)
        if output is None:
            return
        if len(self.outputs) >= MAX_RICH_OUTPUTS:
            self.dropped_outputs += 1
            return
        self.outputs.append(output)

    def clear(self) -> None:
        """Forget what was displayed so far (``clear_output``)."""
        self.outputs.clear()

    def fail(self, name: str, value: str, traceback: list[str]) -> None:
        """Record the exception the code raised."""
        self.error = ExecutionError(name=name, value=value, traceback=strip_ansi("\n".join(traceback)))

    def result(self, duration: float, exit_code: int | None = None) -> ExecutionResult:
        """The collected result, with notes on anything that was cut."""
        notes = []
        for name, buffer in (("Standard output", self.stdout), ("Standard error", self.stderr)):
            if buffer.truncated:
                notes.append(f"{name} was too long: {buffer.dropped:,} characters in the middle were omitted.")
        if self.dropped_outputs:
            notes.append(f"{self.dropped_outputs} more displayed outputs were omitted (limit {MAX_RICH_OUTPUTS}).")
        return ExecutionResult(
            stdout=strip_ansi(self.stdout.text()),
            stderr=strip_ansi(self.stderr.text()),
            exit_code=exit_code,
            error=self.error,
            outputs=list(self.outputs),
            duration=duration,
            notes=notes,
        )
