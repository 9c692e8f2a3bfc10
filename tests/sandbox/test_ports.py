"""The ports of a sandbox's servers: found in its own network namespaces only, reached there only.

Real bubblewrap sandboxes (``none``, ``allowlist`` and ``public`` networks); a server the test runs on the host's
loopback is never listed nor reached through a sandbox, whatever port number is asked for.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from core.sandbox.local.isolation import bubblewrap_works
from core.sandbox.local.network import private_network_problem
from core.sandbox.local.ports import MAX_NAMESPACES, PortClosed, SandboxPorts, sandbox_ports, valid_port
from core.sandbox.local.sandbox import LocalSandbox
from tests.conftest import wait_for
from tests.prerequisites import requires

pytestmark = requires(bubblewrap_works(), "bubblewrap cannot run on this machine")
SERVE = "python -m http.server {port} --bind 127.0.0.1"


@pytest.fixture
def host_server() -> Iterator[int]:
    """A listener on the host's loopback: a service of this machine that no sandbox may reach."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def _ports(sandbox: LocalSandbox) -> SandboxPorts:
    ports = sandbox_ports(sandbox)
    assert ports is not None
    return ports


def _get(sock: socket.socket) -> bytes:
    with sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return sock.recv(12)


@pytest.mark.parametrize("network", ["none", "allowlist", "public"])
def test_a_background_server_is_found_and_reached_and_the_host_is_not(
    network: str, make_sandbox: Callable[..., LocalSandbox], host_server: int
) -> None:
    if network != "none" and private_network_problem():
        pytest.skip(f"no private network here: {private_network_problem()}")
    sandbox = make_sandbox(sandbox_network=network)
    ports = _ports(sandbox)
    sandbox.start_task(SERVE.format(port=8770))
    wait_for(lambda: 8770 in ports.listening(), "the server in the sandbox to listen", 30)
    assert _get(ports.connect(8770)) == b"HTTP/1.0 200"
    assert host_server not in ports.listening()
    with pytest.raises(PortClosed):
        ports.connect(host_server)


def test_a_server_the_kernel_starts_is_found_too(make_sandbox: Callable[..., LocalSandbox]) -> None:
    """With ``none`` every process has a namespace of its own: the kernel's is looked at as well."""
    sandbox = make_sandbox(sandbox_network="none")
    code = "import subprocess, sys\nserver = subprocess.Popen([sys.executable, '-m', 'http.server', '8771'])"
    assert sandbox.execute(code, "python").error is None
    ports = _ports(sandbox)
    wait_for(lambda: 8771 in ports.listening(), "the kernel's server to listen", 30)
    assert _get(ports.connect(8771)) == b"HTTP/1.0 200"


@pytest.mark.parametrize("network", ["none", "public"])
def test_the_kernels_own_ports_are_no_app_but_a_server_in_the_kernel_is(
    network: str, make_sandbox: Callable[..., LocalSandbox]
) -> None:
    if network != "none" and private_network_problem():
        pytest.skip(f"no private network here: {private_network_problem()}")
    sandbox = make_sandbox(sandbox_network=network)
    for language in sandbox.languages:  # ipykernel listens on a loopback port of its own
        assert sandbox.execute("1", language).error is None, language
    ports = _ports(sandbox)
    assert ports.listening() == [], "a sandbox that only ran code serves no app"
    code = (
        "import http.server, threading\n"
        "server = http.server.HTTPServer(('127.0.0.1', 8772), http.server.SimpleHTTPRequestHandler)\n"
        "threading.Thread(target=server.serve_forever, daemon=True).start()"
    )
    assert sandbox.execute(code, "python").error is None
    assert ports.listening() == [8772]  # a server in the kernel's own process is an app


def test_a_kernel_s_own_port_is_never_listed_while_it_starts(make_sandbox: Callable[..., LocalSandbox]) -> None:
    """A side panel that looks while a kernel starts must not offer its port (nor call it stopped after)."""
    sandbox = make_sandbox(sandbox_network="none")
    ports, seen, looks = _ports(sandbox), set[int](), [0]
    started = threading.Event()

    def look() -> None:
        while not started.is_set():
            seen.update(ports.listening())
            looks[0] += 1

    looking = threading.Thread(target=look)
    looking.start()
    try:
        assert sandbox.execute("1", "python").error is None
    finally:
        started.set()
        looking.join()
    assert ports.plumbing, "the kernel's own port was noticed"
    assert looks[0] > 1 and not seen, f"listed while the kernel started: {seen} (in {looks[0]} looks)"


@pytest.mark.parametrize("port", [0, 65536, -1, True, "8080", 8080.0, None])
def test_only_a_port_number_selects_a_target(port: object, make_sandbox: Callable[..., LocalSandbox]) -> None:
    with pytest.raises(ValueError):
        valid_port(port)
    with pytest.raises(ValueError):
        _ports(make_sandbox(sandbox_network="none")).connect(port)  # type: ignore[arg-type]


def test_no_ports_without_a_namespace_of_its_own_or_once_closed(make_sandbox: Callable[..., LocalSandbox]) -> None:
    assert sandbox_ports(make_sandbox("reduced", isolation="none")) is None  # it shares the host's network
    sandbox = make_sandbox(sandbox_network="none")
    ports = _ports(sandbox)
    sandbox.start_task(SERVE.format(port=8772))
    wait_for(lambda: 8772 in ports.listening(), "the server in the sandbox to listen", 30)
    helpers = [door.process for door in ports._doors.values()]
    assert helpers
    sandbox.close()
    assert ports.closed and all(helper.poll() is not None for helper in helpers)  # ended with the sandbox
    assert sandbox_ports(sandbox) is None


def _namespaces(sandbox: LocalSandbox) -> set[int]:
    """The network namespaces of the sandbox's processes now."""
    found = set()
    for pid in sandbox.isolation.limits.process_ids():
        with contextlib.suppress(OSError):
            found.add(os.stat(f"/proc/{pid}/ns/net").st_ino)
    return found


def test_a_sandbox_that_makes_many_namespaces_gets_a_few_helpers(make_sandbox: Callable[..., LocalSandbox]) -> None:
    sandbox = make_sandbox(sandbox_network="public")
    ports = _ports(sandbox)
    sandbox.start_task("for i in $(seq 12); do unshare -rn sleep 60 & done; wait")
    wait_for(lambda: len(_namespaces(sandbox)) > MAX_NAMESPACES, "the namespaces to be made", 30)
    ports.listening()
    assert 1 < len(ports._doors) <= MAX_NAMESPACES
