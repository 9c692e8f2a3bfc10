"""This project's sandbox offered to any Strands agent, as Strands' own ``strands.sandbox.Sandbox``.

``Agent(sandbox=InterpreterSandbox.open())`` gives an agent the isolated, stateful sandbox of this app: its
tools (``execute_code``, ``execute_command``, ``file_operations``, ``ci_push_to_workspace``, ...) are vended to
the agent, and Strands' sandbox-aware tools (``strands.vended_tools``: ``shell``, ``file_editor``,
``python_repl``) run through it too. Python keeps its variables between runs, as in the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
from collections.abc import AsyncGenerator, Callable
from pathlib import PurePosixPath
from types import TracebackType
from typing import Any

from strands.sandbox import ExecutionResult, FileInfo, OutputFile, Sandbox, StreamChunk
from strands.sandbox.errors import SandboxPathNotFoundError, SandboxTimeoutError
from strands.types.tools import AgentTool

from core.config import Settings
from core.sandbox.output import OutputListener
from core.session import Session, open_session
from core.types import ExecutionResult as RunResult
from core.types import RichOutput, StopReason

LANGUAGE_NAMES = {
    "python": "python",
    "python3": "python",
    "py": "python",
    "javascript": "javascript",
    "js": "javascript",
    "node": "javascript",
    "typescript": "typescript",
    "ts": "typescript",
    "deno": "typescript",
    "r": "r",
    "rscript": "r",
}
"""Interpreter names Strands tools pass (``python3``, ``node``), and this project's language names."""

EXIT_CODES = {StopReason.INTERRUPTED: 130, StopReason.OUT_OF_MEMORY: 137, StopReason.CRASHED: 134}
"""Exit codes a shell would report for a run cut short (128 + SIGINT, SIGKILL, SIGABRT)."""

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg", "text/html": "html"}


class InterpreterSandbox(Sandbox):
    """Strands' ``Sandbox`` over one session of this project (its local or AgentCore sandbox and its workspace).

    Args:
        session: The session whose sandbox runs the code; see :meth:`open` for a new one.
        vend_tools: Whether the agent gets this project's tools (execute_code, execute_command, ...).

    """

    def __init__(self, session: Session, *, vend_tools: bool = True) -> None:
        self.session = session
        self.vend_tools = vend_tools

    @classmethod
    def open(
        cls, conversation_id: str = "strands-agent", settings: Settings | None = None, *, user_id: str = "local"
    ) -> InterpreterSandbox:
        """Open (or reopen) a conversation's sandbox, configured like the app (``INTERPRETER_*`` settings).

        Args:
            conversation_id: Names the sandbox's folder; reopening it finds its files again.
            settings: The settings; read from the environment when omitted.
            user_id: The owner; sandboxes of different owners never share files.

        Returns:
            The sandbox; :meth:`close` it (or use it in a ``with`` block) when done.

        """
        return cls(open_session(conversation_id, settings, user_id=user_id))

    def __enter__(self) -> InterpreterSandbox:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the sandbox's interpreters; its files stay."""
        self.session.close()

    def get_tools(self) -> list[AgentTool]:
        """This project's tools, bound to this sandbox (none when ``vend_tools`` is off)."""
        return list(self.session.tools) if self.vend_tools else []

    async def execute_streaming(
        self,
        command: str,
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[StreamChunk | ExecutionResult, None]:
        """Run a bash command line in the sandbox (in ``cwd``, a sandbox path, with ``env`` set), streaming.

        Yields:
            Output as it comes, then the result.

        Raises:
            SandboxTimeoutError: The command ran past ``timeout``.
            ValueError: ``env`` names a variable that is not a valid shell name.

        """
        line = _with_env(env) + (f"cd {shlex.quote(cwd)} && " if cwd else "") + command
        sandbox = self.session.sandbox
        async for item in self._streamed(lambda listen: sandbox.run_command(line, timeout, on_output=listen), timeout):
            yield item

    async def execute_code_streaming(
        self,
        code: str,
        language: str,
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[StreamChunk | ExecutionResult, None]:
        """Run code in the sandbox's interpreter for ``language`` (Python keeps its variables), streaming.

        ``cwd`` and ``env`` are refused: code runs in a long-lived interpreter whose working folder and
        environment stay as the code leaves them (use ``os.chdir`` / ``os.environ`` in the code itself).

        Yields:
            Output as it comes, then the result.

        Raises:
            SandboxTimeoutError: The code ran past ``timeout``.
            ValueError: An unknown language, or ``cwd``/``env`` were given.

        """
        name = LANGUAGE_NAMES.get(language.lower())
        if name is None:
            raise ValueError(f"Unknown language {language!r}: use one of {', '.join(sorted(LANGUAGE_NAMES))}.")
        if cwd or env:
            raise ValueError(
                "cwd and env apply to commands; code runs in its interpreter's own folder and environment."
            )
        sandbox = self.session.sandbox
        async for item in self._streamed(
            lambda listen: sandbox.execute(code, name, timeout, on_output=listen), timeout
        ):
            yield item

    async def read_file(self, path: str, **kwargs: Any) -> bytes:
        """The bytes of a sandbox file (``FileNotFoundError`` when there is none)."""
        return await asyncio.to_thread(self.session.sandbox.read_file, path)

    async def write_file(self, path: str, content: bytes, **kwargs: Any) -> None:
        """Create or replace a sandbox file, within the person's quota (parent folders are created)."""
        self.session.check_user_quota(adding_bytes=len(content))
        await asyncio.to_thread(self.session.sandbox.write_file, path, content)

    async def remove_file(self, path: str, **kwargs: Any) -> None:
        """Delete a sandbox file (``FileNotFoundError`` when there is none)."""
        await asyncio.to_thread(self.session.sandbox.remove, path)

    async def list_files(self, path: str, **kwargs: Any) -> list[FileInfo]:
        """The entries of a sandbox folder (``SandboxPathNotFoundError`` when there is none)."""
        try:
            entries = await asyncio.to_thread(self.session.sandbox.list_files, path)
        except FileNotFoundError as missing:
            raise SandboxPathNotFoundError(path) from missing
        return [FileInfo(PurePosixPath(e.path).name, is_dir=e.is_dir, size=e.size) for e in entries]

    async def _streamed(
        self, run: Callable[[OutputListener], RunResult], timeout: float | None
    ) -> AsyncGenerator[StreamChunk | ExecutionResult, None]:
        """Run ``run`` in a thread; yield its new output as chunks while it runs, then the result."""
        loop = asyncio.get_running_loop()
        snapshots: asyncio.Queue[RunResult] = asyncio.Queue()

        def listen(snapshot: RunResult) -> None:
            loop.call_soon_threadsafe(snapshots.put_nowait, snapshot)

        running = asyncio.ensure_future(asyncio.to_thread(run, listen))
        sent = {"stdout": "", "stderr": ""}
        try:
            while not running.done():
                snapshot = asyncio.ensure_future(snapshots.get())
                await asyncio.wait({snapshot, running}, return_when=asyncio.FIRST_COMPLETED)
                if not snapshot.done():
                    snapshot.cancel()
                    continue
                for chunk in _new_text(snapshot.result(), sent):
                    yield chunk
            result = running.result()
            for chunk in _new_text(result, sent):
                yield chunk
            yield _as_strands_result(result, timeout)
        finally:
            if not running.done():  # the caller was cancelled (Strands' way to stop a run): stop the code too
                self.session.sandbox.interrupt()
                with contextlib.suppress(Exception):
                    await running
                self.session.sandbox.clear_interrupt()


def _with_env(env: dict[str, str] | None) -> str:
    """``export`` statements for ``env``, quoted for bash."""
    if not env:
        return ""
    bad = [name for name in env if not ENV_NAME.fullmatch(name)]
    if bad:
        raise ValueError(f"Not a valid environment variable name: {bad[0][:80]!r}.")
    return "".join(f"export {name}={shlex.quote(value)}; " for name, value in env.items())


def _new_text(snapshot: RunResult, sent: dict[str, str]) -> list[StreamChunk]:
    """The text a snapshot adds to what was already sent, per stream.

    Text that was rewritten rather than added to (a carriage-return progress line, a cut) is not streamed; the final
    result carries it.
    """
    chunks = []
    for stream, text in (("stdout", snapshot.stdout), ("stderr", snapshot.stderr)):
        if len(text) > len(sent[stream]) and text.startswith(sent[stream]):
            chunks.append(StreamChunk(text[len(sent[stream]) :], stream_type=stream))  # type: ignore[arg-type]
            sent[stream] = text
    return chunks


def _as_strands_result(result: RunResult, timeout: float | None) -> ExecutionResult:
    """This project's run result in Strands' terms: an exit code, stderr with the error, rich outputs as files."""
    stderr = "\n".join(part for part in (result.stderr, _error_text(result), *result.notes) if part)
    if result.stopped is StopReason.TIMEOUT:
        raise SandboxTimeoutError(timeout, result.stdout, stderr)
    if result.exit_code is not None:
        exit_code = result.exit_code
    elif result.stopped is not None:
        exit_code = EXIT_CODES.get(result.stopped, 1)
    else:
        exit_code = 0 if result.error is None else 1
    files = [_as_file(number, output) for number, output in enumerate(result.rich_outputs, 1)]
    return ExecutionResult(exit_code=exit_code, stdout=result.stdout, stderr=stderr, output_files=files)


def _error_text(result: RunResult) -> str:
    if result.error is None:
        return ""
    return result.error.traceback or f"{result.error.name}: {result.error.value}"


def _as_file(number: int, output: RichOutput) -> OutputFile:
    """A rich output (image, table, HTML, ...) as a named file."""
    data = output.data
    if isinstance(data, dict):
        content, extension = json.dumps(data).encode(), "json"
    else:
        content = data if isinstance(data, bytes) else data.encode()
        extension = EXTENSIONS.get(output.mime_type, "txt" if isinstance(data, str) else "bin")
    return OutputFile(name=f"output-{number}.{extension}", content=content, mime_type=output.mime_type)
