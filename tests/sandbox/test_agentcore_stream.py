"""The AgentCore stream parser (``core/sandbox/agentcore/stream.py``) on streams as botocore yields them.

Each stream is a list of events shaped by the service model (``CodeInterpreterStreamOutput``): ``result`` events
(``CodeInterpreterResult``) and exception members. The text-only stream is the form of AWS's documented examples,
which read nothing but the ``text`` blocks of each ``result``; the multi-event streams are what an event stream
may carry (``structuredContent`` pieces and content blocks spread over several events); the error streams are the
modeled exception events and ``isError`` results.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import AccessDenied, CloudRequestInvalid, Throttled
from core.sandbox.agentcore.stream import (
    StreamException,
    cloud_error,
    execution_result,
    file_infos,
    parse_stream,
)
from core.types import IMAGE_PNG, TABLE_JSON

PNG = b"\x89PNG\r\n\x1a\n-not-a-real-image"


def text_block(text: str) -> dict[str, Any]:
    """A ``text`` ContentBlock."""
    return {"type": "text", "text": text}


def resource_block(mime_type: str, text: str) -> dict[str, Any]:
    """A ``resource`` ContentBlock holding text of a MIME type."""
    return {"type": "resource", "resource": {"type": "text", "uri": "output://0", "mimeType": mime_type, "text": text}}


def result(*content: dict[str, Any], structured: dict[str, Any] | None = None, **rest: Any) -> dict[str, Any]:
    """One ``result`` event of the stream."""
    body: dict[str, Any] = {"content": list(content), **rest}
    if structured is not None:
        body["structuredContent"] = structured
    return {"result": body}


def run(stream: list[dict[str, Any]], language: str | None = "python") -> Any:
    """The execution result the app makes of ``stream`` (``language`` ``None``: a shell command)."""
    return execution_result(parse_stream(stream), language=language, limit=100_000, duration=0.1)


# -- text only ---------------------------------------------------------------------------------------------


def test_text_only_result_is_the_output() -> None:
    """The documented minimum: ``content`` is the one required member; print output arrives as text."""
    parsed = parse_stream([result(text_block("Hello, world!\n"))])
    assert (parsed.stdout, parsed.text, parsed.exit_code, parsed.is_error) == (None, "Hello, world!\n", None, False)
    executed = run([result(text_block("Hello, world!\n"))])
    assert executed.stdout == "Hello, world!\n" and executed.error is None and executed.ok
    command = run([result(text_block("a.txt\n"))], language=None)
    assert (command.stdout, command.exit_code) == ("a.txt\n", 0)


def test_text_only_lines_over_several_events_are_not_doubled() -> None:
    """Lines that arrive as text blocks of several events keep their line ends, with no blank line between."""
    stream = [result(text_block("first\n")), result(text_block("second\n"))]
    assert run(stream).stdout == "first\nsecond\n"


def test_text_only_error_becomes_an_execution_error() -> None:
    traceback = "Traceback (most recent call last):\n  File \"<stdin>\", line 1\nNameError: name 'x' is not defined"
    executed = run([result(text_block(traceback), isError=True)])
    assert executed.error is not None
    assert (executed.error.name, executed.error.value) == ("NameError", "name 'x' is not defined")
    assert executed.stdout == "" and not executed.ok


# -- several events ----------------------------------------------------------------------------------------


def test_structured_pieces_over_several_events_are_joined_in_order() -> None:
    stream = [
        result(structured={"stdout": "line 1\nli"}),
        result(structured={"stdout": "ne 2\n"}),
        result(structured={"stderr": "warn"}),
        result(text_block("line 1\nline 2\n"), structured={"exitCode": 0, "executionTime": 12.5}, isError=False),
    ]
    parsed = parse_stream(stream)
    assert (parsed.stdout, parsed.stderr, parsed.exit_code, parsed.execution_ms) == (
        "line 1\nline 2\n",
        "warn",
        0,
        12.5,
    )
    executed = run(stream)
    assert (executed.stdout, executed.stderr, executed.error) == ("line 1\nline 2\n", "warn", None)


def test_content_blocks_of_several_events_are_all_kept() -> None:
    """Blocks in events of their own and several in one event."""
    table = '{"schema": {"fields": [{"name": "n"}]}, "data": [{"n": 1}]}'
    stream = [
        result(structured={"stdout": "done\n"}),
        result({"type": "image", "data": PNG, "mimeType": IMAGE_PNG}, resource_block("text/html", "<b>x</b>")),
        result(resource_block(TABLE_JSON, table), structured={"exitCode": 0}, isError=False),
    ]
    executed = run(stream)
    assert executed.stdout == "done\n"
    outputs = executed.rich_outputs
    assert [o.mime_type for o in outputs] == [IMAGE_PNG, "text/html", TABLE_JSON]
    assert outputs[0].data == PNG and outputs[1].data == "<b>x</b>"
    assert outputs[2].data == {"schema": {"fields": [{"name": "n"}]}, "data": [{"n": 1}]}


def test_an_error_flag_on_any_event_makes_the_result_an_error() -> None:
    stream = [
        result(structured={"stdout": "before\n"}),
        result(text_block("ValueError: bad input"), isError=True),
        result(structured={"exitCode": 1, "executionTime": 3.0}),
    ]
    executed = run(stream)
    assert executed.stdout == "before\n"
    assert executed.error is not None and (executed.error.name, executed.error.value) == ("ValueError", "bad input")


def test_command_exit_code_comes_from_the_last_event_that_has_one() -> None:
    stream = [
        result(structured={"stdout": "out\n"}),
        result(structured={"stderr": "err\n"}),
        result(text_block("out\n"), structured={"exitCode": 3, "executionTime": 1.0}, isError=True),
    ]
    command = run(stream, language=None)
    assert (command.stdout, command.stderr, command.exit_code, command.error) == ("out\n", "err\n", 3, None)


def test_files_listed_over_several_events() -> None:
    stream = [
        result({"type": "resource_link", "name": "a.csv", "uri": "file:///a.csv", "size": 4, "description": "File"}),
        result({"type": "resource_link", "name": "sub", "uri": "file:///sub", "description": "Directory"}),
    ]
    infos = file_infos(parse_stream(stream), ".", {}, 0.0)
    assert [(i.path, i.is_dir, i.size) for i in infos] == [("a.csv", False, 4), ("sub", True, 0)]


# -- error streams -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "body", "error"),
    [
        ("throttlingException", {"message": "Rate exceeded"}, Throttled),
        ("accessDeniedException", {"message": "not authorized"}, AccessDenied),
        ("validationException", {"message": "bad field", "reason": "FieldValidationFailed"}, CloudRequestInvalid),
    ],
)
def test_exception_event_raises_the_typed_error(event: str, body: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(StreamException) as raised:
        parse_stream([{event: body}])
    assert (raised.value.code, raised.value.message) == (event, body["message"])
    assert isinstance(cloud_error(raised.value.code, raised.value.message, action="Invoke", where="here"), error)


def test_exception_after_results_still_raises() -> None:
    """A stream that fails half way is a failure, not the output so far."""
    stream = [result(structured={"stdout": "partial"}), {"internalServerException": {"message": "Internal error"}}]
    with pytest.raises(StreamException, match="internalServerException: Internal error"):
        parse_stream(stream)


def test_unknown_events_are_skipped() -> None:
    """A member added to the stream later (newer service model) does not break the parser."""
    parsed = parse_stream([{"somethingNew": {"x": 1}}, result(text_block("ok\n"), structured={"stdout": "ok\n"})])
    assert parsed.stdout == "ok\n"
