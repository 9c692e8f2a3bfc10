"""The sandbox's network boundary, with real bubblewrap and slirp4netns, for root and for an ordinary user.

No test sends traffic beyond this machine, or to a link-local, metadata or private address of a real network:
those are checked through the routes inside the sandbox (``ip route get`` sends nothing), or bound by the test
itself on the loopback interface of a network namespace it creates (a fake host).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from core.config import Settings
from core.errors import SandboxError
from core.sandbox.local import isolation, network
from core.sandbox.local.sandbox import LocalSandbox
from tests.prerequisites import missing, requires

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
PROBLEM = ("bubblewrap cannot run here" if not isolation.bubblewrap_works() else None) or (
    network.private_network_problem()
)
# Under CI a missing bubblewrap, slirp4netns or user namespace fails these tests instead of skipping them.
pytestmark = requires(PROBLEM is None, f"no private network here: {PROBLEM}")

# Run by the app's side of each probe: start a sandbox with the given settings, run shell commands in it, report.
PROBE = """
import json, socket, sys
from core.config import Settings
from core.sandbox.local.sandbox import LocalSandbox

args = json.loads(sys.argv[1])
listeners = []
for address in args["listen"]:  # a connection completes in the backlog: nobody needs to accept it
    listener = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    listener.bind((address, args["port"]))
    listener.listen(16)
    listeners.append(listener)
direct = {}
for host, port in args["direct"]:
    try:
        socket.create_connection((host, port), timeout=5).close()
        direct[host] = "connected"
    except OSError as exc:
        direct[host] = type(exc).__name__
settings = Settings(data_dir=args["data_dir"], kernel_pool_size=0, execution_timeout=30, **args["settings"])
sandbox = LocalSandbox(settings, settings.sessions_dir / "local" / "probe")
try:
    report = sandbox.isolation_report()
    runs = [sandbox.run_command(command) for command in args["commands"]]
    print(json.dumps({"network": report.network, "warnings": report.warnings, "direct": direct,
                      "runs": [[run.exit_code, run.stdout + run.stderr] for run in runs]}))
finally:
    sandbox.close()
"""

# Run inside the sandbox: try each (host, port) and print "host connected" or "host <error>".
CONNECT = """
import json, socket, sys
for host, port in json.loads(sys.argv[1]):
    try:
        socket.create_connection((host, port), timeout=5).close()
        print(host, "connected")
    except OSError as exc:
        print(host, type(exc).__name__, exc)
"""

FAKE_PORT = 8765
# The fake host: its own network namespace whose loopback interface holds addresses the sandbox must not reach
# (and one the admin allows). Nothing here has a route to a real network.
FAKE_ADDRESSES = ["169.254.170.2", "169.254.169.254", "10.9.8.7", "10.9.8.8", "172.20.0.1", "192.168.5.5"]
FAKE_ADDRESSES += ["100.64.1.1", "127.0.0.1", "fd00:ec2::254"]
FAKE_HOST = "ip link set lo up && " + " && ".join(
    f"ip addr add {address}/{128 if ':' in address else 32} dev lo"
    for address in FAKE_ADDRESSES
    if address != "127.0.0.1"
)


def _closed_to_others(path: Path) -> Path | None:
    """The outermost folder on ``path`` (itself included) that users other than its owner may not enter."""
    for folder in [*reversed(path.parents), path]:
        if not folder.stat().st_mode & stat.S_IXOTH:
            return folder
    return None


def as_nobody(argv: list[str], scratch: Path) -> list[str]:
    """``argv`` run as the user nobody, who can reach the Python that runs the tests and the checkout.

    The sandbox runs ``sys.executable`` again inside its namespaces (the egress proxy's listener), so an interpreter
    in a folder only root may enter (a pyenv under ``/root``) would fail there although ``setpriv`` started it. Then
    a private mount namespace covers each such folder with an empty one, open to all, that shows only those paths.

    Args:
        argv: The command.
        scratch: A folder of the test's own, where the paths are staged while their folder is covered.

    """
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    wanted = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), REPO}
    wanted = {path for path in wanted if not any(other in path.parents for other in wanted)}
    closed = {path: _closed_to_others(path) for path in wanted}
    covers = {folder for path, folder in closed.items() if folder is not None and folder != path}
    covers = {folder for folder in covers if not any(other in folder.parents for other in covers)}
    shown = [path for path, folder in closed.items() if folder in covers or set(path.parents) & covers]
    if not shown:
        return command
    stages = [scratch / f"shown-{index}" for index in range(len(shown))]
    script = [f"mkdir -p {shlex.quote(str(stage))}" for stage in stages]
    script += [f"mount --bind {shlex.quote(str(p))} {shlex.quote(str(s))}" for p, s in zip(shown, stages, strict=True)]
    script += [f"mount -t tmpfs -o mode=0755 tmpfs {shlex.quote(str(folder))}" for folder in covers]
    script += [f"mkdir -p {shlex.quote(str(path))}" for path in shown]
    script += [f"mount --bind {shlex.quote(str(s))} {shlex.quote(str(p))}" for p, s in zip(shown, stages, strict=True)]
    script.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-ec", "\n".join(script), "sh", *command]


@dataclass
class Probe:
    """What a probe saw: the report's network line and warnings, direct connections, and each command's output."""

    network: str
    warnings: list[str]
    direct: dict[str, str]
    runs: list[tuple[int, str]]


def connect_command(targets: list[tuple[str, int]]) -> str:
    """A shell command that tries to connect to each target from inside the sandbox."""
    return f"python3 -c {shlex.quote(CONNECT)} {shlex.quote(json.dumps(targets))}"


def connections(output: str) -> dict[str, str]:
    """The result per host of :func:`connect_command`'s output."""
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in output.splitlines() if " " in line}


@pytest.fixture(params=["root", "nobody"])
def probe(request: pytest.FixtureRequest) -> Iterator[Callable[..., Probe]]:
    """Runs a sandbox in a fresh process as root, or as an ordinary user (``setpriv`` to nobody)."""
    if request.param == "root" and os.geteuid() != 0:
        missing("the tests run as an ordinary user: there is no root case")
    assert PROBLEM is None, f"no private network here: {PROBLEM}"
    folder = Path(tempfile.mkdtemp(prefix="network-probe-"))  # /tmp itself: pytest's tmp_path is root's only
    ordinary = request.param == "nobody" and os.geteuid() == 0
    if ordinary:
        os.chown(folder, NOBODY, NOBODY)

    def run(
        commands: list[str],
        *,
        listen: tuple[str, ...] = (),
        direct: tuple[tuple[str, int], ...] = (),
        fake_host: bool = False,
        **settings: Any,
    ) -> Probe:
        args = {"data_dir": str(folder / "data"), "settings": settings, "commands": commands, "port": FAKE_PORT}
        args |= {"listen": list(listen), "direct": list(direct)}
        argv = [sys.executable, "-c", PROBE, json.dumps(args)]
        if ordinary:
            argv = as_nobody(argv, folder)
        if fake_host:
            if os.geteuid() != 0:
                missing("building the fake host's network namespace needs root")
            argv = ["unshare", "--net", "--", "sh", "-c", FAKE_HOST + ' && exec "$@"', "sh", *argv]
        env = {**os.environ, "HOME": str(folder)}
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        seen = Probe(**json.loads(done.stdout.strip().splitlines()[-1]))
        if seen.network.startswith("none") and settings.get("sandbox_network", "public") == "public":
            message = f"no private network as {request.param}: {seen.warnings}"
            missing(message)
        return seen

    yield run
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def loopback_services() -> Iterator[list[tuple[str, int]]]:
    """TCP services on the host's 127.0.0.1 and ::1, like the app itself, Ollama or a database."""
    listeners = [socket.socket(socket.AF_INET), socket.socket(socket.AF_INET6)]
    for listener, address in zip(listeners, ("127.0.0.1", "::1"), strict=True):
        listener.bind((address, 0))
        listener.listen(16)
    yield [listener.getsockname()[:2] for listener in listeners]
    for listener in listeners:
        listener.close()


# -- the boundary, as root and as an ordinary user --------------------------------------------------------


def test_host_loopback_services_are_out_of_reach(
    probe: Callable[..., Probe], loopback_services: list[tuple[str, int]]
) -> None:
    port = loopback_services[0][1]
    targets = [*loopback_services, ("10.0.2.2", port), *((address, port) for address in network.host_addresses())]
    seen = probe([connect_command(targets)], direct=tuple(loopback_services))
    assert set(seen.direct.values()) == {"connected"}, seen.direct  # they answer the same user outside
    reached = connections(seen.runs[0][1])
    assert len(reached) == len(targets), seen.runs
    for host, result in reached.items():
        assert not result.startswith("connected"), f"sandbox code reached {host}: {result}"
    assert seen.network.startswith("public") and "host services" in seen.network
    assert not [warning for warning in seen.warnings if "network" in warning], seen.warnings


def test_blocked_ranges_have_no_route_and_code_cannot_add_one(probe: Callable[..., Probe]) -> None:
    blocked = ["169.254.169.254", "169.254.170.2", "169.254.1.1", "10.1.2.3", "10.0.2.2", "10.0.2.77", "172.16.0.1"]
    blocked += ["172.31.255.1", "192.168.1.1", "100.64.0.1", "fe80::1", "fd00:ec2::254", "fc00::1"]
    blocked += network.host_addresses() + network.host_gateways()
    tamper = [
        "ip route del unreachable 169.254.0.0/16",
        "ip route add 169.254.170.2/32 via 10.0.2.2 dev tap0",
        "ip rule del pref 102",
        "ip link set tap0 down",
    ]
    commands = [f"ip route get {address}" for address in blocked] + tamper
    commands += ["ip route get 10.0.2.3 ipproto udp dport 53", "ip route get 10.0.2.3 ipproto tcp dport 53"]
    commands += ["ip route get 10.0.2.3 ipproto tcp dport 8501", "ip route get 198.51.100.1"]
    commands += ["ip route get 169.254.170.2", "cat /etc/resolv.conf", "ip route; ip rule"]
    seen = probe(commands)
    runs = dict(zip(commands, seen.runs, strict=True))
    for address in blocked:  # "RTNETLINK answers: No route to host" (IPv4) or "Network is unreachable" (IPv6)
        assert runs[f"ip route get {address}"][0] != 0, (address, runs[f"ip route get {address}"])
    for command in tamper:
        assert runs[command][0] != 0 and "not permitted" in runs[command][1], (command, runs[command])
    assert runs["ip route get 169.254.170.2"][0] != 0, "the routes changed after sandbox code tried"
    for dns in ("udp", "tcp"):
        assert "dev tap0" in runs[f"ip route get 10.0.2.3 ipproto {dns} dport 53"][1]
    assert runs["ip route get 10.0.2.3 ipproto tcp dport 8501"][0] != 0
    assert "via 10.0.2.2 dev tap0" in runs["ip route get 198.51.100.1"][1]  # the internet's way out (no packet)
    assert runs["cat /etc/resolv.conf"][1].strip() == "nameserver 10.0.2.3"
    routes = runs["ip route; ip rule"][1]
    for line in ("unreachable 169.254.0.0/16", "unreachable 10.0.0.0/8", "unreachable 100.64.0.0/10"):
        assert line in routes


def test_a_fake_host_s_private_and_metadata_addresses_are_out_of_reach(probe: Callable[..., Probe]) -> None:
    """On the fake host every address listens; the sandbox reaches only the one the admin allows."""
    allowed = "10.9.8.7/32, 169.254.0.0/16"
    targets = [(address, FAKE_PORT) for address in FAKE_ADDRESSES]
    commands = [connect_command(targets), "ip route get 169.254.1.1", "ip route get 169.254.169.254"]
    direct = tuple(targets)
    seen = probe(
        commands, listen=tuple(FAKE_ADDRESSES), direct=direct, fake_host=True, sandbox_allowed_networks=allowed
    )
    assert set(seen.direct.values()) == {"connected"}, seen.direct  # each address answers outside the sandbox
    reached = connections(seen.runs[0][1])
    assert reached.pop("10.9.8.7").startswith("connected"), "the allowed address must be reachable"
    assert reached and not [host for host, result in reached.items() if result.startswith("connected")], reached
    assert "via 10.0.2.2" in seen.runs[1][1]  # allowing 169.254.0.0/16 opens the range ...
    assert seen.runs[2][0] != 0  # ... but not the metadata address, listed with a longer prefix
    assert "10.9.8.7/32" in seen.network


# -- settings and fallbacks (this process, as whoever runs the tests) -------------------------------------


def test_allowed_networks_are_cidrs(make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERPRETER_SANDBOX_ALLOWED_NETWORKS", " 10.1.0.0/16, 192.168.5.7 ,fd12::/48,10.1.0.0/16")
    assert Settings().sandbox_allowed_networks == ["10.1.0.0/16", "192.168.5.7/32", "fd12::/48"]
    for wrong in ("10.1.0.0/33", "intranet", "10.1.0.0/16;10.2.0.0/16"):
        with pytest.raises(ValidationError, match=r"INTERPRETER_SANDBOX_ALLOWED_NETWORKS: .* is not an IP network"):
            make_settings(sandbox_allowed_networks=wrong)


def test_without_a_private_network_public_means_no_network(
    make_sandbox: Callable[..., LocalSandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(network, "private_network_problem", lambda: "slirp4netns is not installed")
    sandbox = make_sandbox(sandbox_network="public")
    report = sandbox.isolation_report()
    assert report.network.startswith("none")
    (warning,) = [warning for warning in report.warnings if "no network" in warning]
    assert "slirp4netns is not installed" in warning and "apt-get install slirp4netns" in warning
    assert sandbox.run_command("ip -o link | cut -d: -f2").stdout.split() == ["lo"]
    assert "PIP_RETRIES=0" in sandbox.run_command("env").stdout


@pytest.mark.parametrize("served", ["login", "anonymous"])
def test_strangers_get_no_reduced_isolation(
    make_sandbox: Callable[..., LocalSandbox], monkeypatch: pytest.MonkeyPatch, served: str
) -> None:
    monkeypatch.setattr(isolation, "bubblewrap_works", lambda: False)
    assert make_sandbox("alone").isolation_report().reduced  # the operator alone: reduced, and the panel says so
    isolation.note_login_configured(served == "login")
    try:
        with pytest.raises(SandboxError, match="apt-get install bubblewrap"):
            make_sandbox("stranger", allow_anonymous=served == "anonymous")
        assert make_sandbox("on-purpose", isolation="none").isolation_report().reduced
    finally:
        isolation.note_login_configured(False)
