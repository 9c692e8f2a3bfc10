"""A Python Jupyter kernel (ipykernel) running inside a session's sandbox, driven with jupyter_client."""

from __future__ import annotations

import abc
import contextlib
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient

from core.errors import SandboxError
from core.sandbox.local.files import remove_host_entry
from core.sandbox.local.isolation import Isolation
from core.sandbox.local.kernel_code import DENO_RELAY, PRELUDE, WARM_PRELUDE
from core.sandbox.local.spawn import spawn
from core.sandbox.output import OutputCollector, OutputListener
from core.types import STOP_EXPLANATIONS, ExecutionError, ExecutionResult, StopReason

POLL_SECONDS = 0.1
INTERRUPT_REPLY_SECONDS = 1.0
INTERRUPT_GRACE_SECONDS = 5.0
"""How long code may take to stop after its interrupt landed (or after its traceback arrived) before the kernel is
killed (a kernel class may allow longer)."""
START_TIMEOUT_SECONDS = 60.0
CHANNEL_PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}


def _create_host_file(path: Path, info: dict[str, str | int]) -> None:
    """Write a new file in the host-only runtime folder (never through a link, never over another file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(info, handle)


def _describe_exit(returncode: int) -> str:
    number = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    if number:
        with contextlib.suppress(ValueError):
            return f"was killed by signal {number} ({signal.Signals(number).name})"
    return f"exited with code {returncode}"


class JupyterKernel(abc.ABC):
    """One Jupyter kernel process in the sandbox, reached over IPC sockets in the sandbox's runtime folder.

    Subclasses say which program to start and what to run once it answers.

    Args:
        isolation: Builds the sandboxed command line.
        output_limit: The most characters kept of stdout and of stderr each.

    """

    label = "kernel"
    socket_prefix = "k"
    late_output_seconds = 0.0
    interrupt_grace_seconds = INTERRUPT_GRACE_SECONDS
    memory_rlimit = True
    prelude = ""

    @abc.abstractmethod
    def _argv(self, connection_file: str) -> list[str]:
        """The command line that starts the kernel inside the sandbox."""

    def __init__(self, isolation: Isolation, output_limit: int, cancel: threading.Event | None = None) -> None:
        self.isolation = isolation
        self.output_limit = output_limit
        self.cancel = cancel or threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self.client: BlockingKernelClient | None = None
        self.interrupt_requested = False
        self._interrupting = threading.Lock()
        self._leftovers: list[Path] = []

    def start(self) -> None:
        """Start the kernel, wait until it answers and run the prelude.

        Raises:
            SandboxError: When the kernel does not come up; the message carries its last words.

        """
        key = secrets.token_hex(16)
        # A fresh sockets folder and file names of their own: a kernel stopped just before may take a moment to
        # die, and a client connecting to its sockets would get its messages (signed with the old key). Only
        # the sockets folder is writable inside; the host's files (connection files, the log) sit beside it,
        # out of the sandbox's reach, and are created new, never opened through a link.
        start_id = f"{self.socket_prefix}-{secrets.token_hex(4)}"
        runtime = self.isolation.dirs.runtime
        sockets = runtime / start_id
        sockets.mkdir(mode=0o700)
        kernel_file = runtime / f"{start_id}-kernel.json"
        binds, sockets_inside, kernel_file_inside = self.isolation.kernel_binds(sockets, kernel_file)
        _create_host_file(kernel_file, self._connection_info(sockets_inside, key))
        host_file = runtime / f"{start_id}-client.json"
        _create_host_file(host_file, self._connection_info(str(sockets), key))
        log_file = runtime / f"{start_id}.log"
        self._leftovers = [sockets, kernel_file, host_file, log_file]
        log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            self.process = spawn(
                self.isolation.command(self._argv(kernel_file_inside), memory_rlimit=self.memory_rlimit, binds=binds),
                env=self.isolation.environment(),
                cwd=self.isolation.cwd(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log_fd,
                start_new_session=True,
            )
        finally:
            os.close(log_fd)
        client = BlockingKernelClient()
        client.load_connection_file(str(host_file))
        client.start_channels()
        self.client = client
        try:
            self._wait_until_ready(START_TIMEOUT_SECONDS)
        except RuntimeError as exc:
            log = log_file.read_text(errors="replace")[-2000:]
            self.shutdown()
            raise SandboxError(f"The {self.label} kernel did not start: {exc}. Its log ends with:\n{log}") from exc
        if self.prelude:
            self._run_prelude()

    def _wait_until_ready(self, timeout: float) -> None:
        """Ask for kernel_info until the kernel answers, as long as its process lives.

        jupyter_client's own ``wait_for_ready`` gives up when a heartbeat is late by a second, which happens when
        the machine is busy; the process being alive is the better sign.
        """
        assert self.client is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError("the kernel process exited while starting")
            msg_id = self.client.kernel_info()
            with contextlib.suppress(queue.Empty):
                while True:
                    if self.client.get_shell_msg(timeout=1)["parent_header"].get("msg_id") == msg_id:
                        with contextlib.suppress(queue.Empty):
                            while True:  # the start-up status messages
                                self.client.get_iopub_msg(timeout=0.1)
                        return
        raise RuntimeError(f"no answer within {timeout:g} s")

    def _connection_info(self, sockets: str, key: str) -> dict[str, str | int]:
        info: dict[str, str | int] = {
            "transport": "ipc",
            "ip": f"{sockets}/{self.socket_prefix}",
            "key": key,
            "signature_scheme": "hmac-sha256",
        }
        info.update(CHANNEL_PORTS)
        return info

    def _run_prelude(self) -> None:
        result = self.execute(self.prelude, timeout=START_TIMEOUT_SECONDS, silent=True)
        if result.error is not None:
            raise SandboxError(f"The kernel's set-up failed: {result.error.name}: {result.error.value}")

    @property
    def alive(self) -> bool:
        """Whether the kernel process is still running."""
        return self.process is not None and self.process.poll() is None

    def execute(
        self, code: str, timeout: float, *, silent: bool = False, on_output: OutputListener | None = None
    ) -> ExecutionResult:
        """Run code and collect everything it printed and displayed.

        A run past ``timeout`` is interrupted (the kernel and its variables survive); one that ignores the
        interrupt for a few seconds has its kernel killed. A dead kernel is reported in the result.

        Args:
            code: Python source (IPython syntax: ``!cmd`` and ``%magic`` work).
            timeout: Seconds before the run is interrupted.
            silent: Run without history and without counting as a cell.
            on_output: Receives snapshots of the output while the code runs.

        Returns:
            The result; ``stopped`` says if and why the run was cut short.

        """
        if self.client is None or not self.alive:
            raise SandboxError(f"The {self.label} kernel is not running.")
        started = time.monotonic()
        oom_before = self.isolation.limits.oom_kills()
        self.interrupt_requested = False
        msg_id = self.client.execute(code, silent=silent, store_history=not silent, allow_stdin=False)
        collector = OutputCollector(self.output_limit, on_output)
        stopped = self._collect(msg_id, collector, started + timeout)
        result = collector.result(time.monotonic() - started)
        if stopped is None and (self.interrupt_requested or self.cancel.is_set()):
            stopped = StopReason.INTERRUPTED
        if stopped in (StopReason.TIMEOUT, StopReason.INTERRUPTED):
            result.error = None  # the KeyboardInterrupt is ours, not the user's
        if not self.alive:
            stopped = self._death_reason(stopped, oom_before)
            result.notes.append(
                f"The {self.label} kernel {_describe_exit(self.process.returncode if self.process else 0)}. "
                "Variables were lost; files in the sandbox were kept. The next run starts a fresh kernel."
            )
        if stopped is not None:
            result.stopped = stopped
            result.notes.insert(
                0,
                STOP_EXPLANATIONS[stopped] + (f" (limit {timeout:g} s)" if stopped is StopReason.TIMEOUT else ""),
            )
        reply = self._drain_shell_reply(msg_id)
        if stopped is None and result.error is None and reply.get("status") == "error":
            # The kernel failed the run without publishing an error (IPython could not even format it, say): the
            # run must not look like a success.
            result.error = ExecutionError(
                name=str(reply.get("ename") or "Error"),
                value=str(reply.get("evalue") or "the kernel reported that the code failed; see its output"),
                traceback="\n".join(str(line) for line in reply.get("traceback") or []),
            )
        return result

    def _collect(self, msg_id: str, collector: OutputCollector, deadline: float) -> StopReason | None:
        assert self.client is not None
        stopped: StopReason | None = None
        kill_at: float | None = None
        traceback_seen = False
        while True:
            try:
                message: dict[str, Any] | None = self.client.get_iopub_msg(timeout=POLL_SECONDS)
            except queue.Empty:
                message = None
                collector.publish()
                if not self.alive:
                    return stopped or StopReason.CRASHED
            # Looked at after every message too: code that prints more often than POLL_SECONDS never lets the
            # queue run empty, and was stopped neither by its time limit nor by Stop.
            now = time.monotonic()
            if stopped is None and (now > deadline or self.cancel.is_set()):
                stopped = StopReason.TIMEOUT if now > deadline else StopReason.INTERRUPTED
                self.interrupt()
                kill_at = time.monotonic() + self.interrupt_grace_seconds  # from when the interrupt landed
            elif kill_at is not None and now > kill_at:
                self.kill()
                return stopped
            if message is None or message["parent_header"].get("msg_id") != msg_id:
                continue
            if kill_at is not None and message["msg_type"] == "error" and not traceback_seen:
                # The code stopped and the run is ending. Once only: code in the kernel can publish messages too.
                kill_at, traceback_seen = time.monotonic() + self.interrupt_grace_seconds, True
            if self._handle(message, collector):
                self._collect_late_output(msg_id, collector)
                return stopped

    def _collect_late_output(self, msg_id: str, collector: OutputCollector) -> None:
        """Take output that a kernel publishes after saying it is idle (Deno's does), until it has been quiet."""
        if not self.late_output_seconds:
            return
        assert self.client is not None
        with contextlib.suppress(queue.Empty):
            while True:
                message = self.client.get_iopub_msg(timeout=self.late_output_seconds)
                if message["parent_header"].get("msg_id") == msg_id:
                    self._handle(message, collector)

    @staticmethod
    def _handle(message: dict[str, Any], collector: OutputCollector) -> bool:
        kind, content = message["msg_type"], message["content"]
        display_id = str((content.get("transient") or {}).get("display_id") or "")
        if kind == "stream":
            collector.stream(content["name"], content["text"])
        elif kind in ("display_data", "execute_result"):
            collector.display(content["data"], display_id)
        elif kind == "update_display_data":
            collector.update_display(content["data"], display_id)
        elif kind == "error":
            collector.fail(content["ename"], content["evalue"], content["traceback"])
        elif kind == "clear_output":
            collector.clear(wait=bool(content.get("wait")))
        return kind == "status" and content["execution_state"] == "idle"

    def _death_reason(self, stopped: StopReason | None, oom_before: int) -> StopReason:
        if self.isolation.limits.oom_kills() > oom_before:
            return StopReason.OUT_OF_MEMORY
        return stopped or StopReason.CRASHED

    def _drain_shell_reply(self, msg_id: str) -> dict[str, Any]:
        """The content of the run's ``execute_reply`` (``{}`` when none came within a second)."""
        if self.client is None or not self.alive:
            return {}
        with contextlib.suppress(queue.Empty):
            while True:
                message = self.client.get_shell_msg(timeout=1)
                if message["parent_header"].get("msg_id") == msg_id:
                    return dict(message.get("content") or {})
        return {}

    def interrupt(self) -> None:
        """Ask the kernel to stop the running code (a ``KeyboardInterrupt`` in it).

        Returns once the kernel has answered (or after a second), so the signal it sends itself has landed before
        the next run is sent: a late one would hit that run's start outside its code, and the kernel would then
        drop the run without a reply (a save of the variables after the Stop button was lost that way). Once per
        run: a second signal lands while IPython handles the first, and under load the kernel then never ended the
        run (Stop and the run's own loop each asked; it was killed and the variables were lost).
        """
        if self.client is None or not self.alive:
            return
        with self._interrupting:
            if self.interrupt_requested:
                return
            self.interrupt_requested = True
            message = self.client.session.msg("interrupt_request", content={})
            self.client.control_channel.send(message)
            deadline = time.monotonic() + INTERRUPT_REPLY_SECONDS
            with contextlib.suppress(queue.Empty):
                while time.monotonic() < deadline:
                    reply = self.client.control_channel.get_msg(timeout=max(deadline - time.monotonic(), 0.01))
                    if reply["parent_header"].get("msg_id") == message["header"]["msg_id"]:
                        return

    def kill(self) -> None:
        """Kill the kernel and everything it started."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def shutdown(self) -> None:
        """Stop the kernel, close the channels and remove its files from the runtime folder."""
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        self.kill()
        for path in self._leftovers:
            with contextlib.suppress(OSError):
                remove_host_entry(path)
        self._leftovers = []


class PythonKernel(JupyterKernel):
    """IPython (ipykernel): variables persist, figures and tables are captured.

    A ``warm`` kernel (one kept in the pool) also loads matplotlib ahead of time.
    """

    label = "Python"
    socket_prefix = "py"
    prelude = PRELUDE
    # IPython formats the traceback before it says the run ended, slowly on a loaded machine: a kernel killed
    # meanwhile loses the variables a Stop promises to keep.
    interrupt_grace_seconds = 2 * INTERRUPT_GRACE_SECONDS

    def __init__(
        self, isolation: Isolation, output_limit: int, cancel: threading.Event | None = None, *, warm: bool = False
    ) -> None:
        super().__init__(isolation, output_limit, cancel)
        if warm:
            self.prelude = PRELUDE + WARM_PRELUDE

    def _argv(self, connection_file: str) -> list[str]:
        return [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file, "--HistoryManager.enabled=False"]


class DenoKernel(JupyterKernel):
    """Deno's Jupyter kernel for JavaScript and TypeScript: variables persist between runs.

    Deno's kernel speaks only TCP, which the host cannot reach inside the sandbox's network namespace, so a
    small relay inside the sandbox exposes its five TCP sockets as the Unix sockets the host connects to.
    V8 reserves a huge address space, so the memory limit is V8's heap size (and the cgroup), not an rlimit.
    """

    label = "JavaScript/TypeScript"
    socket_prefix = "js"
    late_output_seconds = 0.005
    memory_rlimit = False

    def __init__(
        self, isolation: Isolation, output_limit: int, deno: str, heap_mb: int, cancel: threading.Event | None = None
    ) -> None:
        super().__init__(isolation, output_limit, cancel)
        self.deno = deno
        self.heap_mb = heap_mb

    def _argv(self, connection_file: str) -> list[str]:
        return [sys.executable, "-c", DENO_RELAY, connection_file, self.deno, str(self.heap_mb)]
