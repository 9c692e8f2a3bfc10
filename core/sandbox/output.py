"""Collecting what a run prints and displays, in the order it happens, with a bound on size.

The collector follows Jupyter's rules for a cell's output area: printed text joins the text printed just before
it, a carriage return rewrites the current line (progress bars), ``clear_output(wait=True)`` clears at the next
output, and ``update_display`` replaces the output with the same display id. While a run goes on, the collector
hands snapshots to a listener so the page can show the output live.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.types import (
    IMAGE_JPEG,
    IMAGE_PNG,
    IMAGE_SVG,
    JSON,
    PLOTLY_JSON,
    STDERR,
    STDOUT,
    TABLE_JSON,
    TEXT_HTML,
    TEXT_MARKDOWN,
    ExecutionError,
    ExecutionResult,
    RichOutput,
)

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# The most useful representation first: one rich output per display call.
PREFERRED_MIME_TYPES = (PLOTLY_JSON, TABLE_JSON, IMAGE_PNG, IMAGE_JPEG, IMAGE_SVG, TEXT_HTML, TEXT_MARKDOWN, JSON)
MAX_RICH_OUTPUTS = 50
DISPLAY_FACTOR = 50
"""Printed text kept for the page (and its download) is this many times the text the model gets."""
RICH_FACTOR = 5
"""A text-like rich output (HTML, Markdown, JSON) is cut past this many times ``max_output_chars``."""
MAX_IMAGE_BYTES = 20 * 1024 * 1024
PUBLISH_INTERVAL = 0.1
"""Seconds between two live snapshots of a running step."""

OutputListener = Callable[[ExecutionResult], None]
"""Receives snapshots of a running step's result (``duration`` is the time so far)."""


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes."""
    return ANSI_ESCAPE.sub("", text)


def write_line(line: str, column: int, update: str) -> tuple[str, int]:
    """What a terminal shows after writing ``update`` (no newline in it) at ``column`` of ``line``.

    A carriage return moves back to the start of the line, and what follows writes over it, the way tqdm
    redraws its bar.

    Returns:
        The line and the new cursor column.

    """
    for number, part in enumerate(update.split("\r")):
        if number:
            column = 0
        line = line[:column] + part + line[column + len(part) :]
        column += len(part)
    return line, column


def apply_carriage_returns(text: str) -> str:
    """``text`` as a terminal shows it: every line rewritten by its carriage returns."""
    text = text.replace("\r\n", "\n")
    if "\r" not in text:
        return text
    return "\n".join(write_line("", 0, line)[0] for line in text.split("\n"))


def cut_middle(text: str, limit: int, what: str = "characters") -> str:
    """``text`` with its middle replaced by a note when it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    half = max(limit // 2, 1)
    return f"{text[:half]}\n\n[... {len(text) - 2 * half:,} {what} omitted ...]\n\n{text[-half:]}"


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


class StreamText:
    """Printed text as a terminal shows it (carriage returns rewrite the current line), keeping head and tail.

    Appending costs the same whatever was printed before: the tail is a list of pieces trimmed now and then.

    Args:
        name: ``stdout`` or ``stderr``.
        limit: About the most characters kept (half from the start, half from the end).

    """

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.half = max(limit // 2, 1)
        self.head = ""
        self.pieces: list[str] = []  # finished text after the head; only its last ``half`` characters count
        self.pieces_length = 0
        self.line = ""  # the line being written, which a carriage return may still rewrite
        self.column = 0  # where the next character goes in it
        self.dropped = 0

    def add(self, text: str) -> None:
        """Append printed text."""
        text = text.replace("\r\n", "\n")
        if "\r" not in text and self.column == len(self.line):  # plain appending: no per-line work
            end = text.rfind("\n")
            if end < 0:
                self.line += text
            else:
                self._finish(self.line + text[: end + 1])
                self.line = text[end + 1 :]
            self.column = len(self.line)
            self._bound_line()
            return
        for number, part in enumerate(text.split("\n")):
            if number:
                self._finish(self.line + "\n")
                self.line, self.column = "", 0
            self.line, self.column = write_line(self.line, self.column, part)
        self._bound_line()

    def _bound_line(self) -> None:
        if len(self.line) > self.half:  # a very long line: its start is final, only its end may still change
            cut = len(self.line) - self.half
            self._finish(self.line[:cut])
            self.line, self.column = self.line[cut:], max(self.column - cut, 0)

    def _finish(self, text: str) -> None:
        if len(self.head) < self.half:
            taken = text[: self.half - len(self.head)]
            self.head += taken
            text = text[len(taken) :]
        if not text:
            return
        self.pieces.append(text)
        self.pieces_length += len(text)
        if self.pieces_length > 2 * self.half:
            joined = "".join(self.pieces)
            cut = len(joined) - self.half
            self.pieces, self.pieces_length, self.dropped = [joined[cut:]], self.half, self.dropped + cut

    def text(self) -> str:
        """The text kept, with a marker where the middle was dropped."""
        tail = "".join(self.pieces)
        extra = max(len(tail) - self.half, 0)
        dropped = self.dropped + extra
        if not dropped:
            return self.head + tail + self.line
        return f"{self.head}\n\n[... {dropped:,} characters omitted ...]\n\n{tail[extra:]}{self.line}"

    def output(self) -> RichOutput:
        """The text as an output of the run."""
        return RichOutput(mime_type=STDERR if self.name == "stderr" else STDOUT, data=strip_ansi(self.text()))


def _bounded_rich(output: RichOutput, limit: int) -> RichOutput:
    """A rich output no larger than the limits, with a note instead of what was cut."""
    data = output.data
    if isinstance(data, bytes):
        if len(data) <= MAX_IMAGE_BYTES:
            return output
        note = f"[An image of {len(data):,} bytes was not kept: the limit is {MAX_IMAGE_BYTES:,} bytes.]"
        return RichOutput(mime_type="text/plain", data=note, text=note, display_id=output.display_id)
    size = len(data) if isinstance(data, str) else len(json.dumps(data, default=str))
    text = cut_middle(output.text, limit)
    if size <= limit:
        return RichOutput(output.mime_type, data, text, output.display_id)
    if isinstance(data, str) and output.mime_type not in (TEXT_HTML, IMAGE_SVG):
        return RichOutput(output.mime_type, cut_middle(data, limit), text, output.display_id)
    note = f"[A {output.mime_type} output of {size:,} characters was not kept: the limit is {limit:,}.]"
    fallback = f"{note}\n{text}" if text else note
    return RichOutput(mime_type="text/plain", data=fallback, text=fallback, display_id=output.display_id)


def rich_output(data: dict[str, Any], display_id: str = "") -> RichOutput | None:
    """Turn a Jupyter MIME bundle into the one representation worth showing.

    Args:
        data: The ``data`` of a ``display_data`` or ``execute_result`` message.
        display_id: The bundle's display id, if it has one.

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
        elif mime in (TABLE_JSON, PLOTLY_JSON) and isinstance(value, str):  # IRkernel sends JSON as text
            try:
                value = json.loads(value)
            except ValueError:
                continue
        elif isinstance(value, list):
            value = "".join(value)
        return RichOutput(mime_type=mime, data=value, text=text, display_id=display_id)
    return RichOutput(mime_type="text/plain", data=text, text=text, display_id=display_id) if text else None


@dataclass
class _Clock:
    started: float
    published: float = 0.0
    dirty: bool = False


class OutputCollector:
    """Accumulates one run's printed text, rich outputs and error, in order, into an :class:`ExecutionResult`.

    Thread-safe: a shell command's two pipes feed it from two threads.

    Args:
        limit: The most characters of stdout and of stderr each that the model gets.
        on_output: Called with snapshots while the run goes on (at most every ``PUBLISH_INTERVAL`` seconds).

    """

    def __init__(self, limit: int, on_output: OutputListener | None = None) -> None:
        self.limit = limit
        self.stdout = BoundedText(limit)
        self.stderr = BoundedText(limit)
        self.items: list[StreamText | RichOutput] = []
        self.dropped_outputs = 0
        self.error: ExecutionError | None = None
        self.on_output = on_output
        self._clear_pending = False
        self._lock = threading.Lock()
        self._clock = _Clock(time.monotonic())

    @property
    def outputs(self) -> list[RichOutput]:
        """The rich outputs kept so far (without printed text)."""
        return [item for item in self.items if isinstance(item, RichOutput)]

    def stream(self, name: str, text: str) -> None:
        """Add text printed to ``stdout`` or ``stderr``."""
        if not text:
            return
        with self._lock:
            self._clear_if_pending()
            (self.stderr if name == "stderr" else self.stdout).add(text)
            last = self.items[-1] if self.items else None
            if not isinstance(last, StreamText) or last.name != name:
                last = StreamText(name, DISPLAY_FACTOR * self.limit)
                self.items.append(last)
            last.add(text)
            self._changed()

    def display(self, data: dict[str, Any], display_id: str = "") -> None:
        """Add a displayed object."""
        self.add_output(rich_output(data, display_id))

    def add_output(self, output: RichOutput | None) -> None:
        """Add a rich output (kept within the size limits)."""
        if output is None:
            return
        with self._lock:
            self._clear_if_pending()
            if len(self.outputs) >= MAX_RICH_OUTPUTS:
                self.dropped_outputs += 1
                return
            self.items.append(_bounded_rich(output, RICH_FACTOR * self.limit))
            self._changed()

    def update_display(self, data: dict[str, Any], display_id: str) -> None:
        """Replace the outputs shown with ``display_id`` (``display_handle.update``)."""
        output = rich_output(data, display_id)
        if output is None or not display_id:
            return
        bounded = _bounded_rich(output, RICH_FACTOR * self.limit)
        with self._lock:
            for number, item in enumerate(self.items):
                if isinstance(item, RichOutput) and item.display_id == display_id:
                    self.items[number] = bounded
            self._changed()

    def clear(self, wait: bool = False) -> None:
        """Forget what was shown so far (``clear_output``); with ``wait``, only when the next output arrives."""
        with self._lock:
            if wait:
                self._clear_pending = True
                return
            self.items.clear()
            self._changed()

    def _clear_if_pending(self) -> None:
        if self._clear_pending:
            self._clear_pending = False
            self.items.clear()

    def fail(self, name: str, value: str, traceback: list[str]) -> None:
        """Record the exception the code raised."""
        with self._lock:
            self.error = ExecutionError(
                name=name[:200],
                value=cut_middle(value, self.limit),
                traceback=cut_middle(strip_ansi("\n".join(traceback)), self.limit),
            )
            self._changed()

    def _changed(self) -> None:
        self._clock.dirty = True
        if time.monotonic() - self._clock.published >= PUBLISH_INTERVAL:
            self._publish_locked()

    def publish(self) -> None:
        """Hand the listener a snapshot now if anything changed since the last one."""
        with self._lock:
            if self._clock.dirty:
                self._publish_locked()

    def _publish_locked(self) -> None:
        self._clock.dirty = False
        self._clock.published = time.monotonic()
        if self.on_output is not None:
            self.on_output(self._result_locked(time.monotonic() - self._clock.started, None))

    def result(self, duration: float, exit_code: int | None = None) -> ExecutionResult:
        """The collected result, with notes on anything that was cut."""
        with self._lock:
            return self._result_locked(duration, exit_code)

    def _result_locked(self, duration: float, exit_code: int | None) -> ExecutionResult:
        notes = []
        for name, buffer in (("Standard output", self.stdout), ("Standard error", self.stderr)):
            if buffer.truncated:
                notes.append(f"{name} was too long: {buffer.dropped:,} characters in the middle were omitted.")
        if self.dropped_outputs:
            notes.append(f"{self.dropped_outputs} more displayed outputs were omitted (limit {MAX_RICH_OUTPUTS}).")
        return ExecutionResult(
            stdout=strip_ansi(apply_carriage_returns(self.stdout.text())),
            stderr=strip_ansi(apply_carriage_returns(self.stderr.text())),
            exit_code=exit_code,
            error=self.error,
            outputs=[item.output() if isinstance(item, StreamText) else item for item in self.items],
            duration=duration,
            notes=notes,
        )
