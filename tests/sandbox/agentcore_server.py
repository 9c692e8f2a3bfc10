"""AgentCore's data plane over real HTTP: the fake's answers as the bytes the service sends, for the real client.

The real ``boto3`` client of ``bedrock-agentcore`` (and so ``CodeInterpreter``) talks to this server through
``endpoint_url``. Requests and answers follow botocore's service model for ``bedrock-agentcore`` (protocol
rest-json): each operation's method and ``requestUri``, members in the URI, the query string, headers or the JSON
body, blobs as base64 and timestamps as ISO 8601 in JSON. ``InvokeCodeInterpreter`` answers with the
``x-amzn-code-interpreter-session-id`` header and an ``application/vnd.amazon.eventstream`` body: each ``result``
is an event frame (``:event-type: result``, the ``CodeInterpreterResult`` structure as JSON), each error member of
the stream (``throttlingException``, ``accessDeniedException``, ...) an exception frame carrying the modeled
exception (a ``validationException`` with its ``reason``), which botocore raises as ``EventStreamError``. Errors
before the stream are the HTTP status of the modeled error with the ``x-amzn-ErrorType`` header and the error
shape's members as JSON (``message``; a ValidationException's ``reason`` and ``fieldList``). What the results
contain comes from the fake (``tests/sandbox/agentcore_fake.py``), whose docstring says what remains unverified
without AWS.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import urllib.parse
from contextlib import AbstractContextManager
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import ListShape, OperationModel, Shape, StructureShape

from tests.sandbox.agentcore_fake import FakeAgentCoreDataPlane
from tests.wire.aws_eventstream import event, frame
from tests.wire.http import RecordingHandler, running

METHODS = {
    "StartCodeInterpreterSession": "start_code_interpreter_session",
    "GetCodeInterpreterSession": "get_code_interpreter_session",
    "StopCodeInterpreterSession": "stop_code_interpreter_session",
    "InvokeCodeInterpreter": "invoke_code_interpreter",
}


def _route(fake: FakeAgentCoreDataPlane, method: str, path: str) -> tuple[OperationModel, dict[str, str]] | None:
    """The operation whose method and URI template match, with the URI's members."""
    for name in METHODS:
        operation = fake.model.operation_model(name)
        template = operation.http["requestUri"].split("?")[0]
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        match = re.fullmatch(pattern, path)
        if operation.http["method"] == method and match:
            return operation, {key: urllib.parse.unquote(value) for key, value in match.groupdict().items()}
    return None


def _decode(value: Any, shape: Shape) -> Any:
    """JSON as the rest-json serializer wrote it, back to Python values (blobs to bytes)."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {k: _decode(v, shape.members[k]) if k in shape.members else v for k, v in value.items()}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_decode(item, shape.member) for item in value]
    return base64.b64decode(value) if shape.type_name == "blob" and isinstance(value, str) else value


def _encode(value: Any) -> Any:
    """Python values as rest-json writes them: bytes as base64, timestamps as ISO 8601."""
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


def _exception(name: str, payload: dict[str, Any]) -> bytes:
    """An exception frame: the stream's member ``name`` with the whole modeled exception as its payload."""
    headers = {":exception-type": name, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, json.dumps(payload).encode())


class DataPlaneHandler(RecordingHandler):
    """One request of the data plane, answered by the fake."""

    fake: FakeAgentCoreDataPlane

    def do_GET(self) -> None:
        """GetCodeInterpreterSession."""
        self._handle()

    def do_PUT(self) -> None:
        """Start and stop a session."""
        self._handle()

    def do_POST(self) -> None:
        """InvokeCodeInterpreter."""
        self._handle()

    def _handle(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        route = _route(self.fake, self.command, url.path)
        if route is None:
            return self.send_json(
                404, {"message": "Unknown operation"}, {"x-amzn-ErrorType": "UnknownOperationException"}
            )
        operation, params = route
        params.update(self._members(operation, url.query))
        try:
            answer = getattr(self.fake, METHODS[operation.name])(**params)
        except ClientError as error:
            # The operation's error shapes (ValidationException: message, reason from ValidationExceptionReason,
            # fieldList of ValidationExceptionField; ConflictException, ResourceNotFoundException,
            # ThrottlingException, ...: message), with the modeled httpStatusCode and x-amzn-ErrorType.
            details = error.response.get("Error", {})
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
            headers = {"x-amzn-ErrorType": str(details.get("Code"))}
            members = {key: value for key, value in error.response.items() if key in ("reason", "fieldList")}
            return self.send_json(status, {"message": details.get("Message", ""), **members}, headers)
        except ParamValidationError as error:  # types, required members, unions: ValidationException CannotParse
            body = {"message": str(error), "reason": "CannotParse"}
            return self.send_json(400, body, {"x-amzn-ErrorType": "ValidationException"})
        if operation.name == "InvokeCodeInterpreter":
            return self._stream(answer)  # InvokeCodeInterpreterResponse: the CodeInterpreterStreamOutput event stream
        # StartCodeInterpreterSessionResponse, GetCodeInterpreterSessionResponse, StopCodeInterpreterSessionResponse
        self.send_json(200, _encode(answer))

    def _members(self, operation: OperationModel, query: str) -> dict[str, Any]:
        """The input members found in the query string, the headers and the JSON body."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw) if raw else {}
        self.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
        found = dict(urllib.parse.parse_qsl(query))
        params: dict[str, Any] = {}
        for name, member in operation.input_shape.members.items():
            location, wire_name = member.serialization.get("location"), member.serialization.get("name", name)
            if location == "querystring" and wire_name in found:
                params[name] = found[wire_name]
            elif location == "header" and self.headers.get(wire_name) is not None:
                params[name] = self.headers[wire_name]
            elif location is None and name in body:
                params[name] = _decode(body[name], member)
        return params

    def _stream(self, answer: dict[str, Any]) -> None:
        frames = []
        for item in answer["stream"]:
            ((name, payload),) = item.items()
            frames.append(event(name, _encode(payload)) if name == "result" else _exception(name, payload))
        data = b"".join(frames)
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("x-amzn-code-interpreter-session-id", answer["sessionId"])
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve_data_plane(fake: FakeAgentCoreDataPlane) -> AbstractContextManager[str]:
    """The data plane of ``fake`` on a free port of 127.0.0.1 while the block runs; it yields the endpoint URL."""
    handler = type("Handler", (DataPlaneHandler,), {"fake": fake, "requests": [], "reply": staticmethod(lambda b: b)})
    return running(handler)
