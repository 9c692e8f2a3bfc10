"""What the wire-protocol test servers share: a threaded HTTP server on loopback and JSON request bodies."""

from __future__ import annotations

import json
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
def serve(handler: type[RecordingHandler], reply: Callable[[dict[str, Any]], Any]) -> Iterator[tuple[str, list]]:  # type: ignore[type-arg]
    """Run ``handler`` on a free port of 127.0.0.1: yields ``http://127.0.0.1:<port>`` and the recorded requests."""
    requests: list[dict[str, Any]] = []
    bound = type("Handler", (handler,), {"requests": requests, "reply": staticmethod(reply)})
    with running(bound) as url:
        yield url, requests
