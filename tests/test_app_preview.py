"""Live previews through the proxy: a real server in a real sandbox, reached over real HTTP on 127.0.0.1.

The app's route and the preview hosts' proxy are served by uvicorn on loopback; requests name the preview host in
their ``Host`` header (as a browser does for ``PORT-TOKEN.localhost``). The sandbox has no network at all
(``none``): the proxy still reaches its server, inside the sandbox's own namespace.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware

from core.config import Settings
from core.sandbox.local.isolation import bubblewrap_works
from core.sandbox.local.ports import SandboxPorts, sandbox_ports
from core.sandbox.local.sandbox import LocalSandbox
from core.web.preview_proxy import NOT_YOURS, PreviewProxy, preview_route, stopped_text
from core.web.previews import COOKIE, Previews, Target, parse_host, preview_host, preview_path
from tests.conftest import wait_for
from tests.prerequisites import requires
from tests.servers import serving_asgi

pytestmark = requires(bubblewrap_works(), "bubblewrap cannot run on this machine")
SERVER = "python -m http.server {port} --bind 127.0.0.1 --directory /sandbox"


def who(cookies: Mapping[str, str]) -> str | None:
    """The test's login: the ``who`` cookie names the person (None: logged out)."""
    return cookies.get("who") or None


@contextmanager
def serving(previews: Previews, requester: Callable[[Mapping[str, str]], str | None] = who) -> Iterator[int]:
    """The app's preview route and proxy on uvicorn at 127.0.0.1, in a thread: its port."""
    app = Starlette(
        routes=[preview_route("", previews, requester=requester, domain="localhost")],
        middleware=[Middleware(PreviewProxy, previews=previews, domain="localhost")],
    )
    with serving_asgi(app) as port:
        yield port


def request(port: int, path: str, host: str = "", cookie: str = "") -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` from the test server with this ``Host`` and ``Cookie``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Host": host or f"127.0.0.1:{port}"}
    if cookie:
        headers["Cookie"] = cookie
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, {key.lower(): value for key, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def post(port: int, path: str, body: bytes, host: str, cookie: str) -> tuple[int, bytes]:
    """POST ``body`` to ``path`` of the test server with this ``Host`` and ``Cookie``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body=body, headers={"Host": host, "Cookie": cookie})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def sandbox(make_settings: Callable[..., Settings]) -> Iterator[LocalSandbox]:
    settings = make_settings(sandbox_network="none")
    made = LocalSandbox(settings, settings.sessions_dir / "alice" / "c1")
    yield made
    made.close()


def start_server(sandbox: LocalSandbox, port: int) -> tuple[str, SandboxPorts]:
    """Start ``python -m http.server`` in the sandbox's background and wait until it listens; its task id and the
    sandbox's ports."""
    sandbox.write_file("hello.txt", b"hello from the sandbox")
    task = sandbox.start_task(SERVER.format(port=port))
    ports = sandbox_ports(sandbox)
    assert ports is not None
    wait_for(lambda: port in ports.listening(), f"port {port} to listen in the sandbox", 30)
    return task.task_id, ports


def start_script(sandbox: LocalSandbox, name: str, script: str, port: int, what: str) -> SandboxPorts:
    """Write ``script`` to ``name`` in the sandbox, run it with ``python`` in the background and wait until it listens
    on ``port`` (``what`` names the wait); the sandbox's ports."""
    sandbox.write_file(name, script.encode())
    sandbox.start_task(f"python {name}")
    ports = sandbox_ports(sandbox)
    assert ports is not None
    wait_for(lambda: port in ports.listening(), what, 30)
    return ports


def open_preview(port: int, previews: Previews, token: str, inner: int, person: str = "alice") -> str:
    """Click Open preview as ``person``: follow the app's redirect and the ticket; the preview host's cookie."""
    status, headers, _ = request(port, preview_path("", token, inner), cookie=f"who={person}")
    assert status == 303, status
    link = urlsplit(headers["location"])
    assert link.hostname == preview_host(inner, token) and link.port == port
    status, headers, _ = request(port, f"{link.path}?{link.query}", host=link.netloc)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert cookie.startswith(COOKIE + "=") and "httponly" in cookie.lower()
    return cookie.split(";")[0]


@contextmanager
def previewing(ports: SandboxPorts, inner: int) -> Iterator[tuple[int, str, str, Target]]:
    """Offer alice the preview of port ``inner``, serve the app and open the preview: the app's port, the preview
    host's cookie, that host (with the app's port), and the preview offered."""
    previews = Previews()
    target = previews.offer("alice", "c1", ports)
    with serving(previews) as port:
        cookie = open_preview(port, previews, target.token, inner)
        yield port, cookie, f"{preview_host(inner, target.token)}:{port}", target


def test_the_owner_reaches_a_server_in_a_sandbox_without_network(sandbox: LocalSandbox) -> None:
    _, ports = start_server(sandbox, 8765)
    with previewing(ports, 8765) as (port, cookie, host, target):
        status, _, body = request(port, "/hello.txt", host=host, cookie=f"{cookie}; _streamlit_user=secret")
    assert status == 200 and body == b"hello from the sandbox"
    assert parse_host(host) == (8765, target.token)


ECHO = """import http.server, json
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"cookie": self.headers.get("Cookie"), "host": self.headers.get("Host")}).encode()
        self.send_response(200)
        self.send_header("Set-Cookie", "inner=1; Domain=localhost; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[::-1])
http.server.HTTPServer(("127.0.0.1", 8768), Echo).serve_forever()
"""


def test_only_the_previewed_app_s_own_cookies_reach_it(sandbox: LocalSandbox) -> None:
    ports = start_script(sandbox, "echo.py", ECHO, 8768, "the echo server to listen")
    with previewing(ports, 8768) as (port, cookie, host, _):
        sent = f"{cookie}; _streamlit_user=secret; _streamlit_user__1=more; _streamlit_xsrf=inner; theme=dark"
        status, headers, body = request(port, "/", host=host, cookie=sent)
        posted = post(port, "/form", b"a" * 100_000 + b"end", host=host, cookie=cookie)
    assert status == 200
    assert json.loads(body) == {"cookie": "_streamlit_xsrf=inner; theme=dark", "host": "127.0.0.1:8768"}
    assert headers["set-cookie"] == "inner=1; Path=/"  # kept on the preview's own host
    assert posted == (201, b"dne" + b"a" * 100_000)  # a request body goes through whole


def test_nobody_else_gets_anything(sandbox: LocalSandbox) -> None:
    previews = Previews()
    _, ports = start_server(sandbox, 8766)
    target = previews.offer("alice", "c1", ports)
    host_of = preview_host(8766, target.token)
    with serving(previews) as port:
        host = f"{host_of}:{port}"
        # Another person, or nobody logged in, at the app's link: refused before any ticket is made.
        for cookie in ("who=bob", ""):
            status, _, body = request(port, preview_path("", target.token, 8766), cookie=cookie)
            assert status == 403 and body.decode() == NOT_YOURS
        # The preview host without its cookie, with a made-up one, or with the app's login cookie only.
        for cookie in ("", f"{COOKIE}=guess", "who=alice"):
            status, _, body = request(port, "/hello.txt", host=host, cookie=cookie)
            assert status == 403 and b"hello" not in body
        # A wrong token, a ticket used twice or for another port.
        other = preview_host(8766, "0" * 32)
        assert request(port, "/hello.txt", host=f"{other}:{port}")[0] == 404
        # Other names below the previews' domain get nothing either: not the app, not a preview.
        assert request(port, preview_path("", target.token, 8766), host=f"app.localhost:{port}")[0] == 404
        for wrong_first in (True, False):  # a ticket tried at another port's host is spent as well
            _, headers, _ = request(port, preview_path("", target.token, 8766), cookie="who=alice")
            ticket = urlsplit(headers["location"]).query
            if wrong_first:
                wrong = f"{preview_host(8765, target.token)}:{port}"
                assert request(port, f"/.preview-login?{ticket}", host=wrong)[0] == 403
            assert request(port, f"/.preview-login?{ticket}", host=host)[0] == (403 if wrong_first else 303)
            assert request(port, f"/.preview-login?{ticket}", host=host)[0] == 403
        # A cookie of one conversation's preview does not open another's.
        other_target = previews.offer("alice", "c2", ports)
        cookie = open_preview(port, previews, target.token, 8766)
        other_host = f"{preview_host(8766, other_target.token)}:{port}"
        assert request(port, "/hello.txt", host=other_host, cookie=cookie)[0] == 403


def test_a_stopped_server_is_reported(sandbox: LocalSandbox) -> None:
    task_id, ports = start_server(sandbox, 8767)
    with previewing(ports, 8767) as (port, cookie, host, target):
        assert request(port, "/hello.txt", host=host, cookie=cookie)[0] == 200
        sandbox.stop_task(task_id)
        wait_for(lambda: 8767 not in ports.listening(), "the server to stop", 30)
        status, _, body = request(port, "/hello.txt", host=host, cookie=cookie)
        assert status == 502 and body.decode() == stopped_text(8767)
        status, _, body = request(port, preview_path("", target.token, 8767), cookie="who=alice")
        assert status == 404 and body.decode() == stopped_text(8767)
    assert 8767 in target.seen


TOKEN = "a" * 32
OTHER_HOSTS = ["8765-ABC.localhost", f"0-{TOKEN}.localhost", f"99999-{TOKEN}.localhost", f"8765-{TOKEN}.example.com",
               f"x.8765-{TOKEN}.localhost", "localhost", f"8765-{TOKEN}.localhost.evil"]  # fmt: skip


@pytest.mark.parametrize("host", OTHER_HOSTS)
def test_other_host_names_are_no_preview(host: str) -> None:
    assert parse_host(host) is None


class _NoServers:
    """A sandbox's ports with nothing listening (a :class:`core.web.previews.PortSource`)."""

    def listening(self) -> list[int]:
        return []

    def connect(self, port: int) -> object:
        raise OSError("nothing listens")


def test_a_deleted_conversation_s_previews_stop_working() -> None:
    previews, ports = Previews(), _NoServers()
    target = previews.offer("alice", "c1", ports)
    assert previews.offer("alice", "c1", ports) is target and previews.offer("bob", "c1", ports) is not target
    value = previews.redeem(previews.ticket(target.token, 8000), target.token, 8000)
    assert value is not None and previews.admits(value, target.token)
    previews.forget("alice", "c1")
    assert previews.find(target.token) is None and not previews.admits(value, target.token)
    assert previews.offer("alice", "c1", ports).token != target.token


STREAM = """import http.server, threading
released = threading.Event()
class Stream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/release":
            released.set()
            self.send_response(204)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (b"data: first\\n\\n", b"data: second\\n\\n"):
            self.wfile.write(b"%x\\r\\n%s\\r\\n" % (len(part), part))
            self.wfile.flush()
            released.wait()
        self.wfile.write(b"0\\r\\n\\r\\n")
http.server.ThreadingHTTPServer(("127.0.0.1", 8769), Stream).serve_forever()
"""


def test_an_answer_streams_through_as_the_server_writes_it(sandbox: LocalSandbox) -> None:
    """Server-sent events (as Gradio uses): the first event arrives while the server still holds the second."""
    ports = start_script(sandbox, "stream.py", STREAM, 8769, "the streaming server to listen")
    with previewing(ports, 8769) as (port, cookie, host, _):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # a buffering proxy times out
        connection.request("GET", "/events", headers={"Host": host, "Cookie": cookie})
        response = connection.getresponse()
        assert response.status == 200 and response.readline() == b"data: first\n"
        assert request(port, "/release", host=host, cookie=cookie)[0] == 204
        assert response.read() == b"\ndata: second\n\n"
        connection.close()
