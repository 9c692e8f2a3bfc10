"""The embedded sandbox: a Jupyter kernel, bash and Deno in bubblewrap, files in a folder of the session."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.config import Settings
from core.errors import InterpreterError, InvalidPathError, QuotaExceeded, SandboxClosed
from core.files.uploads import save_upload
from core.sandbox.base import LANGUAGES
from core.sandbox.local.files import SandboxFolder, remove_host_tree
from core.sandbox.local.isolation import SANDBOX_TMP, Isolation, IsolationReport, SessionDirs
from core.sandbox.local.jobs import JobRunner
from core.sandbox.local.kernel import DenoKernel, JupyterKernel, PythonKernel
from core.sandbox.local.kernel_life import KernelLife
from core.sandbox.local.ports import close_ports, kernel_starting
from core.sandbox.local.process import ProcessRunner
from core.sandbox.local.r_install import r_missing
from core.sandbox.local.r_kernel import RKernel
from core.sandbox.local.snapshot import VariableStore
from core.sandbox.output import OutputListener
from core.sandbox.paths import check_path_text
from core.sandbox.tasks import CommandTask
from core.types import ExecutionResult, FileInfo, VariablesReport

MB = 1024 * 1024
QUICK_RUN_SECONDS = 0.05
QUICK_RUN_MAX_BYTES = 100 * MB
USAGE_MAX_AGE_SECONDS = 1.0
"""A measured disk usage is trusted this long by file writes (walking a big tree on every write is quadratic)."""
MAX_COMMAND_BYTES = 100_000
"""Longer command lines cannot be passed to bash as one argument (Linux allows 128 KiB per argument)."""
DENO = shutil.which("deno", path=os.path.dirname(sys.executable)) or "deno"


def _release(isolation: Isolation, runtime: Path) -> None:
    """Tear down a sandbox's cgroup, network and runtime folder (also when it is dropped without close)."""
    isolation.close()
    remove_host_tree(runtime)


def session_dirs(session_dir: Path, runtime: Path) -> SessionDirs:
    """The folders of a sandbox whose session lives in ``session_dir``."""
    return SessionDirs(
        root=session_dir / "sandbox", home=session_dir / "home", tmp=session_dir / "tmp", runtime=runtime
    )


@dataclass(frozen=True)
class SandboxStatus:
    """A snapshot of a sandbox's life.

    Attributes:
        running: The kernels running (``python``, ``deno``); empty once idle ones were shut down.
        idle_seconds: Seconds since the last run.
        idle_timeout: Seconds of idleness after which kernels are shut down.
        memory_used: Bytes used now by the whole sandbox, where the host tells.
        memory_limit: The session's memory limit in bytes.
        cpu_seconds: CPU time used so far, where the host tells.
        asleep: Whether kernels were shut down on purpose (idleness) and none started since.
        ever_ran: Whether any code or command ran (a kernel started in advance has run nothing).

    """

    running: list[str]
    idle_seconds: float
    idle_timeout: float
    memory_used: int | None
    memory_limit: int
    cpu_seconds: float | None
    asleep: bool = False
    ever_ran: bool = True


class LocalSandbox:
    """A sandbox on this machine. See :class:`core.sandbox.base.Sandbox` for the contract.

    Args:
        settings: Limits, network and isolation settings.
        session_dir: The session's folder; the sandbox root is its ``sandbox`` subfolder.

    """

    def __init__(self, settings: Settings, session_dir: Path) -> None:
        self.settings = settings
        self.session_dir = session_dir
        self.sandbox_id = uuid.uuid4().hex[:12]
        self.dirs = session_dirs(session_dir, Path(tempfile.mkdtemp(prefix="ci-rt-")))
        self.dirs.create()
        self.isolation = Isolation(settings, self.dirs, self.sandbox_id)
        self.isolation.start()
        self._release = weakref.finalize(self, _release, self.isolation, self.dirs.runtime)
        self.cancel = threading.Event()
        self.runner = ProcessRunner(self.isolation, settings.max_output_chars, self.cancel)
        self.jobs = JobRunner(self.isolation, settings.max_output_chars)
        self.runner.background = self.jobs.process_ids  # a run does not wait for a background command's processes
        self._kernels: dict[str, JupyterKernel] = {}
        self.life = KernelLife(settings, lambda: self.variables)
        self._lock = threading.RLock()
        self.closed = False
        self.last_used = time.monotonic()
        self.pending_notes: list[str] = []
        self._measure_usage()

    @property
    def root(self) -> Path:
        """The sandbox root on the host."""
        return self.dirs.root

    def relocate(self, session_dir: Path) -> None:
        """Follow the session folder after it was renamed (used by the kernel pool)."""
        self.session_dir = session_dir
        self.dirs = session_dirs(session_dir, self.dirs.runtime)
        self.isolation.dirs = self.dirs
        self.last_used = time.monotonic()  # its idle time counts from when a session took it

    # -- running code -------------------------------------------------------------------------------------

    def start_kernel(self, *, warm: bool = False) -> None:
        """Start the Python kernel now instead of at the first Python run (``warm``: with matplotlib loaded)."""
        with self._lock:
            self._ensure_kernel("python", warm=warm)

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages ``execute`` runs here: Python, JavaScript and TypeScript, and R where it is installed."""
        return LANGUAGES if not r_missing() else tuple(language for language in LANGUAGES if language != "r")

    def running_kernels(self) -> list[str]:
        """The kernels running now: ``"python"``, ``"deno"`` (JavaScript and TypeScript) and/or ``"r"``."""
        return sorted(kind for kind, kernel in self._kernels.items() if kernel.alive)

    def _new_kernel(self, kind: str, warm: bool = False) -> JupyterKernel:
        limit = self.settings.max_output_chars
        if kind == "python":
            return PythonKernel(self.isolation, limit, self.cancel, warm=warm)
        if kind == "r":
            return RKernel(self.isolation, limit, self.cancel)
        return DenoKernel(self.isolation, limit, DENO, self.settings.memory_limit_mb, self.cancel)

    def _ensure_kernel(self, kind: str, warm: bool = False) -> JupyterKernel:
        if self.closed:
            raise SandboxClosed("This session's sandbox was closed; open the session again.")
        kernel = self._kernels.get(kind)
        if kernel is None or not kernel.alive:
            if kernel is not None:
                kernel.shutdown()
            kernel = self._new_kernel(kind, warm)
            with kernel_starting(self):
                kernel.start()
            self._add_note(self.life.started(kind))
            self._kernels[kind] = kernel
        return kernel

    def execute(
        self,
        code: str,
        language: str = "python",
        timeout: float | None = None,
        on_output: OutputListener | None = None,
    ) -> ExecutionResult:
        """Run Python, JavaScript/TypeScript or R; each keeps its variables between calls (JS and TS share theirs)."""
        if language not in LANGUAGES:
            raise InvalidPathError(f"Unknown language {language!r}; use one of: {', '.join(self.languages)}.")
        if language == "r" and r_missing():
            raise InterpreterError(r_missing())
        with self._lock:
            self.last_used = time.monotonic()
            kind = language if language in ("python", "r") else "deno"
            kernel = self._ensure_kernel(kind)
            self.life.ran(kind)
            if language == "python":
                self._add_note(self.life.before_python_run(kernel))
            limit_hits = self._process_limit_hits()
            result = kernel.execute(code, timeout or self.settings.execution_timeout, on_output=on_output)
            return self._finish(result, limit_hits)

    def run_command(
        self, command: str, timeout: float | None = None, on_output: OutputListener | None = None
    ) -> ExecutionResult:
        """Run a bash command line in the sandbox root."""
        with self._lock:
            self._check_command(command)
            self.last_used = time.monotonic()
            self.life.ran("shell")
            limit_hits = self._process_limit_hits()
            limit = timeout or self.settings.execution_timeout
            result = self.runner.run(["bash", "-c", command], limit, on_output=on_output)
            if (
                result.exit_code
                and self.settings.sandbox_network == "none"
                and "pip" in command
                and "install" in command
            ):
                result.notes.append(
                    "This sandbox has no network (INTERPRETER_SANDBOX_NETWORK=none), so packages cannot be "
                    "downloaded. Use what is installed, or ask the operator to allow network access."
                )
            return self._finish(result, limit_hits)

    def _check_command(self, command: str) -> None:
        if self.closed:
            raise SandboxClosed("This session's sandbox was closed; open the session again.")
        size = len(command.encode("utf-8", "surrogateescape"))
        if size > MAX_COMMAND_BYTES:
            raise InterpreterError(
                f"The command is {size:,} bytes long; the limit is {MAX_COMMAND_BYTES:,}. Write a long script "
                "to a file with file_operations and run that file (for example 'bash script.sh')."
            )

    # -- background commands (core/sandbox/local/jobs.py) ------------------------------------------------

    def start_task(self, command: str) -> CommandTask:
        """Start a bash command line in the background, in this sandbox; it runs on after the call returns."""
        with self._lock:
            self._check_command(command)
            self.last_used = time.monotonic()
            self.life.ran("shell")
            return self.jobs.start(["bash", "-c", command], command)

    def task(self, task_id: str) -> CommandTask:
        """A background command as it stands now: state, output so far, exit code once it ended."""
        return self.jobs.get(task_id)

    def stop_task(self, task_id: str) -> CommandTask:
        """Stop a background command (its whole process tree) and return it as it ended."""
        return self.jobs.stop(task_id)

    def tasks(self) -> list[CommandTask]:
        """The background commands this sandbox remembers, oldest first."""
        return self.jobs.all()

    def _process_limit_hits(self) -> int:
        """How often the session's cgroup refused a new process so far (0 where no cgroup tells)."""
        groups = self.isolation.limits.groups
        group = groups.get("pids") or groups.get("unified")
        try:
            for line in (group / "pids.events").read_text().splitlines() if group else []:
                key, _, value = line.partition(" ")
                if key == "max":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def _finish(self, result: ExecutionResult, limit_hits: int | None = None) -> ExecutionResult:
        result.notes[:0] = self.pending_notes
        self.pending_notes = []
        blocked = self.isolation.network.blocked()
        if blocked:
            result.notes.append(
                f"Network access blocked by the allow-list: {', '.join(blocked)}. Sandbox code reaches only "
                f"{', '.join(self.settings.sandbox_allowed_domains) or 'no domain'} (over HTTP and HTTPS); ask the "
                "operator to add a domain to INTERPRETER_SANDBOX_ALLOWED_DOMAINS."
            )
        if limit_hits is not None and self._process_limit_hits() > limit_hits:
            result.notes.append(
                f"The sandbox's limit of {self.settings.max_processes} processes was reached, so some processes "
                "could not start (setting INTERPRETER_MAX_PROCESSES)."
            )
        limit = self.settings.disk_limit_mb * MB
        # Walking a big tree costs milliseconds; a run this short cannot have written enough to matter.
        if result.duration > QUICK_RUN_SECONDS or self._known_usage + QUICK_RUN_MAX_BYTES > limit:
            self._measure_usage()
        if self._known_usage > limit:
            result.notes.append(
                f"The sandbox uses {self._known_usage / MB:,.0f} MB, more than its {self.settings.disk_limit_mb:,} MB "
                "disk limit. New files and uploads are refused until files are deleted."
            )
        return result

    def interrupt(self) -> None:
        """Stop the running code or process, or the next one if it is about to start; variables survive.

        The stop stays in force until :meth:`clear_interrupt` (a chat turn clears it when it starts).
        """
        self.cancel.set()
        for kernel in list(self._kernels.values()):
            kernel.interrupt()
        self.runner.interrupt()

    def clear_interrupt(self) -> None:
        """Let runs go ahead again after :meth:`interrupt`."""
        self.cancel.clear()

    # -- files --------------------------------------------------------------------------------------------

    @property
    def files(self) -> SandboxFolder:
        """The sandbox root, reached only through the safe file-access module."""
        return SandboxFolder(self.root, self.isolation.root_in_sandbox)

    def disk_usage(self) -> int:
        """Bytes used by the sandbox root (walks the tree, following no link)."""
        return self.files.usage()

    def _measure_usage(self) -> None:
        self._known_usage = self.disk_usage()
        self._usage_measured = time.monotonic()
        self._usage_exact = True

    def _check_disk(self, extra: int) -> None:
        limit = self.settings.disk_limit_mb * MB
        stale = time.monotonic() - self._usage_measured > USAGE_MAX_AGE_SECONDS
        if stale or (self._known_usage + extra > limit and not self._usage_exact):
            self._measure_usage()
        if self._known_usage + extra > limit:
            raise QuotaExceeded(
                f"The sandbox's disk limit ({self.settings.disk_limit_mb:,} MB) would be exceeded. Delete files first."
            )

    def read_file(self, path: str) -> bytes:
        """The bytes of a sandbox file (links must stay inside the sandbox)."""
        return self.files.read(path)

    def open_file(self, path: str) -> BinaryIO:
        """A sandbox file open for reading a piece at a time (links must stay inside the sandbox)."""
        return self.files.open(path)

    def write_file(self, path: str, data: bytes) -> FileInfo:
        """Create or replace a file atomically; parent folders are created."""
        check_path_text(path)
        self._check_disk(len(data))
        info = self.files.write(path, data)
        self._known_usage += len(data)
        self._usage_exact = False  # an overwritten file is counted twice until the next measurement
        return info

    def list_files(self, path: str = ".", recursive: bool = False) -> list[FileInfo]:
        """The entries of a folder sorted by path (folders included), or the one file named."""
        return self.files.list(path, recursive=recursive)

    def remove(self, path: str) -> None:
        """Delete a file, a link or a whole folder (never the root itself)."""
        self.files.remove(path)
        self._usage_measured = float("-inf")  # measure again before the next write

    def preload(self, name: str, data: bytes) -> list[str]:
        """Put an upload in the sandbox root; a ZIP is extracted there keeping its folders."""
        self._check_disk(len(data))
        arrived = save_upload(name, data, self.files, settings=self.settings)
        self._measure_usage()
        return arrived

    # -- life ---------------------------------------------------------------------------------------------

    def isolation_report(self) -> IsolationReport:
        """What isolates this sandbox."""
        return self.isolation.report()

    def status(self) -> SandboxStatus:
        """What the side panel shows about the sandbox's life: kernels, idle time, memory, CPU."""
        return SandboxStatus(
            running=self.running_kernels(),
            idle_seconds=time.monotonic() - self.last_used,
            idle_timeout=self.settings.idle_timeout,
            memory_used=self.isolation.limits.memory_used(),
            memory_limit=self.settings.memory_limit_mb * MB,
            cpu_seconds=self.isolation.limits.cpu_seconds(),
            asleep=self.life.asleep,
            ever_ran=self.life.ever_ran,
        )

    def memory_used(self) -> int | None:
        """Bytes of memory the sandbox uses now, where the host tells."""
        return self.isolation.limits.memory_used()

    # -- variables that outlive a kernel -----------------------------------------------------------------

    @property
    def variables(self) -> VariableStore:
        """The session's saved Python variables (in its folder, beside the sandbox root)."""
        inside = SANDBOX_TMP if self.isolation.use_bwrap else str(self.dirs.tmp)
        return VariableStore(self.session_dir, self.dirs.tmp, inside)

    def restore_variables(self) -> VariablesReport | None:
        """Start the Python kernel and load the saved variables into it now; ``None`` when none were saved."""
        with self._lock:
            return self.life.restore_now(self._ensure_kernel("python"))

    def _add_note(self, note: str) -> None:
        if note:
            self.pending_notes.append(note)

    def sleep(self, idle_seconds: float | None = None) -> bool:
        """Stop the kernels to free memory; the next run starts new ones (files stay, Python variables are saved).

        Args:
            idle_seconds: How long the session was unused, when it is put to sleep for that reason.

        Returns:
            Whether a running kernel was stopped.

        """
        with self._lock:
            stopped = bool(self._kernels)
            for kind, kernel in self._kernels.items():
                self.life.stopping(kind, kernel, idle_seconds)
                kernel.shutdown()
            self._kernels.clear()
            return stopped

    def discard(self) -> None:
        """Close for good (the conversation is deleted): here the same as :meth:`close`."""
        self.close()

    def close(self) -> None:
        """Stop every process and release the runtime folder; files stay on disk."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self.sleep()
            self.runner.interrupt()
            self.jobs.close()
            close_ports(self)  # the helpers that reach its servers for previews
            self._release()
