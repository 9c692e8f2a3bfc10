"""Run one sandboxed process (a shell command, a Deno run) to completion, with a timeout and bounded output."""

from __future__ import annotations

import codecs
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO

from core.sandbox.local.isolation import Isolation
from core.sandbox.local.spawn import spawn
from core.sandbox.output import OutputCollector, OutputListener
from core.types import STOP_EXPLANATIONS, ExecutionResult, StopReason

CHUNK = 64 * 1024
POLL_SECONDS = 0.1


def spawn_command(isolation: Isolation, argv: list[str], memory_rlimit: bool = True) -> subprocess.Popen[bytes]:
    """Start ``argv`` in the sandbox, in its own process group, its output on pipes and no input."""
    return spawn(
        isolation.command(argv, memory_rlimit=memory_rlimit),
        env=isolation.environment(),
        cwd=isolation.cwd(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _pump(stream: IO[bytes], sink: OutputCollector, name: str) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while chunk := stream.read1(CHUNK):  # type: ignore[attr-defined]
        sink.stream(name, decoder.decode(chunk))
    sink.stream(name, decoder.decode(b"", final=True))


class ProcessRunner:
    """Runs processes in one sandbox and keeps track of the one running, so it can be stopped.

    Args:
        isolation: Builds sandboxed command lines.
        output_limit: The most characters kept of stdout and of stderr each.

    """

    def __init__(self, isolation: Isolation, output_limit: int, cancel: threading.Event | None = None) -> None:
        self.background: Callable[[], set[int]] | None = None
        """The processes of the sandbox's background commands now (not waited for at a run's end)."""
        self.isolation = isolation
        self.cancel = cancel or threading.Event()
        self.output_limit = output_limit
        self._running: subprocess.Popen[bytes] | None = None
        self._interrupted = False

    def run(
        self,
        argv: list[str],
        timeout: float,
        *,
        memory_rlimit: bool = True,
        on_output: OutputListener | None = None,
    ) -> ExecutionResult:
        """Run ``argv`` in the sandbox and wait for it.

        Args:
            argv: The command line as seen inside the sandbox.
            timeout: Seconds before the process group is killed.
            memory_rlimit: Whether to cap the address space.
            on_output: Receives snapshots of the output while the process runs.

        Returns:
            Exit code, bounded stdout and stderr, and why the run was stopped if it was. Processes the run left
            behind that bubblewrap stops as the run ends are gone by then, so the cgroup's counters are final.

        """
        started = time.monotonic()
        limits = self.isolation.limits
        oom_before, earlier = limits.oom_kills(), limits.process_ids()
        process = spawn_command(self.isolation, argv, memory_rlimit)
        self._running, self._interrupted = process, False
        collector = OutputCollector(self.output_limit, on_output)
        pumps = [
            threading.Thread(target=_pump, args=(pipe, collector, name), daemon=True)
            for pipe, name in ((process.stdout, "stdout"), (process.stderr, "stderr"))
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
            collector.publish()
        for pump in pumps:
            pump.join(timeout=10)
        self._running = None
        limits.wait_until_gone(
            earlier, others=self.background
        )  # then the cgroup's counters (memory, processes) are final
        if stopped is None and self._interrupted:
            stopped = StopReason.INTERRUPTED
        if limits.oom_kills() > oom_before:
            stopped = StopReason.OUT_OF_MEMORY
        code = process.returncode
        result = collector.result(time.monotonic() - started, code if code >= 0 else 128 - code)
        if stopped is not None:
            suffix = f" (limit {timeout:g} s)" if stopped is StopReason.TIMEOUT else ""
            result.notes.insert(0, STOP_EXPLANATIONS[stopped] + suffix)
            result.stopped = stopped
        return result

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
