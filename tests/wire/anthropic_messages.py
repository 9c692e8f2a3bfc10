"""A local server speaking Anthropic's Messages API with streaming (``POST /v1/messages``, server-sent events).

Event sequence and shapes from Anthropic's documentation, "Streaming Messages": ``message_start`` (the message
with empty content and usage), per content block ``content_block_start`` (``text`` or ``tool_use`` with ``id``,
``name``, ``input: {}``), ``content_block_delta`` (``text_delta`` or ``input_json_delta`` with
``partial_json``), ``content_block_stop``, then ``message_delta`` (``stop_reason``, usage) and
``message_stop``; ``ping`` events may come anywhere. Errors ("Errors" page): HTTP status with
``{"type": "error", "error": {"type": "rate_limit_error" | "authentication_error" | "invalid_request_error" |
"overloaded_error", "message": ...}}``; a prompt over the context is ``invalid_request_error`` "prompt is too
long: N tokens > M maximum".
"""

from __future__ import annotations

import json
from typing import Any

from tests.wire.http import StreamingHandler
from tests.wire.openai_chat import Reply, sent_piece, split_arguments

ERROR_STATUS = {
    "invalid_request_error": 400, "authentication_error": 401, "permission_error": 403, "not_found_error": 404,
    "rate_limit_error": 429, "api_error": 500, "overloaded_error": 529,
}  # fmt: skip
"""The HTTP status of each error type (Anthropic API reference, "Errors")."""


def _error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_wire"}


def anthropic_error(kind: str, message: str) -> Reply:
    """An error answer of the Messages API, with the status of its type (529 for ``overloaded_error``)."""
    return Reply(status=ERROR_STATUS.get(kind, 500), error_body=_error_body(kind, message))


def anthropic_stream_error(kind: str = "overloaded_error", message: str = "Overloaded") -> Reply:
    """An answer that starts streaming (HTTP 200), then fails with an ``error`` event."""
    return Reply(text=["Partial "], error_body=_error_body(kind, message))


def events_of(reply: Reply) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a streamed reply; one that fails ends with the ``error`` event."""
    message = {"id": "msg_wire", "type": "message", "role": "assistant", "model": "claude-wire", "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 25, "output_tokens": 1},
               }  # fmt: skip
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": message})]
    events.append(("ping", {"type": "ping"}))
    index = 0
    if reply.text:
        events.append(_start(index, {"type": "text", "text": ""}))
        events += [_delta(index, {"type": "text_delta", "text": piece}) for piece in reply.text]
    if isinstance(reply.error_body, dict):  # failed mid-stream: the error event ends it, in the open block
        return [*events, ("error", reply.error_body)]
    if reply.text:
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    for number, (name, arguments) in enumerate(reply.tool_calls):
        events.append(_start(index, {"type": "tool_use", "id": f"toolu_{number}", "name": name, "input": {}}))
        for piece in split_arguments(reply, json.dumps(arguments)):
            events.append(_delta(index, {"type": "input_json_delta", "partial_json": piece}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    stop = "tool_use" if reply.tool_calls else "end_turn"
    delta = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}}
    events.append(("message_delta", {**delta, "usage": {"output_tokens": 15}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


class MessagesHandler(StreamingHandler):
    """Answers ``POST /v1/messages`` (``stream: true``) with the reply's events, or its error."""

    def do_POST(self) -> None:
        """One Messages request."""
        body = self.read_request()
        answer: Reply = type(self).reply(body)
        if answer.status != 200:
            return self.send_json(answer.status, answer.error_body, {"retry-after-ms": "10"})
        self.start_stream("text/event-stream", answer.keep_alive)
        sent = ""
        for event, data in events_of(answer):
            self.send_piece(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
            if piece := data.get("delta", {}).get("partial_json"):
                sent += piece
                sent_piece(answer, self.wfile.flush, sent)
        self.end_stream()
