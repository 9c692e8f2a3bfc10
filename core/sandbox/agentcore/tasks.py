"""Background commands of an AgentCore session: ``startCommandExecution``, ``getTask`` and ``stopTask``.

``InvokeCodeInterpreter`` with the tool name ``startCommandExecution`` (argument ``command``) starts a command
as a task of the session and answers with its ``taskId`` and ``taskStatus`` in the result's
``structuredContent`` (``ToolResultStructuredContent`` in botocore's service model); ``getTask`` and
``stopTask`` (argument ``taskId``) answer with the same members plus ``stdout``, ``stderr`` and, once it ended,
``exitCode``. ``taskStatus`` is one of the model's ``TaskStatus`` values: ``submitted``, ``working``,
``completed``, ``canceled``, ``failed``.

What the service model does not say, and this module assumes (the AgentCore emulator in the tests does the
same): ``getTask``'s ``stdout``/``stderr`` are the output so far. Should the service send only what is new since
the last ``getTask``, the text is appended instead: new text that does not continue the text already seen is
taken as the next piece. A task lives in its session: when the session ends (expired, stopped, restarted) its
tasks are reported as lost. The command is bounded with coreutils ``timeout`` like a foreground command.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.errors import InterpreterError, SandboxError
from core.sandbox.agentcore.stream import Parsed
from core.sandbox.output import OutputCollector
from core.sandbox.tasks import MAX_KEPT_TASKS, MAX_RUNNING_TASKS, TASK_TIME_LIMIT, CommandTask, TaskState
from core.types import STOP_EXPLANATIONS, ExecutionResult, StopReason

KILL_GRACE_SECONDS = 5
REFRESH_SECONDS = 1.0
"""A running task's state is asked of AgentCore at most this often (the page looks every few seconds)."""
RUNNING_STATUSES = ("submitted", "working")
LOST = "The AgentCore session ended, and this background command with it."


class TaskSessionLost(Exception):
    """The session a task ran in is gone (expired, stopped or restarted)."""


@dataclass
class _Known:
    """What this app knows of one task: the last answer, and which session it runs in."""

    task: CommandTask
    session_id: str
    stdout: str = ""
    stderr: str = ""
    looked_at: float = field(default_factory=time.monotonic)
    stopped: StopReason | None = None


def timed(command: str, limit: float) -> str:
    """``command`` run by bash under coreutils ``timeout`` (where the session has it)."""
    line = f"bash -c {shlex.quote(command)}"
    bounded = f"timeout -k {KILL_GRACE_SECONDS} {limit:g} {line}"
    return f"if command -v timeout >/dev/null 2>&1; then {bounded}; else {line}; fi"


def _merge(seen: str, answered: str) -> str:
    """The output so far, whether an answer carries all of it or only what is new."""
    if not seen or answered.startswith(seen):
        return answered
    return seen + answered


class AgentCoreTasks:
    """The background commands of one AgentCore sandbox.

    Args:
        call: Invokes a tool of the session, starting (or restarting) it when needed (for ``startCommandExecution``).
        invoke: Invokes a tool of the running session only; raises :class:`TaskSessionLost` when there is none.
        session_id: The running session's id, ``None`` when none runs.
        output_limit: The most characters kept of stdout and of stderr each.

    """

    def __init__(
        self,
        call: Callable[[str, dict[str, object]], Parsed],
        invoke: Callable[[str, dict[str, object]], Parsed],
        session_id: Callable[[], str | None],
        output_limit: int,
    ) -> None:
        self._call = call
        self._invoke = invoke
        self._session_id = session_id
        self.output_limit = output_limit
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()

    def start(self, command: str) -> CommandTask:
        """Start ``command`` as a task of the session (the caller holds the sandbox's lock)."""
        running = [known for known in self._known.values() if known.task.running]
        if len(running) >= MAX_RUNNING_TASKS:
            raise InterpreterError(
                f"{len(running)} background commands already run, the most one session may run at once. "
                "Wait for one to finish or stop one with command_task(task_id=..., action='stop')."
            )
        parsed = self._call("startCommandExecution", {"command": timed(command, TASK_TIME_LIMIT)})
        if parsed.is_error or not parsed.task_id:
            raise SandboxError(f"AgentCore did not start the command: {parsed.message or 'no task id came back'}")
        task = CommandTask(task_id=parsed.task_id, command=command)
        with self._lock:
            known = _Known(task, self._session_id() or "")
            self._known[task.task_id] = known
            self._absorb(known, parsed)
            finished = [key for key, item in self._known.items() if not item.task.running]
            for key in finished[: max(len(finished) - MAX_KEPT_TASKS, 0)]:
                del self._known[key]
        return self._copy(known)

    def _find(self, task_id: str) -> _Known:
        known = self._known.get(task_id)
        if known is None:
            names = ", ".join(self._known) or "none"
            raise InterpreterError(f"No background command {task_id!r} in this session (known: {names}).")
        return known

    def get(self, task_id: str, *, fresh: bool = True) -> CommandTask:
        """The task as it stands now, asked of AgentCore (``fresh=False``: at most every ``REFRESH_SECONDS``)."""
        known = self._find(task_id)
        if known.task.running and (fresh or time.monotonic() - known.looked_at >= REFRESH_SECONDS):
            self._ask(known, "getTask")
        return self._copy(known)

    def stop(self, task_id: str) -> CommandTask:
        """Stop the task (``stopTask``), then read how it ended."""
        known = self._find(task_id)
        if known.task.running:
            known.stopped = StopReason.INTERRUPTED
            self._ask(known, "stopTask")
            if known.task.running:  # stopTask answered before the task ended: ask once more
                self._ask(known, "getTask")
            if known.task.running:
                self._end(known, TaskState.STOPPED, None)
        return self._copy(known)

    def all(self) -> list[CommandTask]:
        """Every task this sandbox remembers, oldest first (running ones refreshed now and then)."""
        return [self.get(task_id, fresh=False) for task_id in list(self._known)]

    def running(self) -> bool:
        """Whether a task is known to run (as last seen)."""
        return any(known.task.running for known in list(self._known.values()))

    def _ask(self, known: _Known, tool: str) -> None:
        if self._session_id() != known.session_id:
            self._end(known, TaskState.FAILED, None, LOST)
            return
        try:
            parsed = self._invoke(tool, {"taskId": known.task.task_id})
        except TaskSessionLost:
            self._end(known, TaskState.FAILED, None, LOST)
            return
        with self._lock:
            known.looked_at = time.monotonic()
            self._absorb(known, parsed)

    def _absorb(self, known: _Known, parsed: Parsed) -> None:
        """Take in one answer: the output so far, and the end when the status says the task ended."""
        known.stdout = _merge(known.stdout, parsed.stdout or "")
        known.stderr = _merge(known.stderr, parsed.stderr)
        status = (parsed.task_status or "").lower()
        if status in RUNNING_STATUSES or (not status and not parsed.is_error):
            known.task.result = self._result(known, None)
            return
        exit_code = parsed.exit_code
        if status == "canceled" or known.stopped is not None:
            self._end(known, TaskState.STOPPED, exit_code)
        elif status == "completed" and exit_code in (None, 0):
            self._end(known, TaskState.COMPLETED, 0 if exit_code is None else exit_code)
        else:
            if exit_code in (124, 137) and known.task.seconds >= TASK_TIME_LIMIT:
                known.stopped = StopReason.TIMEOUT
            note = "" if status else f"AgentCore could not tell the command's state: {parsed.message}"
            self._end(known, TaskState.STOPPED if known.stopped else TaskState.FAILED, exit_code, note)

    def _result(self, known: _Known, exit_code: int | None) -> ExecutionResult:
        collector = OutputCollector(self.output_limit)
        collector.stream("stdout", known.stdout)
        collector.stream("stderr", known.stderr)
        return collector.result(known.task.seconds, exit_code)

    def _end(self, known: _Known, state: TaskState, exit_code: int | None, note: str = "") -> None:
        result = self._result(known, exit_code)
        if known.stopped is not None:
            suffix = f" (limit {TASK_TIME_LIMIT:g} s)" if known.stopped is StopReason.TIMEOUT else ""
            result.notes.insert(0, STOP_EXPLANATIONS[known.stopped] + suffix)
            result.stopped = known.stopped
        if note:
            result.notes.append(note)
        known.task.result, known.task.state, known.task.ended = result, state, time.time()

    @staticmethod
    def _copy(known: _Known) -> CommandTask:
        task = known.task
        return CommandTask(task.task_id, task.command, task.state, task.result, task.started, task.ended)
