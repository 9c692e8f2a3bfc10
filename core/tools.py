"""The agent's tools: the code-interpreter skill's contract, bound to one session.

Each tool returns a Strands tool result (``{"status", "content"}``); calling a tool directly returns exactly
what the agent receives. A tool never raises: every failure comes back as an error result in plain words.
"""

from __future__ import annotations

import functools
import inspect
import posixpath
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from strands import tool
from strands.types.tools import AgentTool

from core.chat.formatting import (
    describe_execution,
    describe_file_list,
    describe_started,
    describe_task,
    describe_tasks,
    image_blocks,
    text_or_binary,
)
from core.errors import InterpreterError
from core.files.changes import ChangeTracker
from core.sandbox.tasks import TaskState, watch
from core.types import ExecutionResult, StopReason, ToolRecord

if TYPE_CHECKING:
    from core.config import Settings
    from core.sandbox.base import Sandbox
    from core.workspace.base import Workspace


class ToolHost(Protocol):
    """What the tools need of a session (``core.session.Session`` is one)."""

    sandbox: Sandbox
    workspace: Workspace
    settings: Settings

    def record(self, entry: ToolRecord) -> None:
        """Remember a finished tool call."""

    def check_user_quota(self, adding_bytes: int = 0, adding_files: int = 1) -> None:
        """Refuse new files past the person's quota."""

    def publish_output(self, partial: ExecutionResult) -> None:
        """Show a running step's output so far."""


FILE_OPERATIONS = ("read", "write", "list", "remove")
TASK_ACTIONS = ("check", "stop")
YES = ("true", "yes", "1", "on")
OUTPUT_LIMIT_FACTOR = 2
"""A tool result's text is cut (head and tail kept) past this many times ``max_output_chars``."""


def _printable(text: str) -> str:
    """Text that can be encoded as UTF-8: undecodable bytes of file names become backslash escapes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    omitted = len(text) - 2 * half
    return f"{text[:half]}\n\n[... {omitted:,} characters omitted: the result was too long ...]\n\n{text[-half:]}"


def _result(status: str, text: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"status": status, "content": [{"text": _printable(text)}, *(extra or [])]}


def _check_arguments(name: str, signature: inspect.Signature, arguments: dict[str, Any]) -> None:
    """Refuse unknown or missing arguments and non-text values for text parameters, in plain words."""
    known = signature.parameters
    for key in arguments:
        if key not in known:
            raise InterpreterError(f"{name} has no argument {key!r}; its arguments are: {', '.join(known)}.")
    for parameter in known.values():
        if parameter.name not in arguments:
            if parameter.default is inspect.Parameter.empty:
                raise InterpreterError(f"{name} needs the argument {parameter.name!r}.")
            continue
        value = arguments[parameter.name]
        if parameter.annotation in ("str", str) and not isinstance(value, str):
            raise InterpreterError(
                f"The argument {parameter.name!r} of {name} must be text, not {type(value).__name__}."
            )


def _as_list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | dict):
        return [value]
    if isinstance(value, list | tuple):
        return list(value)
    raise InterpreterError(f"'{name}' must be a list, not {type(value).__name__}.")


def _guarded(session: ToolHost, name: str) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Turn every exception into an error result and record each call in the session's history."""

    def decorate(body: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(body)
        def run(**kwargs: Any) -> dict[str, Any]:
            record = ToolRecord(tool=name, input=dict(kwargs), status="error", text="")
            try:
                if session.sandbox.cancel.is_set():
                    raise InterpreterError("Not run: the user pressed Stop.")
                _check_arguments(name, public, kwargs)
                outcome = body(record=record, **kwargs)
            except InterpreterError as exc:
                outcome = _result("error", str(exc))
            except Exception as exc:  # a tool must never raise into the agent
                outcome = _result("error", f"Internal error in {name}: {type(exc).__name__}: {exc}")
            limit = OUTPUT_LIMIT_FACTOR * session.settings.max_output_chars
            outcome["content"][0]["text"] = _bounded(outcome["content"][0]["text"], limit)
            record.status, record.text = outcome["status"], outcome["content"][0]["text"]
            session.record(record)
            return outcome

        # The model must not see the internal 'record' argument in the tool's schema.
        signature = inspect.signature(body)
        public = signature.replace(parameters=[p for p in signature.parameters.values() if p.name != "record"])
        run.__signature__ = public  # type: ignore[attr-defined]
        run.__annotations__ = {k: v for k, v in body.__annotations__.items() if k != "record"}
        del run.__wrapped__  # type: ignore[attr-defined]
        return run

    return decorate


def build_tools(session: ToolHost) -> list[AgentTool]:
    """The seven tools of one session, ready for a Strands ``Agent``.

    Args:
        session: The session whose sandbox and workspace the tools use.

    Returns:
        ``execute_code``, ``execute_command``, ``command_task`` (background commands), ``file_operations``,
        ``ci_push_to_workspace``, ``workspace_list`` and ``workspace_read``.

    """
    sandbox, workspace = session.sandbox, session.workspace

    def push(paths: list[str], record: ToolRecord) -> tuple[list[str], list[str]]:
        saved, failed = [], []
        session.check_user_quota(adding_files=len(paths))
        # An AgentCore sandbox with the workspace mounted in it copies there (core/sandbox/agentcore/mount.py).
        copy_inside = getattr(sandbox, "copy_to_workspace", None) if getattr(sandbox, "workspace_folder", "") else None
        if copy_inside is not None:
            for copied in copy_inside(paths):
                if copied.error:
                    failed.append(f"{copied.path}: {copied.error}")
                else:
                    saved.append(f"{copied.path} -> code-interpreter/{copied.name} ({copied.size:,} bytes)")
                    record.saved_files.append(copied.name)
            return saved, failed
        for path in paths:
            try:
                info = workspace.write(posixpath.basename(path.rstrip("/")), sandbox.read_file(path))
                saved.append(f"{path} -> code-interpreter/{info.path} ({info.size:,} bytes)")
                record.saved_files.append(info.path)
            except InterpreterError as exc:
                failed.append(f"{path}: {exc}")
            except OSError as exc:  # the host's file system refused (no space, ...): no host path in the message
                failed.append(f"{path}: it could not be saved ({exc.strerror or type(exc).__name__}).")
        return saved, failed

    def finish_run(result: ExecutionResult, record: ToolRecord, saved: str = "") -> dict[str, Any]:
        record.result = result
        text = describe_execution(result) + (f"\n{saved}" if saved else "")
        return _result("success" if result.ok else "error", text, image_blocks(result))

    @tool
    @_guarded(session, "execute_code")
    def execute_code(
        code: str, language: str = "python", output_filename: str = "", *, record: ToolRecord
    ) -> dict[str, Any]:
        """Execute Python, JavaScript or TypeScript code in the sandbox. Python variables persist between calls.

        Use print() for text output. Shown matplotlib figures, pandas tables and Plotly figures are captured.

        Args:
            code: The code to run.
            language: "python" (default), "javascript" or "typescript".
            output_filename: A file the code saves in the sandbox; it is copied to the workspace after the run.

        """
        tracker = ChangeTracker(sandbox)
        result = sandbox.execute(code, language=language, on_output=session.publish_output)
        record.changed_files = tracker.changed()
        saved = ""
        if output_filename:
            done, failed = push([output_filename], record)
            saved = (
                f"Saved to workspace: {done[0]}"
                if done
                else f"Warning: output_filename {output_filename!r} was not saved: {failed[0].split(': ', 1)[1]} "
                "The code must save a file with exactly this name."
            )
        return finish_run(result, record, saved)

    @tool
    @_guarded(session, "execute_command")
    def execute_command(command: str, background: bool = False, *, record: ToolRecord) -> dict[str, Any]:
        """Execute a shell command (bash) in the sandbox root, e.g. "ls -la" or "pip install requests".

        A command that may outlast the time limit of one call (a long download, build or training, a server):
        set background=true. It then returns at once with a task id and keeps running; follow it with
        command_task(task_id=...) and stop it with command_task(task_id=..., action="stop").

        Args:
            command: The command line to run.
            background: Run it in the background and return its task id at once, instead of waiting for it.

        """
        if _yes(background):
            task = sandbox.start_task(command)
            record.task_id = task.task_id
            return _result("success", describe_started(task))
        tracker = ChangeTracker(sandbox)
        result = sandbox.run_command(command, on_output=session.publish_output)
        record.changed_files = tracker.changed()
        if result.stopped is StopReason.TIMEOUT:
            result.notes.append("To run a command that takes longer, call execute_command with background=true.")
        return finish_run(result, record)

    @tool
    @_guarded(session, "command_task")
    def command_task(
        task_id: str = "", action: str = "check", wait_seconds: float = 0, *, record: ToolRecord
    ) -> dict[str, Any]:
        """Check or stop a command started with execute_command(background=true).

        "check" returns its state (running, completed, failed, stopped), its output so far and its exit code
        once it ended; with wait_seconds it first waits up to that long for the command to end. "stop" ends
        it. Without a task_id: lists the background commands of this session.

        Args:
            task_id: The id execute_command returned, e.g. "cmd-1".
            action: "check" (default) or "stop".
            wait_seconds: For "check": wait up to this many seconds for the command to end (at most the time
                limit of one call); 0 returns at once.

        """
        if not task_id:
            return _result("success", describe_tasks(sandbox.tasks()))
        if action not in TASK_ACTIONS:
            return _result("error", f"Unknown action {action!r}; use one of: {', '.join(TASK_ACTIONS)}.")
        record.task_id = task_id
        if action == "stop":
            task = sandbox.stop_task(task_id)
        else:
            wait = min(_seconds(wait_seconds), session.settings.execution_timeout)
            look, stop = (lambda: sandbox.task(task_id)), (lambda: sandbox.stop_task(task_id))
            task = watch(look, stop, wait, sandbox.cancel, session.publish_output)
        record.result = task.result
        status = "error" if task.state in (TaskState.FAILED, TaskState.STOPPED) else "success"
        return _result(status, describe_task(task))

    @tool
    @_guarded(session, "file_operations")
    def file_operations(
        operation: str,
        paths: list[str] | None = None,
        content: list[dict[str, str]] | None = None,
        *,
        record: ToolRecord,
    ) -> dict[str, Any]:
        """Read, write, list or remove files in the sandbox. Paths are relative to the sandbox root.

        Args:
            operation: "read", "write", "list" or "remove".
            paths: For read, list and remove: the paths, e.g. ["data.csv"] or ["."] for list.
            content: For write: entries with "path" and "text", e.g. [{"path": "out.txt", "text": "hello"}].

        """
        if operation not in FILE_OPERATIONS:
            return _result("error", f"Unknown operation {operation!r}; use one of: {', '.join(FILE_OPERATIONS)}.")
        items = _as_list(content if operation == "write" else paths, "content" if operation == "write" else "paths")
        if operation == "list" and not items:
            items = ["."]
        if not items:
            needed = "content=[{'path': ..., 'text': ...}]" if operation == "write" else "paths=[...]"
            return _result("error", f"The {operation!r} operation needs {needed}.")
        lines, failures, size = [], 0, 0
        budget = OUTPUT_LIMIT_FACTOR * session.settings.max_output_chars
        tracker = ChangeTracker(sandbox) if operation == "write" else None
        for number, item in enumerate(items):
            if operation in ("read", "list") and size > budget:
                done = "read" if operation == "read" else "listed"
                lines.append(
                    f"{len(items) - number:,} more path(s) were not {done}: the result reached its size limit. "
                    "Ask for fewer files at once."
                )
                break
            try:
                lines.append(_file_operation(sandbox, operation, item, session.settings.max_output_chars))
            except InterpreterError as exc:
                failures += 1
                lines.append(f"{_label(item)}: error: {exc}")
            except OSError as exc:  # e.g. a file where a folder is needed: no host path in the message
                failures += 1
                lines.append(f"{_label(item)}: error: the file system refused it ({exc.strerror or exc}).")
            size += len(lines[-1])
        record.changed_files = tracker.changed() if tracker is not None else []
        return _result("error" if failures else "success", "\n\n".join(lines))

    @tool
    @_guarded(session, "ci_push_to_workspace")
    def ci_push_to_workspace(paths: list[str] | None = None, *, record: ToolRecord) -> dict[str, Any]:
        """Save sandbox files to the session's workspace (code-interpreter/). Omit paths to save every file in the root.

        Args:
            paths: Sandbox paths to save, e.g. ["chart.png", "results.json"]; saved under their file names.

        """
        wanted = [str(p) for p in _as_list(paths, "paths")]
        if not wanted:
            wanted = [f.path for f in sandbox.list_files(".") if not f.is_dir and not f.path.startswith(".")]
            if not wanted:
                return _result("error", "The sandbox root has no files to save.")
        saved, failed = push(wanted, record)
        text = "\n".join(
            [f"Saved {len(saved)} file(s):", *saved] + ([f"Failed {len(failed)}:", *failed] if failed else [])
        )
        return _result("error" if failed else "success", text)

    @tool
    @_guarded(session, "workspace_list")
    def workspace_list(path: str = "code-interpreter/", *, record: ToolRecord) -> dict[str, Any]:
        """List the files saved in the session's workspace (code-interpreter/).

        Args:
            path: The namespace to list; only "code-interpreter/" exists.

        """
        return _result("success", describe_file_list(workspace.list(), prefix="code-interpreter/"))

    @tool
    @_guarded(session, "workspace_read")
    def workspace_read(path: str, *, record: ToolRecord) -> dict[str, Any]:
        """Read a file saved in the workspace, e.g. "code-interpreter/results.json". Images are returned as images.

        Args:
            path: The workspace file, with or without the "code-interpreter/" prefix.

        """
        data = workspace.read(path)
        text, blocks = text_or_binary(path, data, session.settings.max_output_chars)
        return _result("success", text, blocks)

    _describe_sandbox(sandbox, [execute_code, execute_command])
    return [
        execute_code,
        execute_command,
        command_task,
        file_operations,
        ci_push_to_workspace,
        workspace_list,
        workspace_read,
    ]


def _yes(value: Any) -> bool:
    """A flag as models send it: true, "true", 1, "yes"."""
    return value is True or (isinstance(value, int | float) and value == 1) or str(value).strip().lower() in YES


def _seconds(value: Any) -> float:
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        raise InterpreterError(f"wait_seconds must be a number of seconds, not {value!r}.") from None


def _label(item: Any) -> str:
    return str(item.get("path", "?")) if isinstance(item, dict) else str(item)


def _file_operation(sandbox: Sandbox, operation: str, item: Any, limit: int) -> str:
    if operation == "write":
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not isinstance(item.get("text"), str):
            raise InterpreterError("Each write entry needs a 'path' (text) and a 'text' (text).")
        info = sandbox.write_file(item["path"], item["text"].encode("utf-8"))
        return f"Wrote {info.path} ({info.size:,} bytes)."
    if not isinstance(item, str):
        raise InterpreterError(f"Paths must be text, not {type(item).__name__}.")
    if operation == "read":
        text, _ = text_or_binary(item, sandbox.read_file(item), limit, images=False)
        return text
    if operation == "list":
        return describe_file_list(sandbox.list_files(item), prefix="", title=f"{item}:")
    sandbox.remove(item)
    return f"Removed {item}."


R_DESCRIPTION = (
    'R: language="r" runs R (IRkernel); its variables persist between calls. Base graphics and ggplot2 charts '
    "(ggplot2 is installed) are captured as images, and a data.frame left as the last value is shown as a table."
)


def _offer_r(execute_code: Any) -> None:
    """Offer R in execute_code's description and its ``language`` parameter (only where the sandbox runs R)."""
    spec = execute_code.tool_spec
    description = spec["description"].replace("Python, JavaScript or TypeScript", "Python, JavaScript, TypeScript or R")
    schema = spec["inputSchema"]["json"]
    language = schema["properties"]["language"]
    language = {**language, "description": '"python" (default), "javascript", "typescript" or "r".'}
    schema = {**schema, "properties": {**schema["properties"], "language": language}}
    execute_code.tool_spec = {
        **spec,
        "description": f"{description}\n\n{R_DESCRIPTION}",
        "inputSchema": {**spec["inputSchema"], "json": schema},
    }


def _describe_sandbox(sandbox: Sandbox, tools: list[Any]) -> None:
    """Add what this sandbox keeps between calls (and what runs JavaScript) to the tools' descriptions."""
    if "r" in getattr(sandbox, "languages", ()):
        _offer_r(tools[0])
    persists = sandbox.isolation_report().persists
    for each in tools if persists else []:
        spec = each.tool_spec
        each.tool_spec = {**spec, "description": f"{spec['description']}\n\n{persists}"}
