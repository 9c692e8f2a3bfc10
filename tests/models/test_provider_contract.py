"""One contract every model provider passes, each over its real wire protocol through its real SDK client.

For OpenAI-compatible endpoints (``openai``), Anthropic (``anthropic``), Ollama (``ollama``) and Amazon Bedrock
(``boto3``), a local server in ``tests/wire/`` speaks the documented protocol. Each provider: streams an answer,
makes a tool call that runs in the sandbox, sends the tool result back in the shape its API expects, and has its
real error responses (throttling, bad credentials, context too long, overloaded, unreachable, and the errors each
service sends after its stream began) explained in plain words; through the app's chat engine, a failed answer
is one plain notice and the next message is answered.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from strands import Agent

from core.chat.engine import ChatEngine
from core.models import ModelChoice, build_model, explain_model_error
from core.session import Session
from tests.conftest import finish, tool_results
from tests.wire.anthropic_messages import MessagesHandler, anthropic_error, anthropic_stream_error
from tests.wire.bedrock_converse import ConverseStreamHandler, bedrock_error, stream_error
from tests.wire.http import serve
from tests.wire.ollama_chat import ChatHandler, ollama_error, ollama_stream_error
from tests.wire.openai_chat import (
    Reply,
    chat_completions_server,
    context_overflow,
    llama_cpp_error,
    llama_cpp_stream_error,
    text,
    tool_call,
)

Serve = Callable[[Callable[[dict[str, Any]], Reply]], AbstractContextManager[tuple[ModelChoice, list[dict[str, Any]]]]]


@dataclass
class Provider:
    """How to reach one provider's wire server, read its requests, and fake its errors."""

    name: str
    serve: Serve
    tool_result: Callable[[dict[str, Any]], str]
    """The text of the tool result in a request body, read where the provider's API puts it."""
    errors: dict[str, Reply]
    """Error answers by kind (throttled, auth, too_long, ...), as the real service sends them; a kind ending in
    ``_mid_stream`` fails after the answer began."""


def _openai(monkeypatch: pytest.MonkeyPatch) -> Provider:
    @contextmanager
    def run(reply: Callable[[dict[str, Any]], Reply]) -> Iterator[tuple[ModelChoice, list[dict[str, Any]]]]:
        with chat_completions_server(reply) as (base_url, requests):
            yield ModelChoice(provider="openai", base_url=base_url, model_id="wire-model"), requests

    def tool_result(body: dict[str, Any]) -> str:
        return next(str(m["content"]) for m in body["messages"] if m["role"] == "tool")

    errors = {
        "throttled": llama_cpp_error(429, "Rate limit reached for requests", "rate_limit_error"),
        "auth": llama_cpp_error(401, "Invalid API Key", "authentication_error"),
        "too_long": context_overflow(9000, 4096),
        "compute_error_mid_stream": llama_cpp_stream_error("Compute error."),
    }
    return Provider("openai", run, tool_result, errors)


def _anthropic(monkeypatch: pytest.MonkeyPatch) -> Provider:
    @contextmanager
    def run(reply: Callable[[dict[str, Any]], Reply]) -> Iterator[tuple[ModelChoice, list[dict[str, Any]]]]:
        with serve(MessagesHandler, reply) as (url, requests):
            monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
            yield ModelChoice(provider="anthropic", api_key="sk-ant-wire", model_id="claude-wire"), requests

    def tool_result(body: dict[str, Any]) -> str:
        blocks = [
            b for m in body["messages"] if m["role"] == "user" and isinstance(m["content"], list) for b in m["content"]
        ]
        result = next(b for b in blocks if b.get("type") == "tool_result")
        assert result["tool_use_id"] == "toolu_0"
        return json.dumps(result["content"])

    errors = {
        "throttled": anthropic_error("rate_limit_error", "Number of request tokens has exceeded your rate limit."),
        "auth": anthropic_error("authentication_error", "invalid x-api-key"),
        "too_long": anthropic_error("invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"),
        "overloaded": anthropic_error("overloaded_error", "Overloaded"),  # HTTP 529
        "overloaded_mid_stream": anthropic_stream_error("overloaded_error", "Overloaded"),
        "api_error_mid_stream": anthropic_stream_error("api_error", "Internal server error"),
    }
    return Provider("anthropic", run, tool_result, errors)


def _ollama(monkeypatch: pytest.MonkeyPatch) -> Provider:
    @contextmanager
    def run(reply: Callable[[dict[str, Any]], Reply]) -> Iterator[tuple[ModelChoice, list[dict[str, Any]]]]:
        with serve(ChatHandler, reply) as (url, requests):
            yield ModelChoice(provider="ollama", host=url, model_id="llama3.2"), requests

    def tool_result(body: dict[str, Any]) -> str:
        return next(str(m["content"]) for m in body["messages"] if m["role"] == "tool")

    errors = {  # Ollama has no keys nor rate limits: a missing model and a server failure instead
        "not_found": ollama_error(404, 'model "llama3.2" not found, try pulling it first'),
        "server": ollama_error(500, "llama runner process has terminated: signal: killed"),
        "runner_failed_mid_stream": ollama_stream_error(
            "an error was encountered while running the model: CUDA error: out of memory"
        ),
    }
    return Provider("ollama", run, tool_result, errors)


def _bedrock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Provider:
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDWIRE", "AWS_SECRET_ACCESS_KEY": "wire-secret",
                        "AWS_CONFIG_FILE": str(empty), "AWS_SHARED_CREDENTIALS_FILE": str(empty),
                        "AWS_MAX_ATTEMPTS": "1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    @contextmanager
    def run(reply: Callable[[dict[str, Any]], Reply]) -> Iterator[tuple[ModelChoice, list[dict[str, Any]]]]:
        with serve(ConverseStreamHandler, reply) as (url, requests):
            monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", url)
            yield ModelChoice(provider="bedrock", region="us-east-1", model_id="wire.model-v1"), requests

    def tool_result(body: dict[str, Any]) -> str:
        result = tool_results(body["messages"])[0]  # Converse's messages are shaped as Strands' own
        assert result["toolUseId"] == "tooluse_0"
        return json.dumps(result["content"])

    errors = {
        "throttled": bedrock_error(429, "ThrottlingException", "Too many requests, please wait before trying again."),
        "auth": bedrock_error(
            403, "UnrecognizedClientException", "The security token included in the request is invalid."
        ),
        "too_long": bedrock_error(400, "ValidationException", "Input is too long for requested model."),
        "throttled_mid_stream": stream_error(
            "throttlingException", "Too many tokens, please wait before trying again."
        ),
    }
    return Provider("bedrock", run, tool_result, errors)


@pytest.fixture(params=["openai", "anthropic", "ollama", "bedrock"])
def provider(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Provider:
    """Each provider in turn."""
    makers = {"openai": _openai, "anthropic": _anthropic, "ollama": _ollama}
    if request.param == "bedrock":
        return _bedrock(monkeypatch, tmp_path)
    return makers[request.param](monkeypatch)


def _agent(choice: ModelChoice, session: Session) -> Agent:
    """An agent without Strands' throttling retries (4 s, 8 s, ...), so that an error comes back at once."""
    return Agent(model=build_model(choice), tools=session.tools, callback_handler=None, retry_strategy=None)


def _tool_then_answer(body: dict[str, Any]) -> Reply:
    if "print(6 * 7)" in json.dumps(body) and "42" in json.dumps(body.get("messages", [])[-1:]):
        return text("The ans", "wer is ", "42.")
    return tool_call("execute_code", {"code": "print(6 * 7)"})


def test_a_tool_call_runs_and_its_result_goes_back(provider: Provider, session: Session) -> None:
    with provider.serve(_tool_then_answer) as (choice, requests):
        answer = _agent(choice, session)("What is 6*7?")

    assert str(answer).strip() == "The answer is 42."
    assert [(record.tool, record.input["code"], record.status) for record in session.history] == [
        ("execute_code", "print(6 * 7)", "success")
    ]
    assert len(requests) == 2
    assert "What is 6*7?" in json.dumps(requests[0]["body"])
    assert "42" in provider.tool_result(requests[1]["body"])


EXPECTED = {
    "throttled": "too many requests",
    "auth": ("API key", "credentials"),
    "too_long": "too long for the model's context window",
    "not_found": "ollama pull",
    "server": "llama runner process has terminated",
    "throttled_mid_stream": "too many requests",
    "compute_error_mid_stream": "failed while answering: Compute error.",
    "overloaded": "overloaded",
    "overloaded_mid_stream": "overloaded",
    "api_error_mid_stream": "failed while answering: Internal server error.",
    "runner_failed_mid_stream": "failed while answering: an error was encountered while running the model: CUDA",
}

NOT_PLAIN = re.compile(r"Traceback|[{}]|HTTP (200|-1)\b|\b\w+(Error|Exception):")
"""What plain words never hold: a traceback, a JSON body, the status of a stream that had begun (200) or of none
(the ``ollama`` package's -1), an exception's class name."""


def _plain(words: str, kind: str) -> None:
    """Assert that ``words`` say what ``EXPECTED[kind]`` says, in plain words."""
    expected = EXPECTED[kind]
    assert any(w in words for w in ((expected,) if isinstance(expected, str) else expected)), (kind, words)
    assert not NOT_PLAIN.search(words), (kind, words)


def test_errors_are_explained_in_plain_words(provider: Provider, session: Session) -> None:
    for kind, reply in provider.errors.items():
        with provider.serve(lambda body, reply=reply: reply) as (choice, _), pytest.raises(Exception) as caught:  # type: ignore[misc]
            _agent(choice, session)("Hello")
        _plain(explain_model_error(caught.value), kind)


@pytest.mark.parametrize(
    ("provider", "kind"),
    [
        ("openai", "compute_error_mid_stream"),
        ("anthropic", "overloaded"),
        ("anthropic", "overloaded_mid_stream"),
        ("anthropic", "api_error_mid_stream"),
        ("ollama", "runner_failed_mid_stream"),
    ],
    indirect=["provider"],
)
def test_a_failed_answer_is_one_plain_notice_and_the_next_message_is_answered(
    provider: Provider, kind: str, make_engine: Callable[..., ChatEngine]
) -> None:
    failure = provider.errors[kind]

    def reply(body: dict[str, Any]) -> Reply:
        return text("Hi ", "again!") if "Hello again" in json.dumps(body["messages"][-1]) else failure

    with provider.serve(reply) as (choice, requests):
        engine = make_engine(choice)
        failed = finish(engine.start_turn("Hello"))
        answered = finish(engine.start_turn("Hello again"))

    (notice,) = [event.text for event in failed if event.kind == "notice"]
    _plain(notice, kind)
    assert [(event.kind, event.text) for event in answered[1:]] == [("assistant", "Hi again!")]
    assert isinstance(failure.error_body, dict)
    said = failure.error_body.get("error", failure.error_body)  # {"error": {...}}, {"error": "..."} or the error
    message = str(said.get("message") if isinstance(said, dict) else said)
    assert message not in json.dumps(requests[-1]["body"]), "the error's words reached the model's memory"


def test_an_unreachable_server_is_explained(provider: Provider, session: Session) -> None:
    with provider.serve(lambda body: text("never")) as (choice, _):
        pass  # the server is gone now; its address is a closed port
    with pytest.raises(Exception) as caught:
        _agent(choice, session)("Hello")

    assert "cannot be reached" in explain_model_error(caught.value), explain_model_error(caught.value)


WRITTEN_CODE = "\n".join(f"value_{n} = {n} * {n}" for n in range(8)) + "\nprint(value_7)"


class WritingWatcher:
    """Waits, after each piece of a tool call the server sends, until the turn shows that piece being written.

    The server calls :meth:`after_piece` once the piece is on the wire; the wait ends when the engine's live
    step (what the page draws) is ``writing`` and holds the code sent so far, or after ``PIECE_DEADLINE``.
    """

    PIECE_DEADLINE = 10.0

    def __init__(self) -> None:
        self.engine: Any = None
        self.seen: list[str] = []
        self.missed: list[str] = []

    def after_piece(self, sent: str) -> None:
        """Wait until the turn shows the code of ``sent`` being written (a condition with a deadline)."""
        from core.chat.turn import partial_tool_input

        wanted = partial_tool_input(sent).get("code", "")
        deadline = time.monotonic() + self.PIECE_DEADLINE
        while time.monotonic() < deadline:
            turn = self.engine.turn
            step = turn.snapshot().live_step if turn is not None else None
            if step is not None and step.phase == "writing" and step.input.get("code", "") == wanted:
                if wanted and (not self.seen or self.seen[-1] != wanted):
                    self.seen.append(wanted)
                return
            time.sleep(0.01)
        self.missed.append(wanted)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "bedrock"], indirect=True)
def test_a_tool_call_shows_growing_while_the_model_writes_it(
    provider: Provider, make_engine: Callable[..., ChatEngine]
) -> None:
    """Ollama is left out: its ``/api/chat`` stream carries each tool call whole, in one message."""
    watcher = WritingWatcher()
    answers = iter([tool_call("execute_code", {"code": WRITTEN_CODE}, pieces=5, after_piece=watcher.after_piece)])

    def reply(body: dict[str, Any]) -> Reply:
        return next(answers, text("Done."))  # the call, then (its result sent back) the answer

    with provider.serve(reply) as (choice, _):
        watcher.engine = make_engine(choice)
        events = finish(watcher.engine.start_turn("Square some numbers"))

    assert not watcher.missed, f"pieces never shown while written: {watcher.missed}"
    assert len(watcher.seen) >= 2, watcher.seen
    assert all(b.startswith(a) and len(b) > len(a) for a, b in itertools.pairwise(watcher.seen)), watcher.seen
    steps = [e.tool for e in events if e.kind == "tool" and e.tool is not None]
    assert [s.input["code"] for s in steps] == [WRITTEN_CODE] and "49" in steps[0].result.stdout
