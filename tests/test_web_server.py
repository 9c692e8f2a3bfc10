"""The real server (``streamlit run app.py``): loopback by default, no anonymous network access, host names
checked over HTTP and the WebSocket (DNS rebinding), stored data private."""

from __future__ import annotations

import http.client
import io
import socket
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.page_client import cookie_header, link_urls, login_cookie, run_page, texts
from tests.servers import app_environment, free_port, get, running_app, start_app, stop

pytestmark = pytest.mark.slow
COOKIE_SECRET = "a long random string"
ISSUER = "https://idp.example"
AUTH = f"""[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "{COOKIE_SECRET}"
client_id = "c"
client_secret = "x"
server_metadata_url = "https://idp.example/.well-known/openid-configuration"
"""


def handshake(port: int, host: str, headers: dict[str, str] | None = None) -> int:
    """Open Streamlit's WebSocket with this ``Host`` header (and ``headers``): 101 when accepted, else the refusing
    status."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    options = {"subprotocols": ["streamlit"], "open_timeout": 10, "additional_headers": headers}
    try:
        with connect(f"ws://{host}/_stcore/stream", sock=sock, **options) as ws:  # type: ignore[arg-type]
            return ws.response.status_code
    except InvalidStatus as refused:
        return refused.response.status_code
    finally:
        sock.close()


FORWARDED = (
    {"X-Forwarded-For": "198.51.100.7"},
    {"Forwarded": "for=198.51.100.7;proto=https"},
    {"X-Real-IP": "198.51.100.7"},
)
"""What nginx's proxy_pass (deploy/nginx.conf) and other proxies add to a request they pass on."""


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net shows them) of sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def umask_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise AssertionError("no Umask line")


def test_the_default_server_listens_on_loopback_only_and_keeps_data_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_app(data) as (port, server):
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, from .streamlit/config.toml
        assert umask_of(server.pid) == 0o077
        assert stat.S_IMODE(data.stat().st_mode) == 0o700

        # Without a login, the server's download route answers the one person's links, no cookie needed.
        (link,) = link_urls(run_page(port), "Download all")
        status, body = fetch(port, link, {})
        assert status == 200 and zipfile.ZipFile(io.BytesIO(body)).namelist() == []  # the (empty) workspace

        # What only arrives from elsewhere is refused: a proxy on this machine that passes a visitor on.
        for forwarded in FORWARDED:
            status, body = get(port, "/", headers=forwarded)
            assert status == 403 and b"serves this machine only" in body, forwarded
            assert handshake(port, f"127.0.0.1:{port}", forwarded) == 403, forwarded
        for address in ("203.0.113.5", f"203.0.113.5:{port}", "[2001:db8::1]", "10.0.0.7"):
            status, body = get(port, "/_stcore/health", host=address)
            assert status == 403 and b"it was addressed to" in body, address
            assert handshake(port, address) == 403, address
        assert handshake(port, f"127.0.0.1:{port}") == 101


def test_foreign_host_names_are_refused_over_http_and_websocket(tmp_path: Path) -> None:
    variables = {"INTERPRETER_ALLOWED_HOSTS": "code.example.org", "INTERPRETER_ALLOW_ANONYMOUS": "true"}
    with running_app(tmp_path / "data", **variables) as (port, _):
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", "", "a b"):
            assert get(port, "/", host=host)[0] == 400, host
            assert get(port, "/_stcore/health", host=host)[0] == 400, host
        assert handshake(port, f"evil.example:{port}") == 403
        assert handshake(port, f"rebound.attacker.test:{port}") == 403

        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "code.example.org"):
            assert get(port, "/_stcore/health", host=host) == (200, b"ok"), host
        status, page = get(port, "/", host=f"127.0.0.1:{port}")
        assert status == 200 and b'<div id="root">' in page
        assert handshake(port, f"127.0.0.1:{port}") == 101
        assert handshake(port, f"localhost:{port}") == 101
        assert handshake(port, "code.example.org") == 101

        for forwarded in FORWARDED:  # anonymous access from the network is wanted: a proxy may pass visitors on
            assert get(port, "/_stcore/health", host="code.example.org", headers=forwarded) == (200, b"ok")
        # Behind a reverse proxy that passes code.example.org on, the app is public: the page says so.
        (warning,) = [text for text in texts(run_page(port)) if "without a login" in text]
        assert "code.example.org" in warning and "anyone who can reach it can run code here" in warning


def test_a_public_host_name_without_login_refuses_to_start(tmp_path: Path) -> None:
    """A reverse proxy on this machine forwards code.example.org to 127.0.0.1: that is exposure too."""
    env = app_environment(tmp_path / "data", INTERPRETER_ALLOWED_HOSTS="localhost, code.example.org")
    output = exit_output(start_app(free_port(), env))
    assert "Refusing to start" in output and "code.example.org" in output and "localhost," not in output
    assert "INTERPRETER_ALLOW_ANONYMOUS=true" in output and "[auth]" in output


def exit_output(server: subprocess.Popen[str]) -> str:
    """The output of a server that must refuse to start: it exits with status 2."""
    try:
        output, _ = server.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        stop(server)
        raise
    assert server.returncode == 2, output
    return output


def test_a_network_address_without_login_refuses_to_start(tmp_path: Path) -> None:
    port = free_port()
    output = exit_output(start_app(port, app_environment(tmp_path / "data"), "--server.address", "0.0.0.0"))
    assert "Refusing to start" in output and "INTERPRETER_ALLOW_ANONYMOUS=true" in output
    with pytest.raises(OSError):
        get(port)


def test_serving_others_without_bubblewrap_refuses_to_start(tmp_path: Path) -> None:
    """A server for other people never falls back to reduced isolation: here bwrap is not on the PATH."""
    no_bwrap = str(Path(sys.executable).parent)
    env = app_environment(tmp_path / "data", INTERPRETER_ALLOW_ANONYMOUS="true", PATH=no_bwrap)
    server = start_app(free_port(), env)
    output, _ = server.communicate(timeout=90)
    assert server.returncode == 2
    assert "bubblewrap cannot run here" in output and "apt-get install bubblewrap" in output


def test_a_network_address_starts_with_explicit_anonymous_access(tmp_path: Path) -> None:
    with running_app(tmp_path / "a", "--server.address", "0.0.0.0", INTERPRETER_ALLOW_ANONYMOUS="true") as (port, _):
        assert get(port) == (200, b"ok")
        (warning,) = [text for text in texts(run_page(port)) if "without a login" in text]  # on every page
        assert "anyone who can reach it can run code here and read every conversation" in warning


@pytest.fixture(scope="module")
def login_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The app with a login (``[auth]`` in its secrets), listening on every interface: its port."""
    folder = tmp_path_factory.mktemp("login")
    secrets = folder / "secrets.toml"
    secrets.write_text(AUTH)
    with running_app(folder / "data", "--server.address", "0.0.0.0", "--secrets.files", str(secrets)) as (port, _):
        yield port


def test_a_network_address_starts_with_a_login(login_server: int) -> None:
    assert get(login_server) == (200, b"ok")


def fetch(port: int, path: str, cookies: dict[str, str]) -> tuple[int, bytes]:
    """GET ``path`` as a browser holding ``cookies`` would."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": cookie_header(cookies)} if cookies else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_download_link_answers_only_the_person_it_was_offered_to(login_server: int) -> None:
    origin = f"http://127.0.0.1:{login_server}"
    alice = login_cookie(COOKIE_SECRET, origin, iss=ISSUER, sub="alice", email="alice@example.com")
    (link,) = link_urls(run_page(login_server, alice), "Download all")

    status, body = fetch(login_server, link, alice)
    assert status == 200 and zipfile.ZipFile(io.BytesIO(body)).namelist() == []  # the (empty) workspace

    bob = login_cookie(COOKIE_SECRET, origin, iss=ISSUER, sub="bob", email="bob@example.com")
    forged = login_cookie("not the secret", origin, iss=ISSUER, sub="alice", email="alice@example.com")
    for cookies in ({}, bob, forged):  # logged out (the cookie is gone), someone else, a forged login
        status, body = fetch(login_server, link, cookies)
        assert status == 403 and b"Log in" in body, (cookies, body)
