"""Background commands of a local sandbox: jobs that run inside the session's bubblewrap sandbox and cgroup.

A job is started exactly as a shell command is (:meth:`Isolation.command`: bubblewrap, the private network, the
cgroup, the limits), from the long-lived spawner thread, in a session of its own. Its output comes back through
two pipes into an :class:`OutputCollector` held in the app's memory: no log or pid file exists anywhere, so
nothing in a folder the sandbox can write is ever opened by path for it. Stopping a job kills its process group
with SIGKILL; bubblewrap's ``--die-with-parent`` then ends its whole process namespace, so a job that ignores
SIGTERM, forks or detaches cannot outlive it. A job also ends when its first process ends (the namespace dies
with it), at its time limit, and when the sandbox is closed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import threading
import time

from core.errors import InterpreterError
from core.sandbox.local.isolation import Isolation
from core.sandbox.local.process import _pump, spawn_command
from core.sandbox.output import OutputCollector
from core.sandbox.tasks import MAX_KEPT_TASKS, MAX_RUNNING_TASKS, TASK_TIME_LIMIT, CommandTask, TaskState
from core.types import STOP_EXPLANATIONS, StopReason

PUMP_JOIN_SECONDS = 10.0


class Job:
    """One background command: its process, its output so far, and how it ended.

    Args:
        task_id: The id the agent uses.
        command: The command line.
        process: The started process (the outermost of the sandbox's wrappers).
        output_limit: The most characters kept of stdout and of stderr each.

    """

    def __init__(self, task_id: str, command: str, process: subprocess.Popen[bytes], output_limit: int) -> None:
        self.task = CommandTask(task_id=task_id, command=command)
        self.process = process
        self.collector = OutputCollector(output_limit)
        self.stopped: StopReason | None = None
        self.done = threading.Event()
        self._namespace: str | None = None
        self._lock = threading.Lock()

    def namespace(self) -> str:
        """The job's process namespace (``pid:[...]``): its bubblewrap's first child's; empty when unknown."""
        if self._namespace is None:
            try:
                with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as children:
                    first = children.read().split()[0]
                self._namespace = os.readlink(f"/proc/{first}/ns/pid")
                if self._namespace == os.readlink("/proc/self/ns/pid"):
                    self._namespace = ""  # no namespace of its own (reduced isolation): nothing tells its processes
            except (OSError, IndexError):
                return ""
        return self._namespace

    def snapshot(self) -> CommandTask:
        """The task as it stands now (a copy the caller may keep)."""
        with self._lock:
            task = self.task
            result = task.result if self.done.is_set() else self.collector.result(task.seconds)
            return CommandTask(task.task_id, task.command, task.state, result, task.started, task.ended)

    def kill(self, reason: StopReason) -> None:
        """End the job's whole process tree (its process group; bubblewrap takes the namespace with it)."""
        with self._lock:
            if self.done.is_set() or self.stopped is not None or self.process.poll() is not None:
                return
            self.stopped = reason
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def finish(self, pumps: list[threading.Thread], time_limit: float) -> None:
        """Wait for the output's end and record how the job ended (``time_limit``: the limit it had)."""
        for pump in pumps:
            pump.join(timeout=PUMP_JOIN_SECONDS)
        code = self.process.returncode
        with self._lock:
            result = self.collector.result(self.task.seconds, code if code >= 0 else 128 - code)
            if self.stopped is not None:
                suffix = f" (limit {time_limit:g} s)" if self.stopped is StopReason.TIMEOUT else ""
                result.notes.insert(0, STOP_EXPLANATIONS[self.stopped] + suffix)
                result.stopped = self.stopped
                state = TaskState.STOPPED
            else:
                state = TaskState.COMPLETED if result.exit_code == 0 else TaskState.FAILED
            self.task.result, self.task.state, self.task.ended = result, state, time.time()
            self.done.set()


class JobRunner:
    """The background commands of one local sandbox.

    Args:
        isolation: Builds the sandboxed command lines (the same as for every other process of the session).
        output_limit: The most characters kept of stdout and of stderr each, per job.
        time_limit: Seconds a job may run before it is stopped.

    """

    def __init__(self, isolation: Isolation, output_limit: int, time_limit: float = TASK_TIME_LIMIT) -> None:
        self.isolation = isolation
        self.output_limit = output_limit
        self.time_limit = time_limit
        self._jobs: dict[str, Job] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = False

    def start(self, argv: list[str], command: str) -> CommandTask:
        """Start ``argv`` (as seen inside the sandbox) in the background.

        Args:
            argv: The program and its arguments, e.g. ``["bash", "-c", command]``.
            command: The command line as the agent wrote it (for the task's description).

        Returns:
            The new task, running.

        Raises:
            InterpreterError: When as many jobs as allowed already run.

        """
        with self._lock:
            if self._closed:
                raise InterpreterError("This sandbox was closed; open the session again.")
            running = [job for job in self._jobs.values() if not job.done.is_set()]
            if len(running) >= MAX_RUNNING_TASKS:
                raise InterpreterError(
                    f"{len(running)} background commands already run, the most one session may run at once. "
                    "Wait for one to finish or stop one with command_task(task_id=..., action='stop')."
                )
            task_id = f"cmd-{next(self._numbers)}"
            process = spawn_command(self.isolation, argv)
            job = Job(task_id, command, process, self.output_limit)
            self._jobs[task_id] = job
            self._forget_old()
        pumps = [
            threading.Thread(target=_pump, args=(pipe, job.collector, name), daemon=True, name=f"job-{name}")
            for pipe, name in ((process.stdout, "stdout"), (process.stderr, "stderr"))
        ]
        for pump in pumps:
            pump.start()
        threading.Thread(target=self._supervise, args=(job, pumps), daemon=True, name=f"job-{task_id}").start()
        return job.snapshot()

    def _supervise(self, job: Job, pumps: list[threading.Thread]) -> None:
        """Wait for the job to end, killing it at its time limit."""
        try:
            job.process.wait(timeout=self.time_limit)
        except subprocess.TimeoutExpired:
            job.kill(StopReason.TIMEOUT)
            job.process.wait()
        job.finish(pumps, self.time_limit)

    def _forget_old(self) -> None:
        finished = [task_id for task_id, job in self._jobs.items() if job.done.is_set()]
        for task_id in finished[: max(len(finished) - MAX_KEPT_TASKS, 0)]:
            del self._jobs[task_id]

    def _job(self, task_id: str) -> Job:
        job = self._jobs.get(task_id)
        if job is None:
            known = ", ".join(self._jobs) or "none"
            raise InterpreterError(f"No background command {task_id!r} in this session (known: {known}).")
        return job

    def get(self, task_id: str) -> CommandTask:
        """The task as it stands now (state, output so far)."""
        return self._job(task_id).snapshot()

    def stop(self, task_id: str) -> CommandTask:
        """Stop a task (at once, whatever signals it ignores) and return it as it ended."""
        job = self._job(task_id)
        job.kill(StopReason.INTERRUPTED)
        job.done.wait(PUMP_JOIN_SECONDS + 5)
        return job.snapshot()

    def all(self) -> list[CommandTask]:
        """Every task this sandbox remembers, oldest first."""
        return [job.snapshot() for job in list(self._jobs.values())]

    def process_ids(self) -> set[int]:
        """Host ids of the processes of the running jobs: those in a job's own process namespace (bubblewrap's)."""
        spaces = {space for job in list(self._jobs.values()) if not job.done.is_set() and (space := job.namespace())}
        found = set()
        for pid in self.isolation.limits.process_ids() if spaces else ():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/ns/pid") in spaces:
                    found.add(pid)
        return found

    def running(self) -> bool:
        """Whether a task runs now."""
        return any(not job.done.is_set() for job in list(self._jobs.values()))

    def close(self) -> None:
        """Stop every task; no new one starts."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
        for job in jobs:
            job.kill(StopReason.INTERRUPTED)
        for job in jobs:
            job.done.wait(PUMP_JOIN_SECONDS + 5)
