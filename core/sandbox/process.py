"""Run one sandboxed process (a shell command, a Deno run) to completion, with a timeout and bounded output."""

from __future__ import annotations

import codecs
import contextlib
import os
import signal
import subprocess
import threading
import time
from typing import IO

from core.sandbox.isolation import Isolation
from core.sandbox.output import BoundedText, strip_ansi
from core.sandbox.spawn import spawn
from core.types import STOP_EXPLANATIONS, ExecutionResult, StopReason

CHUNK = 64 * 1024
POLL_SECONDS = 0.1


def _pump(stream: IO[bytes], sink: BoundedText) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while chunk := stream.read1(CHUNK):  # type: ignore[attr-defined]
        sink.add(decoder.decode(chunk))
    sink.add(decoder.decode(b"", final=True))


class ProcessRunner:
    """Runs processes in one sandbox and keeps track of the one running, so it can be stopped.

    Args:
        isolation: Builds sandboxed command lines.
        output_limit: The most characters kept of stdout and of stderr each.

    """

    def __init__(self, isolation: Isolation, output_limit: int, cancel: threading.Event | None = None) -> None:
        self.isolation = isolation
        self.cancel = cancel or threading.Event()
        self.output_limit = output_limit
        self._running: subprocess.Popen[bytes] | None = None
        self._interrupted = False

    def run(self, argv: list[str], timeout: float, *, memory_rlimit: bool = True) -> ExecutionResult:
        """Run ``argv`` in the sandbox and wait for it.

        Args:
            argv: The command line as seen inside the sandbox.
            timeout: Seconds before the process group is killed.
            memory_rlimit: Whether to cap the address space.

        Returns:
            Exit code, bounded stdout and stderr, and why the run was stopped if it was.

        """
        started = time.monotonic()
        oom_before = self.isolation.limits.oom_kills()
        process = spawn(
            self.isolation.command(argv, memory_rlimit=memory_rlimit),
            env=self.isolation.environment(),
            cwd=self.isolation.cwd(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._running, self._interrupted = process, False
        stdout, stderr = BoundedText(self.output_limit), BoundedText(self.output_limit)
        pumps = [
            threading.Thread(target=_pump, args=(s, b), daemon=True)
            for s, b in ((process.stdout, stdout), (process.stderr, stderr))
        ]
        for pump in pumps:
            pump.start()
        stopped = None
        deadline = started + timeout
        while process.poll() is None:
            if self.cancel.is_set() or time.monotonic() > deadline:
                stopped = StopReason.INTERRUPTED if self.cancel.is_set() else StopReason.TIMEOUT
                self._kill(process)
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=POLL_SECONDS)
        for pump in pumps:
            pump.join(timeout=10)
        self._running = None
        if stopped is None and self._interrupted:
            stopped = StopReason.INTERRUPTED
        if self.isolation.limits.oom_kills() > oom_before:
            stopped = StopReason.OUT_OF_MEMORY
        return self._result(process.returncode, stdout, stderr, stopped, time.monotonic() - started, timeout)

    @staticmethod
    def _result(
        code: int,
        stdout: BoundedText,
        stderr: BoundedText,
        stopped: StopReason | None,
        duration: float,
        timeout: float,
    ) -> ExecutionResult:
        notes = []
        if stopped is not None:
            suffix = f" (limit {timeout:g} s)" if stopped is StopReason.TIMEOUT else ""
            notes.append(STOP_EXPLANATIONS[stopped] + suffix)
        for name, buffer in (("Standard output", stdout), ("Standard error", stderr)):
            if buffer.truncated:
                notes.append(f"{name} was too long: {buffer.dropped:,} characters in the middle were omitted.")
        return ExecutionResult(
            stdout=strip_ansi(stdout.text()),
            stderr=strip_ansi(stderr.text()),
            exit_code=code if code >= 0 else 128 - code,
            duration=duration,
            stopped=stopped,
            notes=notes,
        )

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def interrupt(self) -> None:
        """Stop the running process, if any."""
        process = self._running
        if process is not None and process.poll() is None:
            self._interrupted = True
            self._kill(process)
