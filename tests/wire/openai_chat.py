"""A local server speaking OpenAI's Chat Completions streaming protocol, with the quirks of real servers.

Wire format (``POST /v1/chat/completions`` with ``"stream": true``): ``text/event-stream`` of ``data: <chunk>``
lines, each a ``chat.completion.chunk`` whose ``choices[0].delta`` carries ``content`` or ``tool_calls`` pieces,
a last choice with ``finish_reason``, an optional usage chunk (when ``stream_options.include_usage``), then
``data: [DONE]`` (OpenAI API reference, "Chat Completions: streaming"). Only the first delta names the ``role``:
``{"role": "assistant", "content": null}`` in a chunk of its own (llama.cpp's ``tools/server/server-task.cpp``,
"We have to send an initial update to conform to openai behavior"; OpenAI's reference example sends
``{"role": "assistant", "content": ""}``); the content and tool-call deltas after it carry no role.

Errors before the stream are JSON bodies ``{"error": {"code", "message", "type"}}`` with the HTTP status of
``code``: the shape of llama.cpp's ``format_error_response`` (``tools/server/server-common.cpp``), whose context
overflow is type ``exceed_context_size_error`` with ``n_prompt_tokens`` and ``n_ctx``
(``tools/server/server-context.cpp``). An error after the stream began (a failed decode: "Compute error.",
``server_error``) is one more event, ``data: {"error": {"code", "message", "type"}}``, and the stream ends there
without ``[DONE]`` (``server-context.cpp``: ``format_oai_sse(json {{ "error", res_json }})``, "error received
during streaming, terminating stream"); the ``openai`` package raises ``APIError`` for it.

The stream is chunked on a kept-alive HTTP/1.1 connection, as llama.cpp's cpp-httplib, uvicorn (vLLM,
llama-cpp-python) and OpenAI send it, or (``Reply.keep_alive`` off) a body ended by closing the connection.

A test gives the server a ``reply`` function: it sees each request body and returns a :class:`Reply`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.wire.http import StreamingHandler, serve


@dataclass
class Reply:
    """One answer: streamed text and tool calls, or an HTTP error with a JSON body."""

    text: list[str] = field(default_factory=list)
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    """(name, arguments): arguments as an object, or as raw text (e.g. cut short by the token limit)."""
    arguments_in_pieces: bool = True
    pieces: int = 2
    """How many pieces a tool call's arguments are streamed in (OpenAI, Anthropic and Bedrock split them)."""
    after_piece: Callable[[str], None] | None = None
    """Called, once the piece is sent, with a call's arguments sent so far (a test waits there for the client)."""
    finish_reason: str = ""
    """Overrides the finish reason ("length": the token limit cut the answer)."""
    before_chunk: Callable[[int], None] | None = None
    """Called with each chunk's number before it is sent (a test holds the answer there); the chunk that opens
    every answer with its role goes out with the headers and is not counted."""
    usage: dict[str, int] | None = None
    """The usage chunk's counts (``prompt_tokens``, ``completion_tokens``, ``total_tokens``) when asked for."""
    status: int = 200
    error_body: dict[str, Any] | str | None = None
    """With a ``status`` other than 200: the error answer's body. With 200: the error the stream fails with after
    its text (each server sends it in its own protocol's way)."""
    keep_alive: bool = True
    """Stream chunked on a connection kept for the next request (every real service); False: close it instead."""
    delay: float = 0.0
    """Seconds between two chunks (a slow model)."""
    silence: float = 0.0
    """Seconds before the response starts (a server still reading a long prompt)."""


def text(*pieces: str) -> Reply:
    """A streamed text answer."""
    return Reply(text=list(pieces))


def tool_call(name: str, arguments: dict[str, Any], in_pieces: bool = True, **options: Any) -> Reply:
    """One tool call; its arguments split over chunks (OpenAI, vLLM) or whole in one chunk (llama.cpp, Ollama)."""
    return Reply(tool_calls=[(name, arguments)], arguments_in_pieces=in_pieces, **options)


def split_arguments(reply: Reply, encoded: str) -> list[str]:
    """A call's encoded arguments in the reply's number of pieces (one piece when it sends them whole)."""
    count = reply.pieces if reply.arguments_in_pieces else 1
    size = -(-len(encoded) // count)
    return [encoded[start : start + size] for start in range(0, len(encoded), size)] or [""]


def sent_piece(reply: Reply, flush: Callable[[], None], sent: str) -> None:
    """After an argument piece went out: flush it and let the test wait (``sent``: the arguments so far)."""
    if reply.after_piece is not None:
        flush()
        reply.after_piece(sent)


def llama_cpp_error(status: int, message: str, kind: str, **extra: Any) -> Reply:
    """An error as llama.cpp's server sends it."""
    return Reply(status=status, error_body={"error": {"code": status, "message": message, "type": kind, **extra}})


def context_overflow(prompt_tokens: int, n_ctx: int) -> Reply:
    """llama.cpp's answer to a prompt longer than its context (``server-context.cpp``, verbatim wording)."""
    message = f"request ({prompt_tokens} tokens) exceeds the available context size ({n_ctx} tokens), try increasing it"
    return llama_cpp_error(400, message, "exceed_context_size_error", n_prompt_tokens=prompt_tokens, n_ctx=n_ctx)


def llama_cpp_stream_error(message: str, kind: str = "server_error", code: int = 500) -> Reply:
    """An answer that starts streaming, then fails as llama.cpp's server fails mid-stream (``server-context.cpp``).

    Its decode loop sends "Compute error.", "Invalid input batch." or "Context size has been exceeded." with type
    ``server_error`` and code 500 to every running request.
    """
    return Reply(text=["Partial "], error_body={"code": code, "message": message, "type": kind})


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-wire",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "wire-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _tool_chunks(reply: Reply) -> list[dict[str, Any]]:
    chunks = []
    for index, (name, arguments) in enumerate(reply.tool_calls):
        encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
        pieces = split_arguments(reply, encoded) if reply.arguments_in_pieces else []
        start = {"index": index, "id": f"call_{index}", "type": "function", "function": {"name": name}}
        start["function"]["arguments"] = "" if pieces else encoded
        chunks.append(_chunk({"tool_calls": [start]}))
        chunks += [_chunk({"tool_calls": [{"index": index, "function": {"arguments": p}}]}) for p in pieces]
    return chunks


ROLE_CHUNK = _chunk({"role": "assistant", "content": None})
"""The chunk that opens every answer, the only one that names the role (llama.cpp's ``server-task.cpp``)."""


def chunks_of(reply: Reply) -> list[dict[str, Any]]:
    """The stream chunks of a reply after its opening role chunk: the finish reason last, or the error event."""
    chunks = [_chunk({"content": piece}) for piece in reply.text]
    chunks += _tool_chunks(reply)
    if reply.error_body is not None:  # failed mid-stream: the error event ends the stream, no finish reason
        return [*chunks, {"error": reply.error_body}]
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    chunks.append(_chunk({}, finish_reason=finish))
    return chunks


class ChatCompletionsHandler(StreamingHandler):
    """Answers ``POST /v1/chat/completions`` with what ``reply`` returns; records every request."""

    def do_POST(self) -> None:
        """One chat completion request."""
        body = self.read_request()
        self.requests[-1]["authorization"] = self.headers.get("Authorization")
        if self.path != "/v1/chat/completions":
            return self.send_json(404, {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}})
        answer = type(self).reply(body)
        time.sleep(answer.silence)
        if answer.status != 200:
            return self.send_json(answer.status, answer.error_body)
        self._stream(answer, body)

    def _stream(self, answer: Reply, body: dict[str, Any]) -> None:
        self.start_stream("text/event-stream", answer.keep_alive)
        self.send_piece(_event(ROLE_CHUNK))
        chunks = chunks_of(answer)
        if (body.get("stream_options") or {}).get("include_usage") and answer.error_body is None:
            usage = answer.usage or {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59}
            chunks.append({**_chunk({}), "choices": [], "usage": usage})
        sent = ""
        for number, chunk in enumerate(chunks):
            if answer.before_chunk is not None:
                self.wfile.flush()
                answer.before_chunk(number)
            self.send_piece(_event(chunk))
            for call in (chunk.get("choices") or [{}])[0].get("delta", {}).get("tool_calls", []):
                if piece := call["function"].get("arguments"):
                    sent += piece
                    sent_piece(answer, self.wfile.flush, sent)
            if answer.delay:
                self.wfile.flush()
                time.sleep(answer.delay)
        if answer.error_body is None:
            self.send_piece(b"data: [DONE]\n\n")
        self.end_stream()


def _event(chunk: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(chunk)}\n\n".encode()


@contextmanager
def chat_completions_server(
    reply: Callable[[dict[str, Any]], Reply],
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A running server: its base URL (``.../v1``) and the list of requests it received."""
    with serve(ChatCompletionsHandler, reply) as (root, requests):
        yield f"{root}/v1", requests
