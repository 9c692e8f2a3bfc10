"""Python variables that survive a kernel stopped on purpose: saved with cloudpickle, loaded into the next kernel.

When a sandbox stops its Python kernel on purpose (idle shutdown, closing the session at app shutdown or when
its engine is closed), the kernel itself pickles each of the user's variables into a folder of the sandbox's
``/tmp``; the host then moves that folder into the session folder (``variables/``), beside the sandbox root and
out of the code's sight. The next Python run (or "Restore sandbox") moves it back and the new kernel loads it.
Pickles are only ever loaded inside the sandbox, never by the app. The host reads just the kernel's JSON
manifest (size-capped, checked field by field) to say which names were kept and which were not, and why.

Each variable is pickled alone (protocol 5, so arrays and DataFrames are written without copies): one that
cannot be pickled (an open file, a socket, a generator) or that is over the size cap costs only itself.
Names bound to the same object come back bound to one object. Functions and classes defined in the
conversation come back bound to the new kernel's namespace, so they see later changes of its variables.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from core.errors import InterpreterError
from core.sandbox.local.files import SandboxFolder, remove_host_entry
from core.sandbox.local.kernel import JupyterKernel
from core.sandbox.local.snapshot_code import restore_code, save_code
from core.types import STOP_EXPLANATIONS, ExecutionResult, VariablesReport

FOLDER = "variables"
"""The session folder's subfolder holding the saved variables (beside ``sandbox/``, not inside it)."""
PICKLES = "python"
MANIFEST = "manifest.json"
RESTORED = "restored.json"
SUMMARY = "summary.json"
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_NAMES = 10_000
MAX_TEXT = 200


def _text(value: object) -> str:
    return str(value)[:MAX_TEXT]


def parse_report(data: bytes) -> VariablesReport:
    """A report from JSON written in the sandbox (untrusted): only well-formed names and reasons are taken.

    Args:
        data: The JSON of a save manifest, a restore report or a stored summary.

    Returns:
        The report; ``problem`` says so when the JSON is unusable.

    """
    try:
        raw = json.loads(data[:MAX_MANIFEST_BYTES].decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return VariablesReport(problem="the list of saved variables could not be read")
    if not isinstance(raw, dict):
        return VariablesReport(problem="the list of saved variables could not be read")
    kept: list[str] = []
    for key in ("kept", "saved", "aliases", "modules"):
        entries = raw.get(key)
        names = entries if isinstance(entries, list | dict) else []
        kept += [_text(entry[0] if isinstance(entry, list) and entry else entry) for entry in names]
    lost = raw.get("lost")
    lost_names = {_text(k): _text(v) for k, v in lost.items()} if isinstance(lost, dict) else {}
    size, seconds = raw.get("size"), raw.get("seconds")
    return VariablesReport(
        kept=kept[:MAX_NAMES],
        lost=dict(list(lost_names.items())[:MAX_NAMES]),
        size=size if isinstance(size, int) else 0,
        seconds=float(seconds) if isinstance(seconds, int | float) else 0.0,
        problem=_text(raw.get("problem") or ""),
    )


def read_json_file(path: Path) -> bytes:
    """At most 1 MB of a regular file written in the sandbox (a link is refused: it could point anywhere)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read(MAX_MANIFEST_BYTES)


def real_folder(path: Path) -> bool:
    """Whether ``path`` (in a host-only folder) is a folder and not a link to one."""
    return path.is_dir() and not path.is_symlink()


def remove_tree(path: Path) -> None:
    """Delete an entry of a host-only folder (a folder, or a link planted in its place) if it is there."""
    with contextlib.suppress(OSError):
        remove_host_entry(path)


@contextlib.contextmanager
def _open_folder(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        yield fd
    finally:
        os.close(fd)


def _run_ours(
    kernel: JupyterKernel, code: str, timeout: float, staging: tuple[SandboxFolder, str] | None = None
) -> ExecutionResult:
    """Run our own code in the kernel, although a Stop of the person's run may still be in force.

    An interrupt sent just before (the Stop button) can still land in it: then it runs once more (after the
    half-written ``staging`` folder is removed).
    """
    cancel = kernel.cancel
    kernel.cancel = threading.Event()
    try:
        for _ in range(2):
            result = kernel.execute(code, timeout, silent=True)
            if result.error is None or result.error.name != "KeyboardInterrupt":
                break
            if staging is not None:
                staging[0].remove_tree(staging[1])
        return result
    finally:
        kernel.cancel = cancel


SCRIPT_VARIABLES_LOST = ".javascript-variables-lost"
"""Beside the session's folders: a JavaScript/TypeScript kernel holding variables was stopped with the session."""


class VariableStore:
    """The saved Python variables of one session: ``<session folder>/variables/``.

    Args:
        session_dir: The session's folder.
        tmp: The sandbox's ``/tmp`` on the host (in the session folder, so folders move by renaming).
        tmp_inside: The same folder as the sandbox's code sees it.

    """

    def __init__(self, session_dir: Path, tmp: Path, tmp_inside: str) -> None:
        self.folder = session_dir / FOLDER
        self.tmp = tmp
        self.tmp_inside = tmp_inside
        self._script_marker = session_dir / SCRIPT_VARIABLES_LOST

    def mark_script_variables_lost(self) -> None:
        """Remember, beyond this process, that a JavaScript/TypeScript kernel that held variables was stopped."""
        self._script_marker.touch()

    def take_script_variables_lost(self) -> bool:
        """Whether such a kernel was stopped since the last time this was asked (the mark is consumed)."""
        try:
            self._script_marker.unlink()
        except FileNotFoundError:
            return False
        return True

    def waiting(self) -> VariablesReport | None:
        """The summary of saved variables not yet restored, or ``None`` when nothing waits."""
        try:
            return parse_report(read_json_file(self.folder / SUMMARY))
        except OSError:
            return None

    def save(self, kernel: JupyterKernel, per_variable: int, total: int, timeout: float) -> VariablesReport:
        """Pickle the kernel's variables (before it is stopped) and keep them in the session folder.

        Args:
            kernel: The running Python kernel.
            per_variable: Bytes one variable may take; bigger ones are not kept.
            total: Bytes all of them may take (what is left of the person's disk quota).
            timeout: Seconds saving may take.

        Returns:
            What was kept and what not; it is also stored as the summary of what waits.

        """
        started, name = time.monotonic(), f".ci-variables-{secrets.token_hex(8)}"
        tmp = self._tmp
        try:
            code = save_code(f"{self.tmp_inside}/{name}", per_variable, total)
            result = _run_ours(kernel, code, timeout, (tmp, name))
            report = self._staged(result, name, MANIFEST)
            if not report.problem:
                report.size = sum(entry.status.st_size for entry in tmp.walk(name) if not entry.is_dir)
                remove_tree(self.folder)
                self.folder.mkdir(mode=0o700, parents=True)
                with _open_folder(self.folder) as target:
                    tmp.move_out(name, target, PICKLES)
        finally:
            tmp.remove_tree(name)
        report.seconds = time.monotonic() - started
        if not report.problem:
            (self.folder / SUMMARY).write_text(report.to_json())
        return report

    def restore(self, kernel: JupyterKernel, timeout: float) -> VariablesReport | None:
        """Load the waiting variables into a new kernel; they are consumed either way (``None``: none waited)."""
        summary = self.waiting()
        if summary is None:
            return None
        started, name = time.monotonic(), f".ci-restore-{secrets.token_hex(8)}"
        tmp = self._tmp
        try:
            if not real_folder(self.folder / PICKLES):
                return VariablesReport(lost=summary.lost, problem="the saved variables are missing")
            with _open_folder(self.folder) as source:
                tmp.move_in(source, PICKLES, name)
            result = _run_ours(kernel, restore_code(f"{self.tmp_inside}/{name}"), timeout)
            report = self._staged(result, name, RESTORED)
            report.size = summary.size
        finally:
            tmp.remove_tree(name)
            remove_tree(self.folder)
        report.seconds = time.monotonic() - started
        return report

    @property
    def _tmp(self) -> SandboxFolder:
        """The sandbox's ``/tmp``: its code can change anything in it, so the host goes through the one door."""
        return SandboxFolder(self.tmp, self.tmp_inside)

    def _staged(self, result: ExecutionResult, name: str, report_file: str) -> VariablesReport:
        """The report the kernel wrote into the staging folder ``name`` of ``/tmp``, or why there is none."""
        if result.stopped is not None or result.error is not None:
            why = result.error.value if result.error else STOP_EXPLANATIONS[result.stopped]  # type: ignore[index]
            return VariablesReport(problem=f"the kernel could not do it: {_text(why)}")
        if not self._tmp.exists(name):
            return VariablesReport(problem="the kernel wrote no variables")
        try:
            return parse_report(self._tmp.read(f"{name}/{report_file}", MAX_MANIFEST_BYTES))
        except (OSError, InterpreterError):
            return VariablesReport(problem="the list of variables is missing")
