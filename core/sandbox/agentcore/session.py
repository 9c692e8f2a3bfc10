"""The AgentCore sandbox: the Sandbox protocol over AWS Bedrock AgentCore Code Interpreter.

One AgentCore session per conversation, started at the first use and reused while it is ``READY``. When it
expired (or :meth:`AgentCoreSandbox.sleep` stopped it to save money: AgentCore bills while a session runs) the
next call starts a new one, uploads again every file this app wrote or uploaded, runs the call and says so in a
note. Files that code created in the old session cannot be read from a dead session and are lost.

What AgentCore cannot do, said plainly: ``executeCode`` has no timeout and cannot be interrupted from outside,
so a Python/JS/TS run ends when the code ends (or at AgentCore's own limits); :meth:`AgentCoreSandbox.interrupt`
stops the runs that have not started yet. Shell commands are bounded with coreutils ``timeout``. Files travel
inline, at most 100 MB each.
"""

from __future__ import annotations

import contextlib
import io
import json
import posixpath
import re
import secrets
import shlex
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from core.config import Settings
from core.errors import (
    CloudError,
    InterpreterError,
    InvalidPathError,
    SandboxClosed,
    UploadRejected,
)
from core.files.uploads import check_upload_name, shown_name
from core.sandbox.agentcore.mirror import Mirror
from core.sandbox.agentcore.mount import Copied, copy_command, copy_outcome, copy_plan, persistence
from core.sandbox.agentcore.requests import (
    FIGURES,
    FIGURES_DIR,
    FIGURES_MARKER,
    INLINE_LIMIT,
    MB,
    PRELUDE,
    UNZIP,
    check_inline,
    clean_path,
    content_entry,
    is_internal,
    zip_plan,
)
from core.sandbox.agentcore.start import SessionGone as _SessionGone
from core.sandbox.agentcore.start import SessionRecords, SessionStarter
from core.sandbox.agentcore.stream import (
    Parsed,
    botocore_error,
    error_code,
    execution_result,
    file_error,
    file_infos,
    parse_stream,
    session_gone,
)
from core.sandbox.agentcore.tasks import AgentCoreTasks, TaskSessionLost
from core.sandbox.base import LANGUAGES
from core.sandbox.local.isolation import IsolationReport
from core.sandbox.output import OutputListener
from core.sandbox.tasks import CommandTask
from core.types import IMAGE_PNG, STOP_EXPLANATIONS, ExecutionResult, FileInfo, RichOutput, StopReason, guess_mime_type

R_NOT_OFFERED = (
    "R is not available on this app's AWS AgentCore sandbox: AgentCore's Code Interpreter runs Python, JavaScript "
    "and TypeScript only. Use Python (pandas, matplotlib) instead."
)
STATUS_CHECK_SECONDS = 60.0
KILL_GRACE_SECONDS = 5
MAX_LISTED = 20_000


class AgentCoreSandbox:
    """A sandbox in an AWS Bedrock AgentCore Code Interpreter session. See :class:`core.sandbox.base.Sandbox`.

    Args:
        settings: Region, interpreter identifier, session timeout and the output and upload limits.
        session_name: A name for the AgentCore session (the conversation id); it is sanitised.
        interpreter: A ``bedrock_agentcore`` ``CodeInterpreter`` (made from the settings when not given).
        conversation: The owner and id of the conversation: the session is then kept with it, for any app
            replica to reattach (``core/sandbox/agentcore/start.py``), and the workspace mount has its folder.
        records: Where that record is kept (default: the conversation store of the settings).

    """

    def __init__(
        self,
        settings: Settings,
        session_name: str,
        *,
        interpreter: Any | None = None,
        conversation: tuple[str, str] | None = None,
        records: SessionRecords | None = None,
    ) -> None:
        self.settings = settings
        self.session_name = re.sub(r"[^A-Za-z0-9_-]+", "-", session_name).strip("-")[:100] or "conversation"
        region = settings.agentcore_region
        if interpreter is None:
            import boto3
            from bedrock_agentcore.tools.code_interpreter_client import CodeInterpreter

            region = region or boto3.session.Session().region_name or ""
            if not region:
                raise CloudError("No AWS region is set for AgentCore. Set INTERPRETER_AGENTCORE_REGION or AWS_REGION.")
            try:
                interpreter = CodeInterpreter(region)
            except Exception as exc:
                mapped = botocore_error(exc, action="CreateClient", where=region)
                raise mapped or CloudError(f"The AgentCore client for {region} could not be made: {exc}") from None
        self.interpreter = interpreter
        self.where = (
            f"the code interpreter {settings.agentcore_identifier!r} in {getattr(interpreter, 'region', region)}"
        )
        self.cancel = threading.Event()
        self.closed = False
        self.last_used = time.monotonic()
        self.pending_notes: list[str] = []
        self._lock = threading.RLock()
        self._session_id: str | None = None
        self._session_wall = time.time()
        self._checked_at = 0.0
        self._restart_reason: str | None = None
        self._prelude_done = False
        self.mirror = Mirror()
        self._written_at: dict[str, float] = {}
        self.starter = SessionStarter(
            settings, interpreter, self.session_name, self._aws, conversation=conversation, records=records
        )
        self.workspace_folder = self.starter.mount.folder(*conversation) if self.starter.mount and conversation else ""
        """The conversation's workspace inside the session when it is mounted there (else empty)."""
        self.background = AgentCoreTasks(
            self._call, self._task_invoke, lambda: self._session_id, settings.max_output_chars
        )

    # -- AWS calls and the session ------------------------------------------------------------------------

    def _aws(self, action: str, call: Callable[[], Any]) -> Any:
        """Run one AWS call; every botocore error becomes a typed error (or ``_SessionGone``)."""
        try:
            return call()
        except Exception as exc:
            if action in ("InvokeCodeInterpreter", "GetCodeInterpreterSession") and session_gone(*error_code(exc)):
                raise _SessionGone(error_code(exc)[1]) from None
            mapped = botocore_error(exc, action=action, where=self.where)
            if mapped is None:
                raise
            raise mapped from None

    def _invoke(self, method: str, arguments: dict[str, Any]) -> Parsed:
        parsed: Parsed = self._aws(
            "InvokeCodeInterpreter", lambda: parse_stream(self.interpreter.invoke(method, arguments)["stream"])
        )
        self._checked_at = time.monotonic()
        return parsed

    def _call(self, method: str, arguments: dict[str, Any], *, prelude: bool = False) -> Parsed:
        """Invoke a tool of the session, restarting an expired session and trying once more."""
        for attempt in range(2):
            try:
                self._ensure_session()
                if prelude and not self._prelude_done:
                    self._invoke("executeCode", {"code": PRELUDE, "language": "python"})
                    self._prelude_done = True
                return self._invoke(method, arguments)
            except _SessionGone:
                self._drop_session("The AgentCore session expired and was restarted: variables were lost.")
                if attempt:
                    raise CloudError(
                        "The AgentCore session ended again right after a restart; try again later."
                    ) from None
        raise AssertionError("unreachable")

    def _ensure_session(self) -> None:
        if self.closed:
            raise SandboxClosed("This session's sandbox was closed; open the session again.")
        if self._session_id is not None and time.monotonic() - self._checked_at > STATUS_CHECK_SECONDS:
            try:
                status = self._aws("GetCodeInterpreterSession", self.interpreter.get_session).get("status")
            except _SessionGone:
                status = "TERMINATED"
            if status != "READY":
                raise _SessionGone(f"status {status}")
            self._checked_at = time.monotonic()
        if self._session_id is None:
            self._start_session()

    def _start_session(self) -> None:
        """Reattach the conversation's session if another replica (or this one before) left it READY, else start."""
        attached = self._session_id = self.starter.attach()
        if attached is None:
            self._session_id = self.starter.start()
        self._session_wall, self._checked_at, self._prelude_done = time.time(), time.monotonic(), False
        reason, self._restart_reason = self._restart_reason, None
        if reason is None:
            return
        if attached is not None:
            self.pending_notes.append(f"{reason} It continues in the session another app server had started.")
            return
        try:
            restored = self.mirror.restore(self._invoke, self._extract_zip)
        except BaseException:
            self._drop_session(reason)
            raise
        if restored:
            shown = ", ".join(restored[:10]) + (f" and {len(restored) - 10} more" if len(restored) > 10 else "")
            reason += f" Re-uploaded the files this app wrote or uploaded: {shown}."
        if self.mirror.unkept:
            reason += f" Too large to keep for re-upload, so lost: {', '.join(sorted(self.mirror.unkept)[:10])}."
        self.pending_notes.append(
            reason + " Files created by code in the old session are lost unless they were saved to the workspace."
        )

    def _drop_session(self, reason: str | None, *, stop: bool = True) -> None:
        """Forget the session, stopping it if it still runs (or leaving it to others); the next call starts anew."""
        if self._session_id is None:
            return
        self._session_id = None
        self._restart_reason = reason
        if not stop:
            self.interpreter.session_id = None
            return
        with contextlib.suppress(Exception):  # a dead or unreachable session times out by itself
            self.interpreter.stop()

    def _forget(self, path: str) -> None:
        self.mirror.forget(path)
        inside = lambda p: p == path or p.startswith(path + "/")  # noqa: E731
        self._written_at = {p: t for p, t in self._written_at.items() if not inside(p)}

    # -- running code -------------------------------------------------------------------------------------

    def _finish(self, result: ExecutionResult) -> ExecutionResult:
        result.notes[:0] = self.pending_notes
        self.pending_notes = []
        return result

    def _begin(self) -> ExecutionResult | None:
        if self.closed:
            raise SandboxClosed("This session's sandbox was closed; open the session again.")
        self.last_used = time.monotonic()
        if self.cancel.is_set():
            stopped = StopReason.INTERRUPTED
            return self._finish(ExecutionResult(stopped=stopped, notes=[STOP_EXPLANATIONS[stopped]]))
        return None

    languages = tuple(language for language in LANGUAGES if language != "r")
    """AgentCore's Code Interpreter runs Python, JavaScript and TypeScript, not R."""

    def execute(
        self,
        code: str,
        language: str = "python",
        timeout: float | None = None,
        on_output: OutputListener | None = None,
    ) -> ExecutionResult:
        """Run Python, JavaScript or TypeScript in the AgentCore session (``timeout`` cannot be enforced there).

        AgentCore answers when the run ends, so ``on_output`` is not called: the output arrives all at once.
        """
        if language == "r":
            raise InterpreterError(R_NOT_OFFERED)
        if language not in self.languages:
            raise InvalidPathError(f"Unknown language {language!r}; use one of: {', '.join(self.languages)}.")
        with self._lock:
            if (refused := self._begin()) is not None:
                return refused
            started = time.monotonic()
            arguments = {"code": code, "language": language}
            if language != "python":  # ToolArguments.runtime: the same runtime whatever AgentCore's default
                arguments["runtime"] = self.settings.agentcore_js_runtime
            parsed = self._call("executeCode", arguments, prelude=language == "python")
            limit = self.settings.max_output_chars
            result = execution_result(parsed, language=language, limit=limit, duration=time.monotonic() - started)
            if language == "python":
                self._collect_figures(result)
            return self._finish(result)

    def _collect_figures(self, result: ExecutionResult) -> None:
        """Add the figures the run left open as PNG images (saved, read and deleted in the sandbox)."""
        try:
            parsed = self._call("executeCode", {"code": FIGURES, "language": "python"})
            lines = (parsed.stdout if parsed.stdout is not None else parsed.text).splitlines()
            found = [json.loads(line[len(FIGURES_MARKER) :]) for line in lines if line.startswith(FIGURES_MARKER)]
            paths = [str(path) for path in found[-1]] if found else []
            if not paths:
                return
            images = self._call("readFiles", {"paths": paths}).resources
            result.outputs.extend(RichOutput(mime_type=IMAGE_PNG, data=image.data) for image in images)
            with contextlib.suppress(InterpreterError):
                self._call("removeFiles", {"paths": [*paths, FIGURES_DIR]})
        except (InterpreterError, ValueError) as error:
            result.notes.append(f"Figures left open by the code could not be collected: {error}")

    def run_command(
        self, command: str, timeout: float | None = None, on_output: OutputListener | None = None
    ) -> ExecutionResult:
        """Run a bash command line in the working folder, stopped after ``timeout`` s (output arrives at the end)."""
        with self._lock:
            if (refused := self._begin()) is not None:
                return refused
            limit = timeout or self.settings.execution_timeout
            line = f"bash -c {shlex.quote(command)}"
            timed = f"timeout -k {KILL_GRACE_SECONDS} {limit:g} {line}"
            wrapped = f"if command -v timeout >/dev/null 2>&1; then {timed}; else {line}; fi"
            started = time.monotonic()
            parsed = self._call("executeCommand", {"command": wrapped})
            elapsed = time.monotonic() - started
            result = execution_result(parsed, language=None, limit=self.settings.max_output_chars, duration=elapsed)
            if result.exit_code in (124, 137) and elapsed >= limit:
                result.stopped = StopReason.TIMEOUT
                result.notes.insert(0, f"{STOP_EXPLANATIONS[StopReason.TIMEOUT]} (limit {limit:g} s)")
            return self._finish(result)

    # -- background commands (core/sandbox/agentcore/tasks.py) -------------------------------------------

    def _task_invoke(self, method: str, arguments: dict[str, Any]) -> Parsed:
        """Invoke a task tool of the running session (no lock: a Stop must not wait for a run to end)."""
        if self._session_id is None or self.closed:
            raise TaskSessionLost
        try:
            return self._invoke(method, arguments)
        except _SessionGone:
            raise TaskSessionLost from None

    def start_task(self, command: str) -> CommandTask:
        """Start a bash command line in the background as a task of the session (``startCommandExecution``)."""
        with self._lock:
            if self.closed:
                raise SandboxClosed("This session's sandbox was closed; open the session again.")
            self.last_used = time.monotonic()
            return self.background.start(command)

    def task(self, task_id: str) -> CommandTask:
        """A background command as it stands now (``getTask``)."""
        return self.background.get(task_id)

    def stop_task(self, task_id: str) -> CommandTask:
        """Stop a background command (``stopTask``) and return it as it ended."""
        return self.background.stop(task_id)

    def tasks(self) -> list[CommandTask]:
        """The background commands of this sandbox, oldest first."""
        return self.background.all()

    def interrupt(self) -> None:
        """Stop the runs that are about to start; AgentCore cannot interrupt a run in progress (it ends by itself)."""
        self.cancel.set()

    def clear_interrupt(self) -> None:
        """Let runs go ahead again after :meth:`interrupt`."""
        self.cancel.clear()

    # -- files --------------------------------------------------------------------------------------------

    def read_file(self, path: str) -> bytes:
        """The bytes of a sandbox file (text and binary alike)."""
        relative = clean_path(path)
        with self._lock:
            parsed = self._call("readFiles", {"paths": [relative]})
        if parsed.is_error or not parsed.resources:
            raise file_error(parsed, relative, "read")
        return parsed.resources[0].data

    def open_file(self, path: str) -> BinaryIO:
        """A sandbox file for reading; AgentCore's ``readFiles`` sends it whole, so it is held in memory."""
        return io.BytesIO(self.read_file(path))

    def write_file(self, path: str, data: bytes) -> FileInfo:
        """Create or replace a file (at most 100 MB); parent folders are created."""
        relative = clean_path(path)
        if relative == ".":
            raise InvalidPathError(f"{path!r} is a folder; give a file name.")
        check_inline(relative, data)
        with self._lock:
            parsed = self._call("writeFiles", {"content": [content_entry(relative, data)]})
            if parsed.is_error:
                raise file_error(parsed, relative, "write")
            self.mirror.remember("file", relative, data)
            self._written_at[relative] = now = time.time()
        return FileInfo(path=relative, size=len(data), modified=now, mime_type=guess_mime_type(relative))

    def _list_folder(self, folder: str) -> list[FileInfo]:
        parsed = self._call("listFiles", {"directoryPath": folder})
        if parsed.is_error:
            if "not a directory" in parsed.message.lower() and folder != ".":
                same = [i for i in self._list_folder(posixpath.dirname(folder) or ".") if i.path == folder]
                if same:
                    return same
            raise file_error(parsed, folder, "list")
        return file_infos(parsed, folder, self._written_at, self._session_wall)

    def list_files(self, path: str = ".", recursive: bool = False) -> list[FileInfo]:
        """The entries of a folder sorted by path (folders included), or the one file named."""
        relative = clean_path(path)
        with self._lock:
            entries = self._list_folder(relative)
            folders = [e.path for e in entries if e.is_dir and not is_internal(e.path)] if recursive else []
            while folders and len(entries) < MAX_LISTED:
                children = self._list_folder(folders.pop(0))
                entries += children
                folders += [e.path for e in children if e.is_dir]
        return sorted((e for e in entries if not is_internal(e.path)), key=lambda e: e.path)

    def remove(self, path: str) -> None:
        """Delete a file or a whole folder (never the working folder itself)."""
        relative = clean_path(path)
        if relative == ".":
            raise InvalidPathError("The sandbox root itself cannot be removed; name the files to delete.")
        with self._lock:
            parsed = self._call("removeFiles", {"paths": [relative]})
            if parsed.is_error:
                raise file_error(parsed, relative, "remove")
            self._forget(relative)

    def copy_to_workspace(self, paths: list[str]) -> list[Copied]:
        """Copy sandbox files into the workspace mounted in the session (``workspace_folder``), under their names.

        Returns:
            One outcome per path: its workspace name and size, or why it was not copied.

        """
        plan, refused = copy_plan(paths)
        if not plan:
            return refused
        with self._lock:
            parsed = self._call("executeCommand", {"command": copy_command(self.workspace_folder, plan)})
        return refused + copy_outcome(parsed, plan)

    def preload(self, name: str, data: bytes) -> list[str]:
        """Put an upload in the working folder; a ZIP is checked here, then unpacked there keeping its folders."""
        if len(data) > self.settings.max_upload_mb * MB:
            raise UploadRejected(
                f"{shown_name(str(name))} is {len(data) / MB:,.1f} MB, larger than the upload limit of "
                f"{self.settings.max_upload_mb:,} MB (setting INTERPRETER_MAX_UPLOAD_MB). Upload a smaller file."
            )
        check_upload_name(name)
        if not name.lower().endswith(".zip"):
            self.write_file(name, data)
            return [name]
        with self._lock:
            arrived = self._extract_zip(name, data, self._call)
            self.mirror.remember("zip", name, data)
            return arrived

    def _extract_zip(self, name: str, data: bytes, call: Callable[[str, dict[str, Any]], Parsed]) -> list[str]:
        plan, arrived = zip_plan(name, data, self.settings)
        check_inline(name, data)
        stem = f".upload-{secrets.token_hex(8)}"
        archive, plan_file = f"{stem}.zip", f"{stem}.json"
        entries = [{"path": archive, "blob": data}, content_entry(plan_file, json.dumps(plan).encode())]
        sent = call("writeFiles", {"content": entries})
        if sent.is_error:
            raise UploadRejected(
                f"{shown_name(name)} could not be sent to AgentCore: {sent.message}. Nothing was kept."
            )
        command = shlex.join(["python3", "-c", UNZIP, archive, plan_file, stem])
        done = call("executeCommand", {"command": command})
        if done.is_error or done.exit_code:
            detail = (done.stderr or done.text).strip().splitlines()[-1:] or ["could not be unpacked"]
            raise UploadRejected(f"The archive {shown_name(name)} {detail[0]}. Nothing was kept.")
        return arrived

    # -- life ---------------------------------------------------------------------------------------------

    def start_kernel(self) -> None:
        """Start the AgentCore session now instead of at the first use (files are restored, a note waits)."""
        with self._lock:
            self._call("listFiles", {"directoryPath": "."})

    def running_kernels(self) -> list[str]:
        """``["agentcore"]`` while an AgentCore session is running."""
        return ["agentcore"] if self._session_id is not None else []

    def isolation_report(self) -> IsolationReport:
        """What isolates this sandbox: an AgentCore session (its own microVM in AWS)."""
        return IsolationReport(
            mechanism="agentcore",
            network="as configured on the code interpreter (the AWS default has no internet; a custom interpreter "
            "can have public network)",
            limits=[
                "Each AgentCore session runs in its own microVM in AWS, separate from this machine.",
                f"A session lives at most {self.settings.agentcore_session_timeout:,} s; after it, variables are lost.",
                "Code runs cannot be interrupted or timed out from here; shell commands stop after the time limit.",
                f"Files go to and from the session inline, at most {INLINE_LIMIT / MB:,.0f} MB each.",
            ],
            warnings=[],
            packages="Admin packages (INTERPRETER_SANDBOX_PACKAGES) are installed in local sandboxes only; here, "
            "install them with pip in the session."
            if self.settings.sandbox_packages
            else "",
            persists=persistence(self.settings, self.starter.mount),
        )

    def sleep(self, idle_seconds: float | None = None) -> bool:
        """Stop the AgentCore session (it is billed while it runs); the next call starts a new one with the files.

        A session another replica reattached since is left running for it; this one only lets go of it.
        """
        with self._lock:
            if self._session_id is None or self.background.running():  # a background command keeps it awake
                return False
            minutes = max(round(idle_seconds / 60), 1) if idle_seconds is not None else 0
            why = f"idle for {minutes} minute{'s' * (minutes != 1)}" if idle_seconds is not None else "idle"
            reason = f"The AgentCore session was stopped while {why} and was restarted: variables were lost."
            holds = self.starter.holds(self._session_id)  # else another replica uses it now: it is left running
            self._drop_session(reason if holds else None, stop=holds)
            return True

    def discard(self) -> None:
        """Stop the conversation's AgentCore session even when it is kept for other replicas (it is deleted).

        A session another replica started, or this app before a restart, is reattached to be stopped.
        """
        with self._lock:
            if self.closed:
                return
            if self._session_id is None:
                with contextlib.suppress(Exception):  # unreachable or gone: it times out by itself
                    self._session_id = self.starter.attach()
            self._drop_session(None, stop=True)
            self.closed = True

    def close(self) -> None:
        """Stop the AgentCore session, or let go of it when it is kept with its conversation; later calls raise.

        A kept session stays for the next replica (or this app after a restart) until its timeout; later calls
        raise ``SandboxClosed``.
        """
        with self._lock:
            if not self.closed:
                self._drop_session(None, stop=not self.starter.shared)  # a kept session waits for the next replica
                self.closed = True
