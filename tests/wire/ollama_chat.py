"""A local server speaking Ollama's ``POST /api/chat`` with streaming: newline-delimited JSON.

Shapes from Ollama's API documentation (``docs/api.md``, "Generate a chat completion"): each line is
``{"model", "created_at", "message": {"role": "assistant", "content": <piece>}, "done": false}``; a tool call
comes whole as ``message.tool_calls: [{"function": {"name", "arguments": {...}}}]``; the last line has
``"done": true``, ``done_reason`` and the counts (``prompt_eval_count``, ``eval_count``, durations in ns).
Errors are an HTTP status with ``{"error": "<text>"}``, e.g. 404 ``model "x" not found, try pulling it first``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.wire.http import RecordingHandler
from tests.wire.openai_chat import Reply

CREATED = "2026-12-01T12:00:00.000000Z"


def ollama_error(status: int, message: str) -> Reply:
    """An error answer of Ollama's API."""
    return Reply(status=status, error_body={"error": message})


def lines_of(reply: Reply, model: str) -> list[dict[str, Any]]:
    """The NDJSON lines of a streamed reply."""
    lines = [
        {"model": model, "created_at": CREATED, "message": {"role": "assistant", "content": piece}, "done": False}
        for piece in reply.text
    ]
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


class ChatHandler(RecordingHandler):
    """Answers ``POST /api/chat`` with the reply's lines, or its error."""

    def do_POST(self) -> None:
        """One chat request."""
        body = self.read_request()
        answer: Reply = type(self).reply(body)
        if self.path != "/api/chat":
            return self.send_json(404, {"error": "404 page not found"})
        if answer.status != 200:
            return self.send_json(answer.status, answer.error_body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        for line in lines_of(answer, str(body.get("model", ""))):
            self.wfile.write((json.dumps(line) + "\n").encode())
        self.wfile.flush()
