"""This project's sandbox as Strands' own ``Sandbox``: a Strands agent and Strands' vended tools use it.

Real kernels and real bubblewrap, as in the app; the agent's model is the scripted model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from strands import Agent
from strands.sandbox import ExecutionResult, StreamChunk
from strands.sandbox.errors import SandboxPathNotFoundError, SandboxTimeoutError
from strands.vended_tools import file_editor, python_repl, shell

from core.config import Settings
from core.errors import InvalidPathError
from core.models.scripted import ScriptedModel
from core.sandbox.strands import InterpreterSandbox
from tests.conftest import gated_code, tool_results


@pytest.fixture
def sandbox(settings: Settings) -> Iterator[InterpreterSandbox]:
    with InterpreterSandbox.open("strands-test", settings) as opened:
        yield opened


def _collect(stream: Any) -> tuple[list[tuple[float, StreamChunk]], ExecutionResult]:
    """The chunks of a streaming run, each with how many seconds before the final result it arrived, and that."""

    async def collect() -> tuple[list[tuple[float, StreamChunk]], ExecutionResult]:
        chunks = []
        async for item in stream:
            if isinstance(item, ExecutionResult):
                return [(time.monotonic() - at, chunk) for at, chunk in chunks], item
            chunks.append((time.monotonic(), item))
        raise AssertionError("no ExecutionResult")

    return asyncio.run(collect())


def test_a_strands_agent_gets_the_projects_tools_and_keeps_python_variables(sandbox: InterpreterSandbox) -> None:
    steps = [
        {"tool": "execute_code", "input": {"code": "total = sum(range(10))"}},
        {"tool": "python_repl", "input": {"code": "print('total is', total)"}},
        {"tool": "shell", "input": {"command": "echo made-by-shell > shell.txt && cat shell.txt"}},
        {"tool": "file_editor", "input": {"command": "view", "path": "/sandbox/shell.txt"}},
        {"text": "Done."},
    ]
    agent = Agent(model=ScriptedModel(steps), sandbox=sandbox, tools=[python_repl, shell, file_editor])

    assert str(agent("Work")).strip() == "Done."
    assert {"execute_code", "execute_command", "file_operations", "ci_push_to_workspace"} <= set(agent.tool_names)
    python_out, shell_out, viewed = (str(result["content"]) for result in tool_results(agent.messages)[1:])
    assert "total is 45" in python_out
    assert "made-by-shell" in shell_out and "made-by-shell" in viewed
    assert sandbox.session.sandbox.read_file("shell.txt") == b"made-by-shell\n"


def test_output_streams_while_the_code_runs(sandbox: InterpreterSandbox) -> None:
    """The code waits (on a gate file) until the test has received its first line: only streaming ends it."""
    code = f"print('tick', 0, flush=True)\n{gated_code()}print('tick', 1)"

    async def collect() -> tuple[list[str], ExecutionResult]:
        chunks: list[str] = []
        async for item in sandbox.execute_code_streaming(code, "python3", timeout=60):
            if isinstance(item, ExecutionResult):
                return chunks, item
            chunks.append(item.data)
            if "".join(chunks) == "tick 0\n":
                sandbox.session.sandbox.write_file("go", b"")  # seen while the code runs: let it finish
        raise AssertionError("no ExecutionResult")

    chunks, result = asyncio.run(collect())
    assert result.exit_code == 0 and result.stdout == "tick 0\ntick 1\n"
    assert "".join(chunks) == result.stdout


def test_commands_take_a_folder_and_environment_and_stream(sandbox: InterpreterSandbox) -> None:
    asyncio.run(sandbox.write_text("data/in.txt", "hello"))
    command = 'cat in.txt; echo " $GREETING"; echo oops >&2; exit 3'
    chunks, result = _collect(sandbox.execute_streaming(command, cwd="data", env={"GREETING": "it's me"}))

    assert (result.exit_code, result.stdout, result.stderr.strip()) == (3, "hello it's me\n", "oops")
    assert {chunk.stream_type for _, chunk in chunks} == {"stdout", "stderr"}
    with pytest.raises(ValueError, match="environment variable name"):
        asyncio.run(sandbox.execute("true", env={"A;rm -rf /": "x"}))


def test_errors_timeouts_and_charts_in_strands_terms(sandbox: InterpreterSandbox) -> None:
    failed = asyncio.run(sandbox.execute_code("1 / 0", "python"))
    assert failed.exit_code == 1 and "ZeroDivisionError" in failed.stderr

    chart = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"
    drawn = asyncio.run(sandbox.execute_code(chart, "python"))
    assert [(f.name, f.mime_type, f.content[:4]) for f in drawn.output_files] == [
        ("output-1.png", "image/png", b"\x89PNG")
    ]

    with pytest.raises(SandboxTimeoutError):
        asyncio.run(sandbox.execute_code("import time; time.sleep(30)", "python", timeout=1))
    assert asyncio.run(sandbox.execute_code("console.log(6 * 7)", "node")).stdout.strip() == "42"
    with pytest.raises(ValueError, match="Unknown language"):
        asyncio.run(sandbox.execute_code("puts 1", "ruby"))


def test_a_cancelled_run_stops_the_code_and_the_sandbox_stays_usable(sandbox: InterpreterSandbox) -> None:
    async def cancel_a_long_run() -> float:
        code = "import time\nopen('started', 'w').close()\ntime.sleep(60)"
        task = asyncio.ensure_future(sandbox.execute_code(code, "python"))
        deadline = time.monotonic() + 60
        while not [f for f in sandbox.session.sandbox.list_files() if f.path == "started"]:  # the code runs
            assert time.monotonic() < deadline and not task.done(), "the code did not start"
            await asyncio.sleep(0.05)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(cancel_a_long_run()) < 30  # the code sleeps 60 s
    assert asyncio.run(sandbox.execute_code("print('still here')", "python")).stdout == "still here\n"


def test_files_stay_inside_the_sandbox(sandbox: InterpreterSandbox) -> None:
    asyncio.run(sandbox.write_file("out/a.bin", b"\x00\x01"))
    listed = asyncio.run(sandbox.list_files("out"))
    assert [(f.name, f.is_dir, f.size) for f in listed] == [("a.bin", False, 2)]
    assert asyncio.run(sandbox.read_file("out/a.bin")) == b"\x00\x01"

    asyncio.run(sandbox.remove_file("out/a.bin"))
    with pytest.raises(FileNotFoundError):
        asyncio.run(sandbox.read_file("out/a.bin"))
    with pytest.raises(SandboxPathNotFoundError):
        asyncio.run(sandbox.list_files("missing"))
    with pytest.raises(InvalidPathError):
        asyncio.run(sandbox.read_file("../../etc/passwd"))
