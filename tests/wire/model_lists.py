"""A local server answering the requests that list or look up models, as the real services document them.

- ``GET /v1/models``: OpenAI API reference, "Models: list": ``{"object": "list", "data": [{"id", "object":
  "model", "created", "owned_by"}]}``; a wrong key gets 401 with ``{"error": {"message", "type", "code":
  "invalid_api_key"}}`` (OpenAI API reference, "Error codes"). vLLM, LM Studio and llama.cpp answer the same list.
  Like vLLM, the server has no ``/models`` without ``/v1``: that path gets 404.
- ``GET /api/tags``: Ollama's ``docs/api.md``, "List Local Models": ``{"models": [{"name", "model",
  "modified_at", "size", "digest", "details"}]}``, names with their tag (``llama3.1:latest``).
- ``GET /v1/models/{model_id}``: Anthropic API reference, "Get a Model": ``{"type": "model", "id",
  "display_name", "created_at"}``; the key comes as ``x-api-key`` (the API reference) or as
  ``Authorization: Bearer`` (what the ``anthropic`` package 2.x sends); an unknown id gets 404 and a wrong key 401,
  both with
  ``{"type": "error", "error": {"type": "not_found_error" | "authentication_error", "message"}}``
  (Anthropic API reference, "Errors").
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.wire.http import running


class ModelListHandler(BaseHTTPRequestHandler):
    """Answers the model list and lookup requests of OpenAI-compatible servers, Ollama and Anthropic."""

    models: list[str]
    api_key: str
    delay: float
    paths: list[str]
    web_page: bool

    def do_GET(self) -> None:
        """One list or lookup request."""
        self.paths.append(self.path)
        time.sleep(type(self).delay)
        if self.web_page:
            return self._page()
        if self.path == "/v1/models":
            return self._openai_list()
        if self.path == "/api/tags":
            return self._json(200, {"models": [_ollama_model(name) for name in self.models]})
        if self.path.startswith("/v1/models/"):
            return self._anthropic_model(self.path.removeprefix("/v1/models/"))
        self._json(404, {"error": {"code": 404, "message": "Not Found", "type": "not_found_error"}})

    def _openai_list(self) -> None:
        if self.api_key and self.headers.get("Authorization") != f"Bearer {self.api_key}":
            error = {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
            return self._json(401, {"error": error})
        data = [{"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "local"} for name in self.models]
        self._json(200, {"object": "list", "data": data})

    def _anthropic_model(self, model_id: str) -> None:
        keys = (self.headers.get("x-api-key"), self.headers.get("Authorization", "").removeprefix("Bearer "))
        if self.api_key and self.api_key not in keys:
            return self._anthropic_error(401, "authentication_error", "invalid x-api-key")
        if model_id not in self.models:
            return self._anthropic_error(404, "not_found_error", f"model: {model_id}")
        model = {"type": "model", "id": model_id, "display_name": model_id, "created_at": "2026-02-04T00:00:00Z"}
        self._json(200, model)

    def _page(self) -> None:
        """What any web server (not a model API) answers: 200 with an HTML page."""
        data = b"<!doctype html><html><body><h1>Welcome</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _anthropic_error(self, status: int, kind: str, message: str) -> None:
        self._json(status, {"type": "error", "error": {"type": kind, "message": message}})

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client stopped waiting (a timeout test)
            pass

    def log_message(self, *args: Any) -> None:
        """Keep the test output quiet."""


def _ollama_model(name: str) -> dict[str, Any]:
    details = {"format": "gguf", "family": "llama", "parameter_size": "8.0B", "quantization_level": "Q4_0"}
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-11-01T10:00:00.000000+00:00",
        "size": 4_661_224_676,
        "digest": "0" * 64,
        "details": details,
    }


@contextmanager
def model_list_server(
    models: list[str], api_key: str = "", delay: float = 0.0, web_page: bool = False
) -> Iterator[tuple[str, list[str]]]:
    """A running server offering ``models``: its root URL (``http://127.0.0.1:<port>``) and the paths requested.

    Args:
        models: The model names it lists (Ollama names with their tag, e.g. ``llama3.1:latest``).
        api_key: The key OpenAI and Anthropic requests must carry (none when empty).
        delay: Seconds it waits before each answer (a server that does not answer in time).
        web_page: Answer every request with an HTML page instead (a web server that is no model API).

    """
    paths: list[str] = []
    attributes = {"models": models, "api_key": api_key, "delay": delay, "paths": paths, "web_page": web_page}
    with running(type("Handler", (ModelListHandler,), attributes)) as url:
        yield url, paths
