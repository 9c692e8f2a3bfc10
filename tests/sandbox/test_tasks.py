"""Background commands on both backends alike: the local sandbox (bubblewrap) and AgentCore (the emulator over
HTTP, through the real boto3 client). A command started with ``execute_command(background=true)`` outlives the
call, its output grows while it runs, ``command_task`` follows it (showing its output live) and stops it, and a
Stop pressed while a call waits for it ends it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core.errors import InterpreterError
from core.sandbox.base import Sandbox
from core.sandbox.local.isolation import bubblewrap_works
from core.sandbox.local.sandbox import LocalSandbox
from core.sandbox.tasks import MAX_RUNNING_TASKS, TaskState
from core.tools import build_tools
from core.types import ExecutionResult, StopReason
from tests.conftest import text_of, tools_by_name, wait_for
from tests.prerequisites import requires
from tests.sandbox.agentcore_fake import FakeAgentCoreDataPlane
from tests.sandbox.test_agentcore_fake import agentcore_settings, fake_interpreter, no_aws_network  # noqa: F401

pytestmark = requires(bubblewrap_works(), "bubblewrap cannot run on this machine")

GATED = "echo started; while [ ! -e go ]; do sleep 0.02; done; echo finished; echo oops >&2; exit 3"
"""A command that prints, waits until the test writes the file ``go``, prints again and fails with code 3."""


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeAgentCoreDataPlane]:
    fake = FakeAgentCoreDataPlane(tmp_path_factory.mktemp("agentcore-fake"))
    yield fake
    fake.close()


@pytest.fixture(params=["local", "agentcore"])
def sandbox(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Any],
    emulator: FakeAgentCoreDataPlane,
    tmp_path: Path,
) -> Iterator[Sandbox]:
    """A sandbox of each backend (the AgentCore one in a session of the emulator)."""
    made: Sandbox
    if request.param == "local":
        settings = make_settings()
        made = LocalSandbox(settings, settings.sessions_dir / "local" / "tasks")
    else:
        from core.sandbox.agentcore.session import AgentCoreSandbox

        made = AgentCoreSandbox(agentcore_settings(tmp_path / "ac"), "tasks", interpreter=fake_interpreter(emulator))
    yield made
    made.close()


def tools_of(sandbox: Sandbox, seen: list[ExecutionResult]) -> dict[str, Any]:
    """The agent's tools over ``sandbox``; the output each call shows live is appended to ``seen``."""
    host = SimpleNamespace(
        sandbox=sandbox,
        workspace=None,
        settings=sandbox.settings,  # type: ignore[attr-defined]
        record=lambda record: None,
        check_user_quota=lambda **_: None,
        publish_output=seen.append,
    )
    return tools_by_name(build_tools(host))  # type: ignore[arg-type]


def test_a_background_command_outlives_the_call_and_ends_with_its_exit_code(sandbox: Sandbox) -> None:
    task = sandbox.start_task(GATED)
    assert task.running and task.command == GATED
    wait_for(lambda: "started" in sandbox.task(task.task_id).result.stdout, "the first line while it runs")
    assert sandbox.task(task.task_id).running
    assert sandbox.run_command("echo meanwhile").stdout == "meanwhile\n"  # the sandbox is not held up
    sandbox.write_file("go", b"")
    wait_for(lambda: not sandbox.task(task.task_id).running, "the command to end")
    ended = sandbox.task(task.task_id)
    assert ended.state is TaskState.FAILED and ended.result.exit_code == 3
    assert ended.result.stdout == "started\nfinished\n" and ended.result.stderr == "oops\n"
    assert [t.task_id for t in sandbox.tasks()] == [task.task_id]


def test_the_tools_start_follow_live_and_report_a_background_command(sandbox: Sandbox) -> None:
    seen: list[ExecutionResult] = []
    tools = tools_of(sandbox, seen)
    started = tools["execute_command"](command=GATED, background=True)
    assert started["status"] == "success" and "command_task(task_id=" in text_of(started)
    task_id = sandbox.tasks()[-1].task_id
    assert f"'{task_id}'" in text_of(started)
    wait_for(lambda: "started" in sandbox.task(task_id).result.stdout, "the first line")
    waiting: dict[str, Any] = {}

    def wait_for_it() -> None:
        waiting["result"] = tools["command_task"](task_id=task_id, wait_seconds=50)

    follower = threading.Thread(target=wait_for_it)
    follower.start()
    wait_for(lambda: any("started" in r.stdout for r in seen), "the output shown live while the call waits")
    sandbox.write_file("go", b"")
    follower.join(60)
    text = text_of(waiting["result"])
    assert waiting["result"]["status"] == "error"  # exit code 3
    assert f"[task] {task_id}: failed, exit code 3" in text and "finished" in text and "[exit code] 3" in text
    listing = text_of(tools["command_task"]())
    assert listing.startswith("Background commands:") and task_id in listing
    assert text_of(tools["command_task"](task_id="no-such-task"))


def test_stop_ends_a_command_that_ignores_sigterm(sandbox: Sandbox) -> None:
    tools = tools_of(sandbox, [])
    tools["execute_command"](command="trap '' TERM INT; echo stubborn; sleep 600", background=True)
    task_id = sandbox.tasks()[-1].task_id
    wait_for(lambda: "stubborn" in sandbox.task(task_id).result.stdout, "the command to start")
    stopped = tools["command_task"](task_id=task_id, action="stop")
    assert "stopped" in text_of(stopped) and stopped["status"] == "error"
    task = sandbox.task(task_id)
    assert task.state is TaskState.STOPPED and task.result.stopped is StopReason.INTERRUPTED


def test_a_stop_pressed_while_a_call_waits_ends_the_command(sandbox: Sandbox) -> None:
    seen: list[ExecutionResult] = []
    tools = tools_of(sandbox, seen)
    tools["execute_command"](command="echo working; sleep 600", background=True)
    task_id = sandbox.tasks()[-1].task_id
    answer: dict[str, Any] = {}
    follower = threading.Thread(target=lambda: answer.update(tools["command_task"](task_id=task_id, wait_seconds=50)))
    follower.start()
    wait_for(lambda: any("working" in r.stdout for r in seen), "the call to show the output")
    sandbox.interrupt()  # what the page's Stop does
    follower.join(30)
    sandbox.clear_interrupt()
    assert not follower.is_alive() and sandbox.task(task_id).state is TaskState.STOPPED
    assert "stopped on request" in text_of(answer)


def test_bad_task_calls_are_plain_errors(sandbox: Sandbox) -> None:
    tools = tools_of(sandbox, [])
    assert "No background commands" in text_of(tools["command_task"]())
    assert "No background command 'cmd-9'" in text_of(tools["command_task"](task_id="cmd-9"))
    tools["execute_command"](command="true", background="true")  # a flag sent as text
    task_id = sandbox.tasks()[-1].task_id
    assert "Unknown action" in text_of(tools["command_task"](task_id=task_id, action="kill"))
    assert "must be a number" in text_of(tools["command_task"](task_id=task_id, wait_seconds="soon"))


def test_too_many_background_commands_are_refused(sandbox: Sandbox) -> None:
    for _ in range(MAX_RUNNING_TASKS):
        sandbox.start_task("sleep 600")
    with pytest.raises(InterpreterError, match="already run"):
        sandbox.start_task("sleep 600")
    for task in sandbox.tasks():
        sandbox.stop_task(task.task_id)
    assert sandbox.start_task("true").task_id


# -- the local job under attack from inside the sandbox ---------------------------------------------------


def host_processes_running(marker: str) -> list[int]:
    """Host pids whose command line holds ``marker`` (a sleep's unique duration), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_job_that_forks_and_detaches_leaves_nothing_behind(make_sandbox: Callable[..., LocalSandbox]) -> None:
    sandbox = make_sandbox()
    detach = "setsid nohup sleep 601.25 >/dev/null 2>&1 & disown; (sleep 601.5 &); echo detached"
    task = sandbox.start_task(detach)
    wait_for(lambda: not sandbox.task(task.task_id).running, "the job's first process to end")
    assert sandbox.task(task.task_id).state is TaskState.COMPLETED
    assert sandbox.task(task.task_id).result.stdout == "detached\n"
    wait_for(lambda: not host_processes_running("601.25") + host_processes_running("601.5"), "detached children gone")


def test_a_job_is_stopped_at_its_time_limit(make_sandbox: Callable[..., LocalSandbox]) -> None:
    from core.sandbox.local.jobs import JobRunner

    sandbox = make_sandbox()
    runner = JobRunner(sandbox.isolation, 1000, time_limit=0.5)
    task = runner.start(["bash", "-c", "trap '' TERM; echo begun; sleep 602.5"], "slow")
    wait_for(lambda: not runner.get(task.task_id).running, "the time limit")
    ended = runner.get(task.task_id)
    assert ended.state is TaskState.STOPPED and ended.result.stopped is StopReason.TIMEOUT
    assert ended.result.stdout == "begun\n" and "(limit 0.5 s)" in ended.result.notes[0]
    assert not host_processes_running("602.5")


def test_closing_the_sandbox_ends_its_jobs(make_sandbox: Callable[..., LocalSandbox]) -> None:
    sandbox = make_sandbox()
    task = sandbox.start_task("trap '' TERM; sleep 603.5")
    wait_for(lambda: host_processes_running("603.5"), "the job to run")
    sandbox.close()
    assert sandbox.task(task.task_id).state is TaskState.STOPPED
    wait_for(lambda: not host_processes_running("603.5"), "the job's processes to end")
    with pytest.raises(InterpreterError, match="closed"):
        sandbox.start_task("true")


def test_a_job_has_no_log_path_to_swap_and_its_output_stays_bounded(
    make_sandbox: Callable[..., LocalSandbox], tmp_path: Path
) -> None:
    """The job's output reaches the app through pipes: no file is made for it in the sandbox's folders or the
    host-only runtime folder, so links planted where a log might be lead nowhere; a flood is cut in memory."""
    secret = tmp_path / "host-secret.txt"
    secret.write_bytes(b"HOST-SECRET")
    sandbox = make_sandbox(max_output_chars=10_000)
    runtime_before = sorted(p.name for p in sandbox.dirs.runtime.iterdir())
    plant = " ; ".join(
        f"ln -sf {secret} {where}"
        for where in ("/tmp/job.log", "/tmp/cmd-1.log", "/sandbox/cmd-1.log", "/home/sandbox/job.pid")
    )
    flood = f"{plant}; head -c 5000000 /dev/zero | tr '\\0' x; echo; ls /run"
    task = sandbox.start_task(flood)
    wait_for(lambda: not sandbox.task(task.task_id).running, "the flood to end")
    ended = sandbox.task(task.task_id)
    assert secret.read_bytes() == b"HOST-SECRET"
    assert len(ended.result.stdout) < 30_000 and any("too long" in note for note in ended.result.notes)
    assert sorted(p.name for p in sandbox.dirs.runtime.iterdir()) == runtime_before
    assert sorted(f.path for f in sandbox.list_files(".")) == ["cmd-1.log"]  # only what the job made itself


def test_a_run_does_not_wait_for_a_background_command_s_processes(make_sandbox: Callable[..., LocalSandbox]) -> None:
    """A run ends when its own processes are gone; those a background command keeps starting are not its own."""
    from core.sandbox.local.limits import EXIT_SECONDS

    sandbox = make_sandbox()
    if not sandbox.isolation.limits.groups:
        pytest.skip("no cgroup here: a run does not wait for processes at its end")
    sandbox.start_task("while true; do sleep 0.01; done")
    wait_for(lambda: sandbox.jobs.process_ids(), "the background command's processes")
    assert sandbox.jobs.process_ids() <= sandbox.isolation.limits.process_ids()
    result = sandbox.run_command("echo quick")
    assert result.stdout == "quick\n" and result.duration < EXIT_SECONDS


def test_an_agentcore_task_keeps_its_session_awake_and_is_lost_with_it(
    emulator: FakeAgentCoreDataPlane, tmp_path: Path
) -> None:
    from core.sandbox.agentcore.session import AgentCoreSandbox

    sandbox = AgentCoreSandbox(agentcore_settings(tmp_path / "ac"), "lost", interpreter=fake_interpreter(emulator))
    try:
        task = sandbox.start_task("sleep 604.5")
        assert sandbox.sleep(idle_seconds=3600) is False  # the idle reaper leaves a session with a running task
        assert emulator.invocations("startCommandExecution")[-1]["command"].endswith("sleep 604.5'; fi")
        emulator.expire()
        lost = sandbox.task(task.task_id)
        assert lost.state is TaskState.FAILED and "session ended" in lost.result.notes[-1]
        wait_for(lambda: not host_processes_running("604.5"), "the emulated session's task to end with it")
    finally:
        sandbox.close()
