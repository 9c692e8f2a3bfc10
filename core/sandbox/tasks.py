"""Background commands: a shell command that outlives one tool call, on every backend alike.

``execute_command(command, background=true)`` starts one and answers at once with its task id; the
``command_task`` tool then checks it (its state and output so far, optionally waiting for it to end while the
chat shows its output live) or stops it. The local sandbox runs it as a job inside the session's bubblewrap
sandbox (``core/sandbox/local/jobs.py``); AgentCore as a task of the session (``startCommandExecution``,
``getTask``, ``stopTask``; ``core/sandbox/agentcore/tasks.py``). Both hand back :class:`CommandTask`.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.sandbox.output import OutputListener
from core.types import ExecutionResult

TASK_TIME_LIMIT = 3600.0
"""Seconds a background command may run before it is stopped (an AgentCore session's own timeout may be shorter)."""
MAX_RUNNING_TASKS = 4
"""Background commands one sandbox runs at once."""
MAX_KEPT_TASKS = 20
"""Finished background commands a sandbox remembers (the oldest are forgotten first)."""
WATCH_INTERVAL = 0.25
"""Seconds between two looks at a task while a tool call waits for it."""


class TaskState(enum.StrEnum):
    """Where a background command stands."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass
class CommandTask:
    """A background command and what it has produced so far.

    Attributes:
        task_id: Its id, as the agent names it.
        command: The command line.
        state: Running, completed (exit code 0), failed (another exit code, or lost) or stopped.
        result: Its output so far (bounded as any run's), its exit code once it ended, why it was stopped.
        started: ``time.time()`` when it started.
        ended: ``time.time()`` when it ended, if it did.

    """

    task_id: str
    command: str
    state: TaskState = TaskState.RUNNING
    result: ExecutionResult = field(default_factory=ExecutionResult)
    started: float = field(default_factory=time.time)
    ended: float | None = None

    @property
    def running(self) -> bool:
        """Whether the command still runs."""
        return self.state is TaskState.RUNNING

    @property
    def seconds(self) -> float:
        """How long it ran (so far)."""
        return (self.ended if self.ended is not None else time.time()) - self.started

    def describe(self) -> str:
        """One line on the task: id, state, how long, and the command."""
        code = f", exit code {self.result.exit_code}" if self.result.exit_code is not None else ""
        return f"{self.task_id}: {self.state.value}{code} after {self.seconds:,.0f} s: {self.command[:200]}"


def watch(
    look: Callable[[], CommandTask],
    stop: Callable[[], CommandTask],
    seconds: float,
    cancel: threading.Event,
    on_output: OutputListener | None = None,
) -> CommandTask:
    """Look at a task until it ends or ``seconds`` pass, handing each look's output to ``on_output``.

    When ``cancel`` is set meanwhile (the person pressed Stop) the task is stopped: a Stop ends what the person
    watches. Both backends' tasks are watched this way, so they behave alike.

    Args:
        look: Returns the task as it is now.
        stop: Stops the task and returns it.
        seconds: The longest wait.
        cancel: The sandbox's stop signal.
        on_output: Receives the output so far after each look.

    Returns:
        The task as the last look (or the stop) found it.

    """
    deadline = time.monotonic() + max(seconds, 0.0)
    task = look()
    while task.running:
        if cancel.is_set():
            return stop()
        if on_output is not None:
            on_output(task.result)
        if time.monotonic() >= deadline:
            break
        cancel.wait(min(WATCH_INTERVAL, max(deadline - time.monotonic(), 0.0)))
        task = look()
    return task
