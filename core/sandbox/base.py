"""The Sandbox protocol: what every sandbox backend (local, AgentCore, ...) offers the tools."""

from __future__ import annotations

import threading
from typing import BinaryIO, Protocol, runtime_checkable

from core.sandbox.local.isolation import IsolationReport
from core.sandbox.output import OutputListener
from core.sandbox.tasks import CommandTask
from core.types import ExecutionResult, FileInfo

LANGUAGES = ("python", "javascript", "typescript", "r")
"""Every language a sandbox may run; each backend says which it runs (``languages``; R only where installed)."""


@runtime_checkable
class Sandbox(Protocol):
    """One session's place to run code: a stateful Python interpreter, a shell, JS/TS and files.

    Relative paths resolve against the sandbox root. Errors in the user's code come back inside the
    :class:`ExecutionResult`; bad paths raise ``InvalidPathError``, missing files ``FileNotFoundInSandbox``.
    """

    def execute(
        self,
        code: str,
        language: str = "python",
        timeout: float | None = None,
        on_output: OutputListener | None = None,
    ) -> ExecutionResult:
        """Run code; Python keeps its variables between calls; ``on_output`` sees the output as it comes."""
        ...

    def run_command(
        self, command: str, timeout: float | None = None, on_output: OutputListener | None = None
    ) -> ExecutionResult:
        """Run a bash command line in the sandbox root; ``on_output`` sees the output as it comes."""
        ...

    def start_task(self, command: str) -> CommandTask:
        """Start a bash command line in the background (see ``core/sandbox/tasks.py``); it outlives the call."""
        ...

    def task(self, task_id: str) -> CommandTask:
        """A background command as it stands now: its state and output so far, its exit code once it ended."""
        ...

    def stop_task(self, task_id: str) -> CommandTask:
        """Stop a background command; returns it as it ended."""
        ...

    def tasks(self) -> list[CommandTask]:
        """The background commands the sandbox remembers, oldest first."""
        ...

    def read_file(self, path: str) -> bytes:
        """The bytes of a sandbox file."""
        ...

    def open_file(self, path: str) -> BinaryIO:
        """A sandbox file open for reading a piece at a time (close it when done)."""
        ...

    def write_file(self, path: str, data: bytes) -> FileInfo:
        """Create or replace a file (parent folders are created)."""
        ...

    def list_files(self, path: str = ".", recursive: bool = False) -> list[FileInfo]:
        """The entries of a folder (or the one file named), paths relative to the root."""
        ...

    def remove(self, path: str) -> None:
        """Delete a file or a whole folder."""
        ...

    def preload(self, name: str, data: bytes) -> list[str]:
        """Put an upload in the sandbox root (a ZIP is extracted); returns the paths that arrived."""
        ...

    cancel: threading.Event
    """Set by :meth:`interrupt`: runs that start while it is set are stopped at once."""

    closed: bool
    """Whether :meth:`close` was called."""

    last_used: float
    """``time.monotonic()`` of the last run, for the idle reaper."""

    def sleep(self, idle_seconds: float | None = None) -> bool:
        """Free the interpreters of an idle session (files stay); returns whether anything was stopped."""
        ...

    def interrupt(self) -> None:
        """Stop whatever runs now (or is about to start); the session keeps its state."""
        ...

    def clear_interrupt(self) -> None:
        """Let runs go ahead again after :meth:`interrupt`."""
        ...

    def isolation_report(self) -> IsolationReport:
        """What isolates this sandbox, in plain words."""
        ...

    def close(self) -> None:
        """Stop every process of the sandbox; its files stay."""
        ...

    def discard(self) -> None:
        """Close for good, its conversation being deleted: nothing is left running for later (a kept session)."""
        ...
