"""A fault-injecting HTTP proxy for tests against an S3-compatible server (such as moto's).

The proxy listens on 127.0.0.1, forwards every request (method, path, headers, body) to the upstream server and
passes the answer back, except that it can answer requests itself with S3 error responses::

    with FaultProxy("http://127.0.0.1:5000") as proxy:
        proxy.fail_next(2, SLOW_DOWN)          # the next two requests get a 503 SlowDown
        client = boto3.client("s3", endpoint_url=proxy.url)
        ...
        assert proxy.faults_served == 2

Because the Host header is passed through unchanged, request signatures stay valid.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Fault:
    """An S3 error answer: HTTP status, error code and message."""

    status: int
    code: str
    message: str

    def body(self) -> bytes:
        """The S3 XML error document."""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{self.message}</Message>"
            "<RequestId>FAULTPROXY</RequestId></Error>"
        ).encode()


SLOW_DOWN = Fault(503, "SlowDown", "Please reduce your request rate.")
INTERNAL_ERROR = Fault(500, "InternalError", "We encountered an internal error. Please try again.")

_HOP_BY_HOP = {
    "connection",
    "expect",  # the proxy answers 100-continue itself and sends the body in one go
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


class FaultProxy:
    """A threaded HTTP proxy in front of one upstream server that can answer requests with S3 errors.

    Attributes:
        upstream: The upstream server's base URL.
        requests: ``(method, path)`` of every request received, faulted or not, in order.
        faults_served: How many requests were answered with a fault.

    """

    def __init__(self, upstream: str) -> None:
        """Start the proxy on a free port of 127.0.0.1.

        Args:
            upstream: The base URL of the server to forward to, such as ``http://127.0.0.1:5000``.

        """
        parts = urlsplit(upstream)
        self.upstream = upstream
        self._upstream_host = parts.hostname or "127.0.0.1"
        self._upstream_port = parts.port or 80
        self.requests: list[tuple[str, str]] = []
        self.faults_served = 0
        self._fault: Fault | None = None
        self._remaining = 0  # faults still to serve; -1 means every request
        self._methods: frozenset[str] = frozenset()  # empty: every method
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fault-proxy", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, count: int, fault: Fault = SLOW_DOWN, methods: Iterable[str] = ()) -> None:
        """Answer the next ``count`` requests with ``fault`` (only those using ``methods``, if given)."""
        with self._lock:
            self._fault, self._remaining, self._methods = fault, count, frozenset(methods)

    def fail_always(self, fault: Fault = SLOW_DOWN, methods: Iterable[str] = ()) -> None:
        """Answer every request (using ``methods``, if given) with ``fault`` until ``heal`` is called."""
        self.fail_next(-1, fault, methods)

    def heal(self) -> None:
        """Forward every request again."""
        self.fail_next(0)

    def reset(self) -> None:
        """Forget the recorded requests and faults, and forward every request again."""
        self.heal()
        with self._lock:
            self.requests.clear()
            self.faults_served = 0

    def _record(self, method: str, path: str) -> Fault | None:
        """Record a request and return the fault to answer it with, if any."""
        with self._lock:
            self.requests.append((method, path))
            if self._fault is None or self._remaining == 0 or (self._methods and method not in self._methods):
                return None
            if self._remaining > 0:
                self._remaining -= 1
            self.faults_served += 1
            return self._fault

    def close(self) -> None:
        """Stop the proxy and wait for its thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as S3 clients expect

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _handle(self) -> None:
            body = self._read_body()
            fault = proxy._record(self.command, self.path)
            if fault is not None:
                payload = fault.body()
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                return
            upstream = http.client.HTTPConnection(proxy._upstream_host, proxy._upstream_port, timeout=60)
            try:
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for key, value in self.headers.items():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        upstream.putheader(key, value)
                if body or self.command in ("PUT", "POST"):
                    upstream.putheader("Content-Length", str(len(body)))
                upstream.endheaders(body or None)
                response = upstream.getresponse()
                answer = response.read()
                self.send_response_only(response.status, response.reason)  # upstream's Date and Server follow
                for key, value in response.getheaders():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                length = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(answer)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)
            finally:
                upstream.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Handler
