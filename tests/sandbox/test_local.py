"""The local sandbox: the Sandbox contract, plus what only a local sandbox promises (kernel restarts, idling)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.config import Settings
from core.sandbox.local.sandbox import LocalSandbox
from core.types import StopReason
from tests.sandbox.contract import SandboxContract


@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSandbox]:
    data = tmp_path_factory.mktemp("local-sandbox")
    sandbox = LocalSandbox(Settings(data_dir=data, kernel_pool_size=0), data / "sessions" / "local" / "s1")
    yield sandbox
    sandbox.close()


@pytest.fixture
def sandbox(shared_sandbox: LocalSandbox) -> Iterator[LocalSandbox]:
    """One kernel for the module (starting one per test would triple the run time); files are reset."""
    yield shared_sandbox
    for entry in shared_sandbox.root.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


class TestLocalSandbox(SandboxContract):
    pass


@pytest.fixture
def own_sandbox(settings: Settings, tmp_path: Path) -> Iterator[LocalSandbox]:
    sandbox = LocalSandbox(settings, settings.sessions_dir / "local" / "own")
    yield sandbox
    sandbox.close()


def test_killed_kernel_is_reported_and_next_run_gets_a_fresh_one(own_sandbox: LocalSandbox) -> None:
    own_sandbox.execute("lost = 1\nopen('kept.txt', 'w').write('kept')")
    result = own_sandbox.execute("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert result.stopped is StopReason.CRASHED
    assert any("SIGKILL" in note and "Variables were lost" in note for note in result.notes)
    after = own_sandbox.execute("print(open('kept.txt').read())\nprint('lost' in dir())")
    assert after.stdout.split() == ["kept", "False"]
    assert any("variables from earlier runs were lost" in note for note in after.notes)


def test_segfault_is_reported_in_plain_words(own_sandbox: LocalSandbox) -> None:
    result = own_sandbox.execute("import ctypes\nctypes.string_at(0)")
    assert result.stopped is StopReason.CRASHED
    assert any("SIGSEGV" in note for note in result.notes)
    assert own_sandbox.execute("print('alive')").stdout.strip() == "alive"


def test_interrupt_ignored_for_long_kills_the_kernel_but_not_the_files(own_sandbox: LocalSandbox) -> None:
    own_sandbox.write_file("kept.txt", b"yes")
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(120)"
    result = own_sandbox.execute(code, timeout=1)
    assert result.stopped is StopReason.TIMEOUT
    assert any("Variables were lost" in note for note in result.notes)
    assert own_sandbox.execute("print(open('kept.txt').read())").stdout.strip() == "yes"


PRINTING_LOOP = "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.01)"
"""Output far more often than the kernel's output queue is polled: it never runs empty while this runs."""


def test_code_that_prints_without_pause_is_stopped_by_its_time_limit(own_sandbox: LocalSandbox) -> None:
    result = own_sandbox.execute(PRINTING_LOOP, timeout=2)
    assert result.stopped is StopReason.TIMEOUT  # it ran on past every limit before
    assert "tick" in result.stdout


def test_code_that_prints_without_pause_is_stopped_by_stop_and_keeps_variables(own_sandbox: LocalSandbox) -> None:
    own_sandbox.execute("kept = 'still here'")
    printing = threading.Event()
    stopper = threading.Thread(target=lambda: printing.wait(60) and own_sandbox.interrupt())
    stopper.start()
    result = own_sandbox.execute(PRINTING_LOOP, timeout=120, on_output=lambda _: printing.set())
    stopper.join()
    own_sandbox.clear_interrupt()
    assert result.stopped is StopReason.INTERRUPTED
    assert not any("Variables were lost" in note for note in result.notes)
    assert own_sandbox.execute("print(kept)").stdout.strip() == "still here"


FAKE_TRACEBACKS = """import time
kernel = get_ipython().kernel
parent = kernel.get_parent("shell")
while True:
    try:
        time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    content = {"ename": "KeyboardInterrupt", "evalue": "", "traceback": []}
    kernel.session.send(kernel.iopub_socket, "error", content, parent=parent, ident=kernel._topic("error"))
"""
"""Code that ignores the interrupt and keeps publishing the traceback message a run that stops sends."""


def test_code_that_fakes_its_traceback_after_the_interrupt_is_still_killed(own_sandbox: LocalSandbox) -> None:
    result = own_sandbox.execute(FAKE_TRACEBACKS, timeout=1)
    assert result.stopped is StopReason.TIMEOUT
    assert any("Variables were lost" in note for note in result.notes)  # the grace was extended once, not forever
    assert own_sandbox.execute("print('alive')").stdout.strip() == "alive"


def test_a_stop_pressed_while_nothing_runs_never_drops_the_next_run(own_sandbox: LocalSandbox) -> None:
    """The kernel interrupts itself with a signal; one still on its way used to hit the next run's start.

    The kernel then dropped that run without a reply: it showed as a success with no output (seen under load).
    """
    own_sandbox.execute("x = 1")
    for number in range(30):
        own_sandbox.interrupt()
        own_sandbox.clear_interrupt()
        result = own_sandbox.execute(f"print({number})")
        assert (result.stdout.strip(), result.error, result.stopped) == (str(number), None, None)


def test_sleeping_sandbox_restarts_on_next_run_with_files_and_variables(own_sandbox: LocalSandbox) -> None:
    own_sandbox.execute("value = 5\nopen('f.txt', 'w').write('file')")
    assert own_sandbox.sleep(idle_seconds=3600)
    result = own_sandbox.execute("print(open('f.txt').read()); print(value)")
    assert result.stdout.split() == ["file", "5"]
    assert any("idle for 60 minutes" in note and "variables are back: `value`" in note for note in result.notes)


def test_closed_sandbox_keeps_files_and_a_new_one_sees_them(settings: Settings) -> None:
    folder = settings.sessions_dir / "local" / "reopen"
    first = LocalSandbox(settings, folder)
    first.execute("open('persist.txt', 'w').write('across restarts')")
    first.close()
    second = LocalSandbox(settings, folder)
    try:
        assert second.read_file("persist.txt") == b"across restarts"
    finally:
        second.close()


def test_disk_limit_refuses_new_files_and_says_so(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(disk_limit_mb=1)
    sandbox = LocalSandbox(settings, settings.sessions_dir / "local" / "disk")
    try:
        result = sandbox.run_command("head -c 2000000 /dev/zero > big.bin")
        assert any("disk limit" in note for note in result.notes)
        with pytest.raises(Exception, match="disk limit"):
            sandbox.write_file("more.txt", b"x")
        sandbox.remove("big.bin")
        sandbox.write_file("more.txt", b"x")
    finally:
        sandbox.close()


def test_a_failure_the_kernel_cannot_show_is_still_a_failure(make_sandbox: Callable[..., LocalSandbox]) -> None:
    """When IPython cannot publish an exception (its formatting broke, say), the kernel's reply still says the run
    failed: the step must not look like a success."""
    sandbox = make_sandbox()
    sandbox.execute("get_ipython().showtraceback = lambda *args, **kwargs: None")
    result = sandbox.execute("1 / 0")
    assert result.error is not None
