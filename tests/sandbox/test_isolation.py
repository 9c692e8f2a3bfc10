"""Every isolation and limit promise of the local sandbox. Each test fails if that isolation were switched off."""

from __future__ import annotations

import os
import socketserver
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.sandbox.local.isolation import bubblewrap_works
from core.sandbox.local.network import METADATA_ADDRESS, host_addresses
from core.sandbox.local.sandbox import LocalSandbox
from core.types import StopReason
from tests.prerequisites import missing, requires

REPO = Path(__file__).resolve().parents[2]
needs_root = requires(os.geteuid() == 0, "the namespaced public network needs root")
pytestmark = requires(bubblewrap_works(), "bubblewrap cannot run on this machine")


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"host-service")


@pytest.fixture
def host_service() -> Iterator[int]:
    """A TCP service on every host address, like the Streamlit server."""
    server = socketserver.ThreadingTCPServer(("0.0.0.0", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _connect_code(address: str, port: int) -> str:
    return (
        "import socket\n"
        "try:\n"
        f"    s = socket.create_connection(({address!r}, {port}), timeout=3)\n"
        "    print('CONNECTED', s.recv(100))\n"
        "except OSError as exc:\n"
        "    print('REFUSED', type(exc).__name__)\n"
    )


def _host_can_reach(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


# -- what the sandbox can see -----------------------------------------------------------------------------


def test_host_environment_is_not_inherited(
    make_sandbox: Callable[..., LocalSandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leak-me")
    monkeypatch.setenv("OPENAI_API_KEY", "leak-me-too")
    sandbox = make_sandbox()
    assert "leak-me" not in sandbox.run_command("env").stdout
    assert "leak-me" not in sandbox.execute("import os\nprint(dict(os.environ))").stdout


def test_app_folder_home_and_data_dir_are_invisible(make_sandbox: Callable[..., LocalSandbox]) -> None:
    sandbox = make_sandbox()
    home_marker = Path.home() / f"host-home-marker-{os.getpid()}"
    home_marker.write_text("private")
    try:
        for host_path in (
            REPO / "pyproject.toml",
            REPO / "core",
            home_marker,
            sandbox.settings.data_dir.resolve(),
        ):
            result = sandbox.run_command(f"ls {host_path}")
            assert result.exit_code != 0, f"{host_path} is visible inside the sandbox"
    finally:
        home_marker.unlink()


def test_other_sessions_files_are_invisible(make_sandbox: Callable[..., LocalSandbox]) -> None:
    alice, bob = make_sandbox("alice"), make_sandbox("bob")
    alice.write_file("secret.txt", b"alice's secret")
    host_path = alice.root / "secret.txt"
    assert bob.run_command(f"cat {host_path}").exit_code != 0
    assert "alice's secret" not in bob.run_command("grep -r 'alice' / 2>/dev/null | head").stdout
    assert "secret.txt" not in bob.run_command("ls -R /sandbox /tmp /home").stdout


def test_system_is_read_only_and_own_folder_writable(make_sandbox: Callable[..., LocalSandbox]) -> None:
    sandbox = make_sandbox()
    for target in ("/usr/planted", "/etc/planted", f"{os.path.realpath(os.sys.prefix)}/planted"):  # type: ignore[attr-defined]
        assert sandbox.run_command(f"touch {target}").exit_code != 0
        assert not Path(target).exists()
    assert sandbox.run_command("touch /sandbox/mine /home/sandbox/mine /tmp/mine").exit_code == 0


def test_tmp_is_private(make_sandbox: Callable[..., LocalSandbox], tmp_path: Path) -> None:
    marker = Path("/tmp") / f"host-only-{os.getpid()}"
    marker.write_text("host")
    try:
        sandbox = make_sandbox()
        assert marker.name not in sandbox.run_command("ls /tmp").stdout
        sandbox.run_command("echo sandbox > /tmp/sandbox-only")
        assert not Path("/tmp/sandbox-only").exists()
    finally:
        marker.unlink()


def test_sandbox_code_runs_as_an_unprivileged_user(make_sandbox: Callable[..., LocalSandbox]) -> None:
    sandbox = make_sandbox()
    assert sandbox.run_command("id -u").stdout.strip() == "1000"
    assert sandbox.run_command("cat /etc/shadow").exit_code != 0


# -- network --------------------------------------------------------------------------------------------


def test_network_none_reaches_nothing(make_sandbox: Callable[..., LocalSandbox], host_service: int) -> None:
    sandbox = make_sandbox(sandbox_network="none")
    for address in ["127.0.0.1", *host_addresses()[:2]]:
        assert "REFUSED" in sandbox.execute(_connect_code(address, host_service)).stdout
    assert "REFUSED" in sandbox.execute(_connect_code("pypi.org", 443)).stdout
    assert sandbox.isolation_report().network.startswith("none")


@needs_root
def test_network_public_blocks_host_services_and_metadata(
    make_sandbox: Callable[..., LocalSandbox], host_service: int
) -> None:
    sandbox = make_sandbox(sandbox_network="public")
    for address in ["127.0.0.1", "10.0.2.2", *host_addresses()]:
        assert "REFUSED" in sandbox.execute(_connect_code(address, host_service)).stdout, address
    assert "REFUSED" in sandbox.execute(_connect_code(METADATA_ADDRESS, 80)).stdout
    report = sandbox.isolation_report()
    assert "host services" in report.network and not report.warnings


@needs_root
def test_network_public_reaches_the_internet(make_sandbox: Callable[..., LocalSandbox]) -> None:
    if not _host_can_reach("https://pypi.org/simple/"):
        missing("this machine itself cannot reach pypi.org")
    sandbox = make_sandbox(sandbox_network="public")
    code = "import urllib.request\nprint(urllib.request.urlopen('https://pypi.org/simple/', timeout=20).status)"
    assert sandbox.execute(code).stdout.strip() == "200"


@needs_root
def test_pip_install_goes_into_the_session_only(make_sandbox: Callable[..., LocalSandbox]) -> None:
    if not _host_can_reach("https://pypi.org/simple/tabulate/"):
        missing("this machine itself cannot reach pypi.org")
    sandbox = make_sandbox(sandbox_network="public")
    installed = sandbox.run_command("pip install --no-deps tabulate==0.9.0")
    assert installed.exit_code == 0, installed.stderr
    assert sandbox.execute("import tabulate\nprint(tabulate.__version__)").stdout.strip() == "0.9.0"
    assert not list(Path(os.sys.prefix).glob("lib/python*/site-packages/tabulate*"))  # type: ignore[attr-defined]
    assert not list((sandbox.root).glob("**/tabulate*")), "packages must not clutter the user's files"


def test_pip_install_without_network_says_why(make_sandbox: Callable[..., LocalSandbox]) -> None:
    sandbox = make_sandbox(sandbox_network="none")
    result = sandbox.run_command("pip install tabulate")
    assert result.exit_code != 0
    assert any("no network" in note for note in result.notes)


# -- limits ---------------------------------------------------------------------------------------------


def test_memory_limit_gives_memory_error_and_session_survives(
    make_sandbox: Callable[..., LocalSandbox],
) -> None:
    sandbox = make_sandbox(memory_limit_mb=400)
    sandbox.execute("kept = 1")
    result = sandbox.execute("hog = b'x' * (4 * 1024 * 1024 * 1024)")
    assert result.error is not None and result.error.name == "MemoryError"
    assert sandbox.execute("print(kept)").stdout.strip() == "1"


def test_kernel_killed_for_memory_says_so_and_recovers(make_sandbox: Callable[..., LocalSandbox]) -> None:
    sandbox = make_sandbox(memory_limit_mb=400)
    if not sandbox.isolation.limits.groups:
        missing("no writable memory cgroup on this host")
    sandbox.execute("open('kept.txt', 'w').write('kept')")
    result = sandbox.execute("hog = b'x' * (800 * 1024 * 1024)")
    assert result.stopped is StopReason.OUT_OF_MEMORY
    assert any("more memory than the session's limit" in note for note in result.notes)
    assert sandbox.execute("print(open('kept.txt').read())").stdout.strip() == "kept"


def test_memory_of_the_whole_session_is_limited(make_sandbox: Callable[..., LocalSandbox]) -> None:
    sandbox = make_sandbox(memory_limit_mb=300)
    if not sandbox.isolation.limits.groups:
        missing("no writable memory cgroup on this host")
    hog = "python3 -c \"import time; b = b'x' * (200 * 1024 * 1024); time.sleep(60)\""
    # The first hog to end is the one the memory limit killed (the others hold their memory for a minute): then
    # the rest are stopped, instead of waiting for them.
    result = sandbox.run_command(f"for i in 1 2 3; do {hog} & done; wait -n; kill $(jobs -p)", timeout=60)
    assert result.stopped is StopReason.OUT_OF_MEMORY
    assert any("memory" in note for note in result.notes)


def test_process_count_is_limited(make_sandbox: Callable[..., LocalSandbox]) -> None:
    sandbox = make_sandbox(max_processes=30)
    result = sandbox.run_command("for i in $(seq 60); do sleep 3 & done; wait; echo done", timeout=60)
    assert "Resource temporarily unavailable" in result.stderr or "retry: " in result.stderr
    assert sandbox.run_command("echo still works").stdout.strip() == "still works"


def test_file_size_is_limited(make_sandbox: Callable[..., LocalSandbox]) -> None:
    sandbox = make_sandbox(max_file_mb=1)
    result = sandbox.run_command("head -c 3000000 /dev/zero > big.bin")
    assert result.exit_code != 0
    assert (sandbox.root / "big.bin").stat().st_size <= 1024 * 1024


def test_reduced_isolation_is_reported_and_still_works(
    make_sandbox: Callable[..., LocalSandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "leak-me")
    sandbox = make_sandbox(isolation="none")
    report = sandbox.isolation_report()
    assert report.reduced and any("Reduced isolation" in w for w in report.warnings)
    assert sandbox.execute("x = 2\nprint(x * 21)").stdout.strip() == "42"
    assert "leak-me" not in sandbox.run_command("env").stdout


def test_javascript_memory_is_limited_and_the_kernel_recovers(make_sandbox: Callable[..., LocalSandbox]) -> None:
    sandbox = make_sandbox(memory_limit_mb=256)
    hog = "const hog = []; while (true) { hog.push(new Array(1e6).fill(1.5)); }"
    result = sandbox.execute(hog, language="javascript", timeout=60)
    assert result.stopped in (StopReason.OUT_OF_MEMORY, StopReason.CRASHED)
    assert any("Variables were lost" in note for note in result.notes)
    assert sandbox.execute("console.log('fresh')", language="javascript").stdout.strip() == "fresh"
