"""The AgentCore emulator's background commands: ``startCommandExecution``, ``getTask`` and ``stopTask``.

Mixed into ``FakeAgentCoreDataPlane`` (``tests/sandbox/agentcore_fake.py``), which dispatches each
``InvokeCodeInterpreter`` tool name to its ``_tool_<name>`` method. Each task runs as a background job of the
session's real local sandbox (``core/sandbox/local/jobs.py``), so its output grows while it runs.

Each answer is one ``result`` event, a ``CodeInterpreterResult`` of the service model: ``content`` (a
``ContentBlockList``; one ``text`` block) and ``structuredContent`` (``ToolResultStructuredContent``: ``taskId``,
``taskStatus`` from the ``TaskStatus`` enum ``submitted | working | completed | canceled | failed``, and for
``getTask``/``stopTask`` ``stdout``, ``stderr``, ``exitCode`` once ended and ``executionTime`` in milliseconds),
``isError``. The request arguments are the model's ``ToolArguments`` members ``command`` and ``taskId``; the
fake's ``REQUIRED_ARGUMENTS`` refuses a call without them as a ``ValidationException``.

The emulator's own choices, unverified without AWS: the task id is 32 hex digits; ``getTask`` sends the output
so far (not only what is new); a task id the session does not know is an ``isError`` result, not an exception.
"""

from __future__ import annotations

import secrets
from typing import Any

from core.errors import InterpreterError
from core.sandbox.local.sandbox import LocalSandbox
from core.sandbox.tasks import CommandTask, TaskState

TASK_STATUS = {
    TaskState.RUNNING: "working",
    TaskState.COMPLETED: "completed",
    TaskState.FAILED: "failed",
    TaskState.STOPPED: "canceled",
}
"""The local job's state as the service model's ``TaskStatus``."""


class TaskTools:
    """The three task tools of the emulator (a mixin of ``FakeAgentCoreDataPlane``)."""

    def _task_ids(self, sandbox: LocalSandbox) -> dict[str, str]:
        """The service's task ids of one session's sandbox, each to its local job's id."""
        ids: dict[str, str] | None = getattr(sandbox, "_emulated_task_ids", None)
        if ids is None:
            ids = {}
            sandbox._emulated_task_ids = ids  # type: ignore[attr-defined]
        return ids

    def _tool_startCommandExecution(self, sandbox: LocalSandbox, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            task = sandbox.start_task(arguments["command"])
        except InterpreterError as error:
            return [{"content": [{"type": "text", "text": str(error)}], "isError": True}]
        task_id = secrets.token_hex(16)
        self._task_ids(sandbox)[task_id] = task.task_id
        text = f"Task {task_id} started"
        return [
            {
                "content": [{"type": "text", "text": text}],
                "structuredContent": _status(task_id, task, with_output=False),
            }
        ]

    def _tool_getTask(self, sandbox: LocalSandbox, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        return self._answer(sandbox, arguments["taskId"], stop=False)

    def _tool_stopTask(self, sandbox: LocalSandbox, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        return self._answer(sandbox, arguments["taskId"], stop=True)

    def _answer(self, sandbox: LocalSandbox, task_id: str, *, stop: bool) -> list[dict[str, Any]]:
        local = self._task_ids(sandbox).get(task_id)
        if local is None:
            return [{"content": [{"type": "text", "text": f"Task {task_id} not found"}], "isError": True}]
        task = sandbox.stop_task(local) if stop else sandbox.task(local)
        structured = _status(task_id, task, with_output=True)
        text = task.result.stdout or f"Task {task_id} is {structured['taskStatus']}"
        return [{"content": [{"type": "text", "text": text}], "structuredContent": structured, "isError": False}]


def _status(task_id: str, task: CommandTask, *, with_output: bool) -> dict[str, Any]:
    """A ``ToolResultStructuredContent`` for the task."""
    structured: dict[str, Any] = {"taskId": task_id, "taskStatus": TASK_STATUS[task.state]}
    if with_output:
        structured.update(stdout=task.result.stdout, stderr=task.result.stderr)
        structured["executionTime"] = task.seconds * 1000
        if task.result.exit_code is not None and not task.running:
            structured["exitCode"] = task.result.exit_code
    return structured
