"""What a local sandbox's variables go through when its kernels stop and start again, and what the chat hears.

A kernel stopped on purpose (idleness, the session being closed) first has its Python variables saved; the next
Python run (or "Restore sandbox") loads them into the new kernel, and its result says which names came back and
which could not, and why. A kernel that died (a crash, out of memory) could save nothing: the note says so.
JavaScript, TypeScript and R variables are never kept.
"""

from __future__ import annotations

from collections.abc import Callable

from core.chat.notices import kernel_stopped_note, variables_sentence
from core.config import Settings
from core.sandbox.local.kernel import JupyterKernel
from core.sandbox.local.snapshot import VariableStore
from core.types import VariablesReport

MB = 1024 * 1024
UNLIMITED = 2**62
RESTART_NOTES = {
    kind: f"A new {label} kernel was started: variables from earlier runs were lost; files were kept."
    for kind, label in (("python", "Python"), ("deno", "JavaScript/TypeScript"), ("r", "R"))
}
"""The notes after a kernel died (nothing could be saved)."""


class KernelLife:
    """The kernels' stops and starts of one sandbox, and its saved Python variables.

    Args:
        settings: ``snapshot_max_mb`` caps one variable; ``execution_timeout`` caps saving and restoring.
        store: The session's variable store (a function: the session folder may move, see the kernel pool).

    """

    def __init__(self, settings: Settings, store: Callable[[], VariableStore]) -> None:
        self.settings = settings
        self.store = store
        self.budget: Callable[[], int] | None = None
        """Bytes saved variables may take (what is left of the person's disk quota); set by the session."""
        self._ran: set[str] = set()  # what ran code here: "python", "deno", "shell"
        self._stopped: dict[str, float | None] = {}  # stopped on purpose: kind to idle seconds (None: closed)
        self._has_variables = False

    @property
    def asleep(self) -> bool:
        """Whether kernels were stopped on purpose (idleness) and have not started again."""
        return bool(self._stopped)

    @property
    def ever_ran(self) -> bool:
        """Whether any code or command ran in this sandbox (a kernel started in advance has run nothing)."""
        return bool(self._ran)

    def ran(self, kind: str) -> None:
        """Note that ``kind`` (``python``, ``deno``, ``r`` or ``shell``) runs the person's code now."""
        self._ran.add(kind)

    def started(self, kind: str) -> str:
        """Note a new kernel; returns the note its first result carries ("" for none)."""
        note = ""
        if kind not in self._stopped and kind in self._ran:
            note = RESTART_NOTES[kind]
        elif kind == "deno" and (self.store().take_script_variables_lost() or kind in self._stopped):
            # stopped on purpose here, or with an earlier sandbox of this conversation (the mark outlives it)
            note = kernel_stopped_note(kind, idle_seconds=self._stopped.pop(kind, None), report=None)
        elif kind == "r" and kind in self._stopped:  # R variables are not saved: the next run says they are gone
            note = kernel_stopped_note(kind, idle_seconds=self._stopped.pop(kind), report=None)
        if kind == "python":
            self._has_variables = False
        return note

    def before_python_run(self, kernel: JupyterKernel) -> str:
        """Load saved variables into the kernel if some wait; returns what the result should say about them."""
        report = self.store().restore(kernel, self.settings.execution_timeout)
        self._has_variables = True
        if "python" in self._stopped:
            return kernel_stopped_note("python", idle_seconds=self._stopped.pop("python"), report=report)
        return variables_sentence(report, restored=True) if report is not None else ""

    def restore_now(self, kernel: JupyterKernel) -> VariablesReport | None:
        """Load saved variables now (the caller says what came back); ``None`` when none were saved."""
        self._stopped.pop("python", None)
        report = self.store().restore(kernel, self.settings.execution_timeout)
        self._has_variables = self._has_variables or report is not None
        return report

    def stopping(self, kind: str, kernel: JupyterKernel, idle_seconds: float | None) -> None:
        """Before a kernel is stopped on purpose: save the Python variables (unless earlier ones still wait)."""
        if not kernel.alive:
            return  # it died before: nothing to save, and the next one says so
        if kind not in self._ran:
            return  # it ran nothing (a kernel started in advance): nothing is lost, nothing to say
        self._stopped[kind] = idle_seconds
        if kind == "deno":  # said at its next start, even in a later sandbox (after a restart)
            self.store().mark_script_variables_lost()
        if kind != "python" or not self._has_variables or self.store().waiting() is not None:
            return
        budget = self.budget() if self.budget is not None else UNLIMITED
        self.store().save(kernel, self.settings.snapshot_max_mb * MB, budget, self.settings.execution_timeout)
        self._has_variables = False
