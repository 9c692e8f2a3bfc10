"""The egress allow-list (``INTERPRETER_SANDBOX_NETWORK=allowlist``): its rules, its proxy, and real sandboxes.

No test sends traffic beyond this machine. The proxy's own tests talk to a server on ``127.0.0.1``; the sandbox
tests run the app's side in a network namespace the test makes (``test_network``'s fake host), where the proxy's
resolver, replaced in that process only, maps test names to addresses bound on that namespace's loopback.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.errors import SandboxError
from core.sandbox.local import egress, isolation, network
from core.sandbox.local.allowlist import AllowList, parse_headers, parse_rule
from tests.conftest import page_text, send, wait_for
from tests.prerequisites import missing, requires
from tests.sandbox.test_ca_bundle import _certificate, _pem
from tests.sandbox.test_network import FAKE_HOST, FAKE_PORT, NOBODY, REPO, as_nobody, connect_command, connections
from tests.wire.http import BodyHandler, loopback_port

PROBLEM = ("bubblewrap cannot run here" if not isolation.bubblewrap_works() else None) or (
    network.private_network_problem(slirp=False)
)
needs_namespace = requires(PROBLEM is None, f"no allow-list network here: {PROBLEM}")

# -- the rules ---------------------------------------------------------------------------------------------


def test_entries_are_names_wildcards_or_addresses_with_optional_ports() -> None:
    assert str(parse_rule(" PyPI.org. ")) == "pypi.org"
    assert str(parse_rule("*.pythonhosted.org")) == "*.pythonhosted.org"
    assert str(parse_rule("api.example.com:8443")) == "api.example.com:8443"
    assert str(parse_rule("[2001:db8::1]:443")) == "[2001:db8::1]:443"
    assert str(parse_rule("203.0.113.5")) == "203.0.113.5"
    for wrong in ("*", "*.com", "a.*.com", "exa mple.com", "example.com:0", "example.com:http", "-/x"):
        with pytest.raises(ValueError):
            parse_rule(wrong)


def test_settings_read_the_domains_and_name_a_wrong_entry(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERPRETER_SANDBOX_ALLOWED_DOMAINS", "pypi.org, *.PythonHosted.org ,pypi.org,")
    assert Settings().sandbox_allowed_domains == ["pypi.org", "*.pythonhosted.org"]
    with pytest.raises(ValidationError, match="INTERPRETER_SANDBOX_ALLOWED_DOMAINS: 'in valid' is not a host"):
        make_settings(sandbox_allowed_domains="pypi.org, in valid")


def test_wildcards_ports_and_raw_addresses() -> None:
    rules = AllowList(["pypi.org", "*.pythonhosted.org", "api.example.com:8443", "203.0.113.5"])
    assert rules.permits("pypi.org", 443) and rules.permits("PYPI.ORG.", 80)
    assert not rules.permits("pypi.org", 22) and not rules.permits("evilpypi.org", 443)
    assert not rules.permits("pypi.org.evil.com", 443)
    assert rules.permits("files.pythonhosted.org", 443) and rules.permits("a.b.pythonhosted.org", 443)
    assert not rules.permits("pythonhosted.org", 443)  # the wildcard is for subdomains only
    assert rules.permits("api.example.com", 8443) and not rules.permits("api.example.com", 443)
    assert rules.permits("203.0.113.5", 443) and rules.listed_address("203.0.113.5")
    assert not rules.permits("151.101.0.223", 443)  # a raw address that is not listed
    assert not rules.permits("[::ffff:203.0.113.6]", 443)


def test_private_local_and_host_addresses_are_refused_even_for_listed_names() -> None:
    rules = AllowList(["pypi.org"], open_networks=["10.1.0.0/16", "169.254.0.0/16"], blocked=network.blocked_networks())
    assert not rules.refuses_address("151.101.0.223") and not rules.refuses_address("2a04:4e42::223")
    for address in ("127.0.0.1", "::1", "10.9.8.7", "192.168.1.1", "172.16.0.1", "100.64.0.1", "0.0.0.0"):
        assert rules.refuses_address(address), address
    for address in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "fe80::1", "::ffff:127.0.0.1", "224.0.0.1"):
        assert rules.refuses_address(address), address
    for address in network.host_addresses() + network.host_gateways():
        assert rules.refuses_address(address.split("%")[0]), address
    assert not rules.refuses_address("10.1.2.3")  # opened by INTERPRETER_SANDBOX_ALLOWED_NETWORKS
    assert not rules.refuses_address("169.254.1.1") and rules.refuses_address("169.254.169.254")  # longer prefix


# -- the proxy, on this machine's loopback -------------------------------------------------------------------


class Hello(BodyHandler):
    """Answers every GET with the path and the headers it got."""

    def body(self) -> bytes:
        return json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()


@pytest.fixture
def web_server() -> Iterator[int]:
    with loopback_port(Hello) as port:
        yield port


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch, web_server: int) -> Iterator[tuple[egress.EgressGate, int]]:
    """A gate on a loopback listener. ``files.test`` resolves to 127.0.0.1, which the rules open (as an admin's
    INTERPRETER_SANDBOX_ALLOWED_NETWORKS would); ``private.test`` to an address that is never connected to."""
    names = {"files.test": ["127.0.0.1"], "private.test": ["10.9.8.8"]}

    def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise socket.gaierror(f"unknown test name {host}")
        return names[host]

    monkeypatch.setattr(egress, "RESOLVE", resolve)
    listener = socket.create_server(("127.0.0.1", 0))
    rules = AllowList([f"files.test:{web_server}", f"private.test:{web_server}"], open_networks=["127.0.0.1/32"])
    opened = egress.egress_proxy().open_gate(listener, rules)
    yield opened, listener.getsockname()[1]
    opened.close()


def ask(proxy_port: int, request: bytes) -> bytes:
    """Send ``request`` to the proxy and read until it closes the connection."""
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as connection:
        connection.sendall(request)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_the_proxy_forwards_http_and_tunnels_connect_for_allowed_names(
    gate: tuple[egress.EgressGate, int], web_server: int
) -> None:
    opened, proxy = gate
    head = f"GET http://files.test:{web_server}/hi?x=1 HTTP/1.1\r\nHost: files.test:{web_server}\r\n"
    answer = ask(proxy, (head + "Proxy-Connection: keep-alive\r\n\r\n").encode())
    assert answer.startswith(b"HTTP/1.0 200"), answer[:200]
    seen = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert seen["path"] == "/hi?x=1" and "Proxy-Connection" not in seen["headers"]
    assert seen["headers"]["Connection"] == "close"
    tunnel = f"CONNECT files.test:{web_server} HTTP/1.1\r\n\r\nGET /through HTTP/1.0\r\n\r\n".encode()
    answer = ask(proxy, tunnel)
    assert answer.startswith(b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.0 200"), answer[:200]
    assert b'"path": "/through"' in answer
    assert opened.take_blocked() == []


def test_the_proxy_refuses_names_not_listed_private_answers_and_raw_addresses(
    gate: tuple[egress.EgressGate, int], web_server: int
) -> None:
    opened, proxy = gate
    refused = ask(proxy, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n")
    assert refused.startswith(b"HTTP/1.1 403") and b"blocked by the allow-list: example.com" in refused
    refused = ask(proxy, f"GET http://files.test:{web_server + 1}/ HTTP/1.1\r\n\r\n".encode())
    assert b"blocked by the allow-list: files.test:" in refused  # a port the entry does not name
    refused = ask(proxy, f"CONNECT private.test:{web_server} HTTP/1.1\r\n\r\n".encode())  # never connected to
    assert refused.startswith(b"HTTP/1.1 403")
    refused = ask(proxy, f"CONNECT 127.0.0.2:{web_server} HTTP/1.1\r\n\r\n".encode())
    assert refused.startswith(b"HTTP/1.1 403")
    assert ask(proxy, b"GET /no-proxy-form HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert ask(proxy, b"GET ftp://files.test/ HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
    blocked = opened.take_blocked()
    assert blocked[0] == "example.com" and blocked[1] == f"files.test:{web_server + 1}"
    assert blocked[2] == f"private.test:{web_server} (it resolves to 10.9.8.8, not a public address)"
    assert blocked[3] == f"127.0.0.2:{web_server}" and opened.take_blocked() == []


def test_a_name_rebound_to_loopback_is_refused(monkeypatch: pytest.MonkeyPatch, web_server: int) -> None:
    """Without an opened network, a listed name whose DNS answer is this machine is never connected to."""
    monkeypatch.setattr(egress, "RESOLVE", lambda host, port: ["127.0.0.1"])
    listener = socket.create_server(("127.0.0.1", 0))
    opened = egress.egress_proxy().open_gate(listener, AllowList([f"rebound.test:{web_server}"]))
    try:
        refused = ask(listener.getsockname()[1], f"CONNECT rebound.test:{web_server} HTTP/1.1\r\n\r\n".encode())
        assert refused.startswith(b"HTTP/1.1 403")
        assert opened.take_blocked() == [f"rebound.test:{web_server} (it resolves to 127.0.0.1, not a public address)"]
    finally:
        opened.close()


# -- real sandboxes, as root and as an ordinary user ----------------------------------------------------------

# The app's side, inside the fake host: a web server on an address of the fake host, test names for the proxy's
# resolver, one sandbox with the allow-list, its commands' output and notes.
PROBE = """
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from core.config import Settings
from core.sandbox.local import egress
from core.sandbox.local.sandbox import LocalSandbox

args = json.loads(sys.argv[1])

class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from the fake host"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

server = ThreadingHTTPServer((args["server"], args["port"]), Hello)
threading.Thread(target=server.serve_forever, daemon=True).start()
egress.RESOLVE = lambda host, port: args["names"][host]
settings = Settings(data_dir=args["data_dir"], kernel_pool_size=0, execution_timeout=30, **args["settings"])
sandbox = LocalSandbox(settings, settings.sessions_dir / "local" / "probe")
try:
    report = sandbox.isolation_report()
    runs = [sandbox.run_command(command) for command in args["commands"]]
    print(json.dumps({"network": report.network, "warnings": report.warnings,
                      "runs": [[run.exit_code, run.stdout + run.stderr, run.notes] for run in runs]}))
finally:
    sandbox.close()
"""

SERVER = "10.9.8.7"  # an address of the fake host (test_network's FAKE_ADDRESSES)
NAMES = {"files.example.test": [SERVER], "private.example.test": ["10.9.8.8"]}
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"


@pytest.fixture(params=["root", "nobody"])
def allowlist_probe(request: pytest.FixtureRequest) -> Iterator[Callable[[list[str]], dict[str, Any]]]:
    """Runs an allow-list sandbox in a fresh process inside a fake host, as root or as ``nobody``."""
    if os.geteuid() != 0:
        missing("building the fake host's network namespace needs root")
    folder = Path(tempfile.mkdtemp(prefix="egress-probe-"))
    if request.param == "nobody":
        os.chown(folder, NOBODY, NOBODY)

    def run(commands: list[str]) -> dict[str, Any]:
        domains = f"files.example.test:{FAKE_PORT}, private.example.test:{FAKE_PORT}"
        settings = {"sandbox_network": "allowlist", "sandbox_allowed_domains": domains}
        settings["sandbox_allowed_networks"] = f"{SERVER}/32"  # the fake host's address counts as private
        args: dict[str, Any] = {
            "data_dir": str(folder / "data"),
            "settings": settings,
            "commands": commands,
            "names": NAMES,
        }
        args |= {"server": SERVER, "port": FAKE_PORT}
        argv = [sys.executable, "-c", PROBE, json.dumps(args)]
        if request.param == "nobody":
            argv = as_nobody(argv, folder)
        argv = ["unshare", "--net", "--", "sh", "-c", FAKE_HOST + ' && exec "$@"', "sh", *argv]
        done = subprocess.run(argv, cwd=REPO, env={**os.environ, "HOME": str(folder)}, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        seen: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return seen

    yield run
    shutil.rmtree(folder, ignore_errors=True)


@needs_namespace
def test_sandbox_code_reaches_allowed_names_only_through_the_proxy(
    allowlist_probe: Callable[[list[str]], dict[str, Any]],
) -> None:
    url = f"http://files.example.test:{FAKE_PORT}/"
    commands = [
        f"curl -sS {url}",  # plain HTTP through the proxy
        f"curl -sS --proxytunnel {url}",  # the same through a CONNECT tunnel, as HTTPS goes
        f"python3 -c {shlex.quote(FETCH)} {url}",  # Python's urllib finds the proxy in the environment
        "curl -sS -o /dev/null -w '%{http_code}' http://example.com/",
        f"curl -sS -o /dev/null -w '%{{http_code}}' http://private.example.test:{FAKE_PORT}/",
        connect_command([(SERVER, FAKE_PORT), ("10.0.2.2", FAKE_PORT), ("10.0.2.3", 53)]),  # past the proxy
        "ip -o link; cat /etc/resolv.conf; getent hosts files.example.test || echo no-dns",
    ]
    seen = allowlist_probe(commands)
    runs = [(code, output, notes) for code, output, notes in seen["runs"]]
    assert seen["network"].startswith("allow-list (only files.example.test"), seen
    for run in runs[:3]:
        assert run[0] == 0 and "hello from the fake host" in run[1] and not run[2], run
    assert runs[3][1].strip() == "403"
    assert runs[3][2] and "blocked by the allow-list: example.com" in runs[3][2][0], runs[3]
    assert (
        runs[4][1].strip() == "403"
        and "private.example.test:8765 (it resolves to 10.9.8.8, not a public" in runs[4][2][0]
    )
    reached = connections(runs[5][1])
    assert len(reached) == 3 and all("unreachable" in result for result in reached.values()), reached
    assert "tap0" not in runs[6][1] and "no-dns" in runs[6][1]
    assert not [run for run in runs if run is not runs[3] and run is not runs[4] and run[2]], "stray notes"


# -- the chat page --------------------------------------------------------------------------------------------


@needs_namespace
def test_the_step_says_what_the_allow_list_blocked(
    make_app: Callable[..., AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERPRETER_SANDBOX_NETWORK", "allowlist")
    monkeypatch.setenv("INTERPRETER_SANDBOX_ALLOWED_DOMAINS", "pypi.org")
    command = "curl -sS -o /dev/null -w 'status %{http_code}' https://example.com/ || true"
    app = make_app([{"tool": "execute_command", "input": {"command": command}}, {"text": "It was refused."}])
    app.run()
    send(app, "fetch example.com")
    text = page_text(app)
    assert "blocked by the allow-list: example.com" in text, text
    assert "pypi.org" in text and "It was refused." in text


# -- secret headers per host (optional part of the issue) ----------------------------------------------------

SECRET = "Bearer s3cret-9f8e7d"
API = "api.example.test"


def test_domain_headers_are_read_and_a_wrong_one_is_named_without_its_value(
    make_sandbox: Callable[..., Any],
) -> None:
    assert parse_headers(json.dumps({API: {"Authorization": SECRET}})) == {API: {"Authorization": SECRET}}
    assert parse_headers("") == {}
    for wrong in ("[]", "{", json.dumps({API: "x"}), json.dumps({API: {"Bad Name": SECRET}})):
        with pytest.raises(ValueError) as raised:
            parse_headers(wrong)
        assert SECRET not in str(raised.value)
    with pytest.raises(SandboxError, match="INTERPRETER_SANDBOX_DOMAIN_HEADERS: header 'X-Key'") as refused:
        make_sandbox(sandbox_network="allowlist", sandbox_domain_headers=json.dumps({API: {"X-Key": SECRET + "\n"}}))
    assert "s3cret" not in str(refused.value)
    rules = AllowList([], headers={f"*.{API}": {"X-Key": "k"}})
    assert rules.permits(f"v1.{API}", 80) and rules.headers_for(f"v1.{API}", 80) == {"X-Key": "k"}
    assert rules.headers_for("other.test", 80) == {}


@pytest.fixture(scope="module")
def api_certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for ``api.example.test`` with its key, as files."""
    folder = tmp_path_factory.mktemp("api-tls")
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Egress Test CA", None, ca_key, ca_key, ca=True)
    server = _certificate(API, ca.subject, key, ca_key, ca=False, names=[x509.DNSName(API)])
    paths = folder / "ca.pem", folder / "server.pem", folder / "key.pem"
    paths[0].write_bytes(_pem(ca))
    paths[1].write_bytes(_pem(server))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture
def api_server(api_certificates: tuple[Path, Path, Path]) -> Iterator[tuple[int, list[dict[str, str]]]]:
    """An HTTPS server on 127.0.0.1 that records the headers it got and answers only whether the key was right."""
    seen: list[dict[str, str]] = []

    class Api(BodyHandler):
        def body(self) -> bytes:
            seen.append(dict(self.headers))
            return b"authorized" if self.headers.get("Authorization") == SECRET else b"refused"

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(api_certificates[1], api_certificates[2])
    with loopback_port(Api, tls=context) as port:
        yield port, seen


@needs_namespace
def test_the_proxy_adds_a_host_s_secret_that_never_enters_the_sandbox(
    make_sandbox: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    api_certificates: tuple[Path, Path, Path],
    api_server: tuple[int, list[dict[str, str]]],
) -> None:
    port, seen = api_server
    monkeypatch.setattr(egress, "RESOLVE", lambda host, _port: ["127.0.0.1"])
    monkeypatch.setattr(egress, "TLS_CONTEXT", lambda: ssl.create_default_context(cafile=api_certificates[0]))
    headers = json.dumps({f"{API}:{port}": {"Authorization": SECRET}})
    sandbox = make_sandbox(
        "secret",
        sandbox_network="allowlist",
        sandbox_allowed_networks="127.0.0.1/32",  # the test's API server is on this machine's loopback
        sandbox_domain_headers=headers,
    )
    url = f"http://{API}:{port}/v1/models"
    called = sandbox.run_command(f"curl -sS -H 'Authorization: my-guess' {url}")
    assert called.exit_code == 0 and called.stdout == "authorized", called
    assert seen[-1]["Authorization"] == SECRET and "my-guess" not in json.dumps(seen)
    tunnelled = sandbox.run_command(f"curl -sS --proxytunnel -k https://{API}:{port}/ -o /dev/null -w '%{{http_code}}'")
    assert tunnelled.stdout == "200" and "Authorization" not in seen[-1]  # no secret inside a tunnel
    places = "/etc /run /home /tmp /sandbox /proc/[0-9]*/environ /proc/[0-9]*/cmdline"
    looked = sandbox.run_command(f"env; grep -rsl s3cret {places} || echo not-found")
    assert "s3cret" not in looked.stdout and "not-found" in looked.stdout, looked.stdout
    assert not [part for part in sandbox.isolation.command(["true"]) if "s3cret" in part]


def test_one_sandbox_holds_at_most_its_share_of_the_proxy_s_connections(gate: tuple[egress.EgressGate, int]) -> None:
    opened, proxy = gate
    held = [socket.create_connection(("127.0.0.1", proxy), timeout=10) for _ in range(egress.MAX_CONNECTIONS)]
    try:
        wait_for(lambda: len(opened.tasks) == egress.MAX_CONNECTIONS, "the proxy to take every connection")
        with socket.create_connection(("127.0.0.1", proxy), timeout=10) as one_more:
            assert one_more.recv(1) == b""  # closed at once
        held.pop().close()
        wait_for(lambda: len(opened.tasks) < egress.MAX_CONNECTIONS, "a connection to end")
        assert ask(proxy, b"CONNECT example.com:443 HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 403")
    finally:
        for connection in held:
            connection.close()
