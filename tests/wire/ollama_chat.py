"""A local server speaking Ollama's ``POST /api/chat`` with streaming: newline-delimited JSON.

Shapes from Ollama's API documentation (``docs/api.md``, "Generate a chat completion"): each line is
``{"model", "created_at", "message": {"role": "assistant", "content": <piece>}, "done": false}``; a tool call
comes whole as ``message.tool_calls: [{"function": {"name", "arguments": {...}}}]``; the last line has
``"done": true``, ``done_reason`` and the counts (``prompt_eval_count``, ``eval_count``, durations in ns).
Errors are an HTTP status with ``{"error": "<text>"}``, e.g. 404 ``model "x" not found, try pulling it first``.
An error after the first line (the runner failed mid-answer) is one more line ``{"error": "<text>"}`` and the
stream ends there: Ollama's ``server/routes.go`` ``streamResponse`` encodes ``gin.H{"error": e}`` once the
writer has written, and its API documentation shows ``{"error":"an error was encountered while running the
model"}`` after the streamed lines; the ``ollama`` package raises ``ResponseError`` for it (no status code). The
stream is chunked on a kept-alive HTTP/1.1 connection (gin's ``c.Stream``).
"""

from __future__ import annotations

import json
from typing import Any

from tests.wire.http import StreamingHandler
from tests.wire.openai_chat import Reply

CREATED = "2026-12-01T12:00:00.000000Z"


def ollama_error(status: int, message: str) -> Reply:
    """An error answer of Ollama's API."""
    return Reply(status=status, error_body={"error": message})


def ollama_stream_error(message: str = "an error was encountered while running the model") -> Reply:
    """An answer that starts streaming, then fails with an error line."""
    return Reply(text=["Partial "], error_body={"error": message})


def lines_of(reply: Reply, model: str) -> list[dict[str, Any]]:
    """The NDJSON lines of a streamed reply; one that fails ends with the error line."""
    lines = [
        {"model": model, "created_at": CREATED, "message": {"role": "assistant", "content": piece}, "done": False}
        for piece in reply.text
    ]
    if isinstance(reply.error_body, dict):
        return [*lines, reply.error_body]
    if reply.tool_calls:
        calls = [{"function": {"name": name, "arguments": arguments}} for name, arguments in reply.tool_calls]
        message = {"role": "assistant", "content": "", "tool_calls": calls}
        lines.append({"model": model, "created_at": CREATED, "message": message, "done": False})
    last = {"role": "assistant", "content": ""}
    counts = {"total_duration": 5_000_000, "load_duration": 1_000, "prompt_eval_count": 26,
              "prompt_eval_duration": 1_000_000, "eval_count": 12, "eval_duration": 2_000_000}  # fmt: skip
    done = {"done": True, "done_reason": "stop", **counts}
    lines.append({"model": model, "created_at": CREATED, "message": last, **done})
    return lines


class ChatHandler(StreamingHandler):
    """Answers ``POST /api/chat`` with the reply's lines, or its error."""

    def do_POST(self) -> None:
        """One chat request."""
        body = self.read_request()
        answer: Reply = type(self).reply(body)
        if self.path != "/api/chat":
            return self.send_json(404, {"error": "404 page not found"})
        if answer.status != 200:
            return self.send_json(answer.status, answer.error_body)
        self.start_stream("application/x-ndjson", answer.keep_alive)
        for line in lines_of(answer, str(body.get("model", ""))):
            self.send_piece((json.dumps(line) + "\n").encode())
        self.end_stream()
