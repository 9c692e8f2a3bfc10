"""What the wire-protocol test servers share: a threaded HTTP server on loopback, JSON request bodies, streams.

Also the plain answering server the egress tests and ``bench.egress`` stand up (:class:`BodyHandler`,
:func:`loopback_port`).

Streamed answers go out as real services send them: HTTP/1.1 with ``Transfer-Encoding: chunked`` on a connection
kept alive for the next request (llama.cpp's cpp-httplib ``set_chunked_content_provider``, uvicorn under vLLM
and llama-cpp-python, Go's ``net/http`` under Ollama, OpenAI, Anthropic and AWS), or, as some servers and proxies
do, a body that ends when the server closes the connection (``Connection: close``, no length).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class RecordingHandler(BaseHTTPRequestHandler):
    """A handler that records each request (path, headers, JSON body) and asks ``reply`` for the answer."""

    requests: list[dict[str, Any]]
    reply: Callable[[dict[str, Any]], Any]

    def read_request(self) -> dict[str, Any]:
        """Read and record the request; its JSON body (``{}`` when empty)."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw) if raw else {}
        self.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
        return body  # type: ignore[no-any-return]

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """A whole JSON answer."""
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        """Keep the test output quiet."""


class BodyHandler(BaseHTTPRequestHandler):
    """Answers every GET with 200 and the bytes :meth:`body` gives (with their length), quietly."""

    def body(self) -> bytes:
        """The answer's body."""
        raise NotImplementedError

    def do_GET(self) -> None:
        body = self.body()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Keep the test output quiet."""


class StreamingHandler(RecordingHandler):
    """A recording handler that streams its answers over HTTP/1.1: chunked and kept alive, or closed at the end."""

    protocol_version = "HTTP/1.1"
    chunked = True

    def handle(self) -> None:
        """Serve the connection's requests until the client closes it.

        A client that drops the connection (a Stop mid-answer, or a kept-alive connection it no longer needs,
        closed with a reset) ends it quietly, as a server sees it.
        """
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def start_stream(self, content_type: str, keep_alive: bool = True) -> None:
        """Send a 200 answer's headers; its body follows piece by piece with :meth:`send_piece`.

        Args:
            content_type: The body's type (``text/event-stream``, ``application/x-ndjson``, ...).
            keep_alive: Chunked transfer encoding on a connection that stays open for the next request (as every
                real service here streams); False: no length, the body ends when the server closes the connection.

        """
        self.chunked = keep_alive
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding" if keep_alive else "Connection", "chunked" if keep_alive else "close")
        self.end_headers()

    def send_piece(self, data: bytes) -> None:
        """One piece of the body (one chunk when chunked)."""
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)

    def end_stream(self) -> None:
        """End the body: the last chunk, or (``keep_alive`` off) the connection closes when the handler returns."""
        if self.chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


@contextmanager
def running(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free port of 127.0.0.1 until the block ends: yields ``http://127.0.0.1:<port>``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def loopback_port(handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """Serve ``handler`` on a free port of 127.0.0.1 (over TLS with ``tls``) until the block ends: yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve(handler: type[RecordingHandler], reply: Callable[[dict[str, Any]], Any]) -> Iterator[tuple[str, list]]:  # type: ignore[type-arg]
    """Run ``handler`` on a free port of 127.0.0.1: yields ``http://127.0.0.1:<port>`` and the recorded requests."""
    requests: list[dict[str, Any]] = []
    bound = type("Handler", (handler,), {"requests": requests, "reply": staticmethod(reply)})
    with running(bound) as url:
        yield url, requests
