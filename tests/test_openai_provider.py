"""The OpenAI-compatible provider, end to end, against a real local server speaking the streaming protocol."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from strands import Agent

from core.models import ModelChoice, build_model, explain_model_error
from core.session import Session

TOOL_CALL_ARGUMENTS = json.dumps({"code": "print(6 * 7)"})
ANSWER_PIECES = ["The ans", "wer is ", "42."]


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _tool_call_chunks() -> list[dict[str, Any]]:
    """A call to execute_code, its arguments split over several chunks as real endpoints do."""
    start = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "execute_code", "arguments": ""}}
    middle = len(TOOL_CALL_ARGUMENTS) // 2
    return [
        _chunk({"role": "assistant", "content": None, "tool_calls": [start]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": TOOL_CALL_ARGUMENTS[:middle]}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": TOOL_CALL_ARGUMENTS[middle:]}}]}),
        _chunk({}, finish_reason="tool_calls"),
    ]


def _text_chunks() -> list[dict[str, Any]]:
    first, *rest = ANSWER_PIECES
    return [
        _chunk({"role": "assistant", "content": first}),
        *(_chunk({"content": piece}) for piece in rest),
        _chunk({}, finish_reason="stop"),
    ]


class ChatCompletions(BaseHTTPRequestHandler):
    """Replays a tool call, then (once the tool result is back) a text answer. Records every request."""

    requests: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append({"path": self.path, "body": body, "authorization": self.headers.get("Authorization")})
        if self.path != "/v1/chat/completions" or not body.get("stream"):
            self.send_response(404)
            self.end_headers()
            return
        chunks = _tool_call_chunks() if len(self.requests) == 1 else _text_chunks()
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59}
            chunks.append({**_chunk({}), "choices": [], "usage": usage})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def log_message(self, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local chat-completions server: its base URL and the requests it received."""
    requests: list[dict[str, Any]] = []
    handler = type("Handler", (ChatCompletions,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", requests
    server.shutdown()
    server.server_close()
    thread.join()


def test_agent_runs_code_through_an_openai_compatible_endpoint(
    session: Session, endpoint: tuple[str, list[dict[str, Any]]]
) -> None:
    base_url, requests = endpoint
    model = build_model(ModelChoice(provider="openai", base_url=base_url, model_id="test-model", api_key="k"))
    agent = Agent(model=model, tools=session.tools, callback_handler=None)

    answer = agent("What is 6*7?")

    assert str(answer).strip() == "The answer is 42."
    # The sandbox really ran the code the endpoint asked for.
    assert [(record.tool, record.input["code"], record.status) for record in session.history] == [
        ("execute_code", "print(6 * 7)", "success")
    ]
    assert session.history[0].result is not None
    assert session.history[0].result.stdout.strip() == "42"
    # What the endpoint saw: the question, the tools, the key, and then the tool's result.
    assert [r["path"] for r in requests] == ["/v1/chat/completions"] * 2
    first, second = (r["body"] for r in requests)
    assert first["model"] == "test-model"
    assert first["messages"][-1]["role"] == "user"
    assert "What is 6*7?" in json.dumps(first["messages"][-1]["content"])
    assert "execute_code" in {tool["function"]["name"] for tool in first["tools"]}
    assert requests[0]["authorization"] == "Bearer k"
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 1
    assert tool_messages[0]["tool_call_id"] == "call_1"
    assert "42" in json.dumps(tool_messages[0]["content"])


def test_an_unreachable_endpoint_is_explained_in_plain_words(session: Session) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    choice = ModelChoice(provider="openai", base_url=f"http://127.0.0.1:{port}/v1", model_id="test-model")
    agent = Agent(model=build_model(choice), tools=session.tools, callback_handler=None)

    with pytest.raises(Exception) as caught:
        agent("What is 6*7?")

    text = explain_model_error(caught.value)
    assert "cannot be reached" in text
    assert f"127.0.0.1:{port}" in text
    assert "Traceback" not in text
    assert list(session.history) == []
