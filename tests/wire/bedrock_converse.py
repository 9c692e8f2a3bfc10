"""A local server speaking Amazon Bedrock's ConverseStream (``POST /model/{modelId}/converse-stream``).

The botocore service model of ``bedrock-runtime`` defines the operation (rest-json, the ``stream`` payload) and
its event members: ``messageStart {role}``, ``contentBlockStart {start: {toolUse: {toolUseId, name}},
contentBlockIndex}``, ``contentBlockDelta {delta: {text} | {toolUse: {input}}, contentBlockIndex}``,
``contentBlockStop``, ``messageStop {stopReason}``, ``metadata {usage, metrics}``, and the exception members
(``throttlingException``, ``validationException``, ...) that arrive as exception frames mid-stream. Errors before
the stream are an HTTP status with the ``x-amzn-ErrorType`` header and ``{"message": ...}`` (rest-json errors);
the messages are the ones AWS documents ("Input is too long for requested model.", "The security token
included in the request is invalid.", "Too many requests, please wait before trying again.").
"""

from __future__ import annotations

import json
from typing import Any

from tests.wire.aws_eventstream import event, exception
from tests.wire.http import StreamingHandler
from tests.wire.openai_chat import Reply, sent_piece, split_arguments


def bedrock_error(status: int, code: str, message: str) -> Reply:
    """An error of the rest-json protocol, before any event."""
    return Reply(status=status, error_body={"code": code, "message": message})


def stream_error(exception_type: str, message: str) -> Reply:
    """An answer that starts streaming, then fails with an exception frame."""
    return Reply(text=["Partial "], error_body={"exception": exception_type, "message": message})


def frames_of(reply: Reply) -> list[tuple[bytes, str]]:
    """The event-stream messages of a reply, each with the piece of tool input it carries ("" for others)."""
    frames = [(event("messageStart", {"role": "assistant"}), "")]
    if reply.text:
        frames += [
            (event("contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": 0}), "") for piece in reply.text
        ]
        frames.append((event("contentBlockStop", {"contentBlockIndex": 0}), ""))
    if reply.error_body:
        failure = exception(reply.error_body["exception"], reply.error_body["message"])  # type: ignore[index]
        return [*frames, (failure, "")]
    for offset, (name, arguments) in enumerate(reply.tool_calls, start=1 if reply.text else 0):
        start = {"toolUse": {"toolUseId": f"tooluse_{offset}", "name": name}}
        frames.append((event("contentBlockStart", {"start": start, "contentBlockIndex": offset}), ""))
        for piece in split_arguments(reply, json.dumps(arguments)):
            delta = {"toolUse": {"input": piece}}
            frames.append((event("contentBlockDelta", {"delta": delta, "contentBlockIndex": offset}), piece))
        frames.append((event("contentBlockStop", {"contentBlockIndex": offset}), ""))
    frames.append((event("messageStop", {"stopReason": "tool_use" if reply.tool_calls else "end_turn"}), ""))
    usage = {"inputTokens": 30, "outputTokens": 9, "totalTokens": 39}
    frames.append((event("metadata", {"usage": usage, "metrics": {"latencyMs": 120}}), ""))
    return frames


class ConverseStreamHandler(StreamingHandler):
    """Answers ``POST /model/<id>/converse-stream`` with event-stream frames, or a rest-json error."""

    def do_POST(self) -> None:
        """One ConverseStream request."""
        body: dict[str, Any] = self.read_request()
        answer: Reply = type(self).reply(body)
        if not self.path.endswith("/converse-stream"):
            return self.send_json(
                404, {"message": "Unknown operation"}, {"x-amzn-ErrorType": "UnknownOperationException"}
            )
        if answer.status != 200 and isinstance(answer.error_body, dict):
            code = str(answer.error_body["code"])
            return self.send_json(answer.status, {"message": answer.error_body["message"]}, {"x-amzn-ErrorType": code})
        frames = frames_of(answer)
        # As Bedrock streams: chunked, each frame sent when it is ready.
        self.start_stream("application/vnd.amazon.eventstream", answer.keep_alive)
        sent = ""
        for frame, piece in frames:
            self.send_piece(frame)
            if piece:
                sent += piece
                sent_piece(answer, self.wfile.flush, sent)
        self.end_stream()
