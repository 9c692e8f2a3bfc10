"""Types shared by the sandbox, the workspace, the tools and the UI."""

from __future__ import annotations

import enum
import json
import mimetypes
from dataclasses import dataclass, field
from typing import Any

IMAGE_PNG = "image/png"
IMAGE_JPEG = "image/jpeg"
IMAGE_SVG = "image/svg+xml"
TEXT_HTML = "text/html"
TEXT_MARKDOWN = "text/markdown"
PLOTLY_JSON = "application/vnd.plotly.v1+json"
TABLE_JSON = "application/vnd.dataresource+json"
JSON = "application/json"
STDOUT = "application/x.stream.stdout"
STDERR = "application/x.stream.stderr"
STREAM_TYPES = (STDOUT, STDERR)


class StopReason(enum.StrEnum):
    """Why a run ended before the code finished by itself."""

    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    OUT_OF_MEMORY = "out_of_memory"
    CRASHED = "crashed"


STOP_EXPLANATIONS = {
    StopReason.TIMEOUT: "The run took longer than the time limit and was interrupted.",
    StopReason.INTERRUPTED: "The run was stopped on request.",
    StopReason.OUT_OF_MEMORY: "The run used more memory than the session's limit and was killed.",
    StopReason.CRASHED: "The interpreter process died while running this code.",
}


@dataclass(frozen=True)
class RichOutput:
    """One rich output of a run: an image, a table, HTML, a Plotly figure, ...

    Attributes:
        mime_type: The MIME type of ``data`` (see the constants in this module).
        data: ``bytes`` for images, ``str`` for text-like types, a ``dict`` for JSON types.
        text: The plain-text fallback the interpreter gave, if any.
        display_id: The Jupyter display id, for outputs that later ``update_display`` calls replace.

    Printed text is an output too (``STDOUT``/``STDERR``, ``data`` the text), so a result keeps the order in
    which the code printed and displayed things.

    """

    mime_type: str
    data: bytes | str | dict[str, Any]
    text: str = ""
    display_id: str = ""

    @property
    def is_stream(self) -> bool:
        """Whether this output is printed text (stdout or stderr)."""
        return self.mime_type in STREAM_TYPES

    @property
    def is_image(self) -> bool:
        """Whether this output is a raster image."""
        return self.mime_type in (IMAGE_PNG, IMAGE_JPEG)


@dataclass(frozen=True)
class ExecutionError:
    """An exception raised by the user's code, as data.

    Attributes:
        name: The exception class name, e.g. ``ZeroDivisionError``.
        value: The exception message.
        traceback: The formatted traceback, without terminal colour codes.

    """

    name: str
    value: str
    traceback: str = ""


@dataclass
class ExecutionResult:
    """What one run of code or of a shell command produced.

    Attributes:
        stdout: Standard output (possibly truncated, see ``notes``).
        stderr: Standard error (possibly truncated).
        exit_code: The shell's exit code; ``None`` for code runs.
        error: The exception the code raised, if any.
        outputs: Printed text and rich outputs, in the order they were produced (``stdout``/``stderr`` hold
            the text again, bounded, for the model).
        duration: Wall-clock seconds.
        stopped: Why the run was cut short, if it was.
        notes: Plain-words remarks for the user (truncation, a restarted kernel, ...).

    """

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    error: ExecutionError | None = None
    outputs: list[RichOutput] = field(default_factory=list)
    duration: float = 0.0
    stopped: StopReason | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rich_outputs(self) -> list[RichOutput]:
        """The outputs that are not printed text."""
        return [output for output in self.outputs if not output.is_stream]

    @property
    def ok(self) -> bool:
        """Whether the run finished without an error, a stop or a non-zero exit code."""
        return self.error is None and self.stopped is None and self.exit_code in (None, 0)


@dataclass(frozen=True)
class FileInfo:
    """A file or folder in the sandbox or the workspace.

    Attributes:
        path: Path relative to the sandbox root (or the workspace name).
        size: Size in bytes (0 for folders).
        modified: Modification time, seconds since the epoch.
        is_dir: Whether this is a folder.
        mime_type: A guess from the name; ``inode/directory`` for folders.

    """

    path: str
    size: int
    modified: float
    is_dir: bool = False
    mime_type: str = "application/octet-stream"


def guess_mime_type(name: str) -> str:
    """Guess a MIME type from a file name.

    Args:
        name: A file name or path.

    Returns:
        The MIME type, ``application/octet-stream`` when unknown.

    """
    lowered = name.lower()
    if lowered.endswith((".md", ".markdown")):
        return TEXT_MARKDOWN
    if lowered.endswith(".parquet"):
        return "application/vnd.apache.parquet"
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


@dataclass
class ToolRecord:
    """One tool call as the session saw it, for the UI and for exports.

    Attributes:
        tool: The tool's name.
        input: The arguments it was called with.
        status: ``"success"`` or ``"error"``.
        text: The text the model received.
        result: The execution result, for tools that ran code or a command.
        saved_files: Workspace names written by this call.
        changed_files: Sandbox paths this call created or changed (see ``core/files/changes.py``).
        task_id: The background command this call started, checked or stopped (see ``core/sandbox/tasks.py``).
        server: The MCP server whose tool this was (``core/mcp/``); empty for the sandbox's own tools.

    """

    tool: str
    input: dict[str, Any]
    status: str
    text: str
    result: ExecutionResult | None = None
    saved_files: list[str] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)
    task_id: str = ""
    server: str = ""


@dataclass
class VariablesReport:
    """Which Python variables were saved (or restored) and which could not be, with the reason for each.

    Attributes:
        kept: The names kept (variables, functions, classes, imported modules).
        lost: Names that could not be kept, each with the reason in plain words.
        size: Bytes the saved variables take on disk.
        seconds: How long saving or restoring took.
        problem: Why nothing could be saved or restored at all (empty when it worked).

    """

    kept: list[str] = field(default_factory=list)
    lost: dict[str, str] = field(default_factory=dict)
    size: int = 0
    seconds: float = 0.0
    problem: str = ""

    def to_json(self) -> str:
        """The report as JSON (the host keeps it beside the pickles)."""
        return json.dumps(
            {"kept": self.kept, "lost": self.lost, "size": self.size, "seconds": self.seconds, "problem": self.problem}
        )
