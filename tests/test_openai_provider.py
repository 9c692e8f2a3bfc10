"""The OpenAI-compatible provider, end to end, against a local server speaking the streaming wire protocol.

The server (``tests/wire/openai_chat.py``) answers as llama.cpp, llama-cpp-python, vLLM and OpenAI do, errors
included; the real ``openai`` SDK and Strands talk to it, and the code the model asks for runs in the sandbox.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from strands import Agent

from core.chat.engine import ChatEngine
from core.chat.transcript import ChatEvent
from core.models import ModelChoice, build_model, explain_model_error
from core.session import Session
from tests.conftest import finish, wait_for
from tests.servers import free_port
from tests.wire.openai_chat import Reply, chat_completions_server, context_overflow, text, tool_call

SIX_TIMES_SEVEN = {"code": "print(6 * 7)"}


def _choice(base_url: str, **options: Any) -> ModelChoice:
    return ModelChoice(provider="openai", base_url=base_url, model_id="wire-model", api_key="k", **options)


def _tool_then_answer(body: dict[str, Any]) -> Reply:
    """A tool call, then (once its result is in the request) the answer."""
    if any(message["role"] == "tool" for message in body["messages"]):
        return text("The ans", "wer is ", "42.")
    return tool_call("execute_code", SIX_TIMES_SEVEN)


def _notices(events: list[ChatEvent]) -> list[str]:
    return [event.text for event in events if event.kind == "notice"]


@pytest.mark.parametrize("in_pieces", [True, False], ids=["arguments-in-pieces", "arguments-whole"])
def test_agent_runs_code_through_an_openai_compatible_endpoint(session: Session, in_pieces: bool) -> None:
    def reply(body: dict[str, Any]) -> Reply:
        first = not any(message["role"] == "tool" for message in body["messages"])
        return tool_call("execute_code", SIX_TIMES_SEVEN, in_pieces) if first else text("The answer is 42.")

    with chat_completions_server(reply) as (base_url, requests):
        agent = Agent(model=build_model(_choice(base_url)), tools=session.tools, callback_handler=None)
        answer = agent("What is 6*7?")

    assert str(answer).strip() == "The answer is 42."
    assert [(record.tool, record.input["code"], record.status) for record in session.history] == [
        ("execute_code", "print(6 * 7)", "success")
    ]
    assert session.history[0].result is not None and session.history[0].result.stdout.strip() == "42"
    first, second = (r["body"] for r in requests)
    assert requests[0]["authorization"] == "Bearer k"
    assert first["model"] == "wire-model" and first["tool_choice"] == "auto" and first["max_tokens"] == 4096
    assert "execute_code" in {tool["function"]["name"] for tool in first["tools"]}
    # Every text-only content is one string: what llama-cpp-python's server validates, and every server accepts.
    assert all(isinstance(m.get("content", ""), str) for m in first["messages"] + second["messages"])
    assert first["messages"][-1] == {"role": "user", "content": "What is 6*7?"}
    tool_message = next(m for m in second["messages"] if m["role"] == "tool")
    assert tool_message["tool_call_id"] == "call_0" and "42" in tool_message["content"]


def test_request_options_come_from_the_settings(session: Session) -> None:
    extra = '{"top_k": 20, "cache_prompt": true}'
    choice = _choice("", max_tokens=0, temperature=0.2, tool_choice="", extra_body=extra)
    with chat_completions_server(lambda body: text("ok")) as (base_url, requests):
        Agent(model=build_model(replace_url(choice, base_url)), tools=session.tools, callback_handler=None)("hi")

    body = requests[0]["body"]
    assert body["temperature"] == 0.2 and body["top_k"] == 20 and body["cache_prompt"] is True
    assert "max_tokens" not in body and "tool_choice" not in body


def replace_url(choice: ModelChoice, base_url: str) -> ModelChoice:
    """The choice with another base URL."""
    return ModelChoice.from_dict({**choice.to_dict(include_secrets=True), "base_url": base_url})


def test_a_server_like_llama_cpp_python_gets_what_it_accepts(make_engine: Callable[..., ChatEngine]) -> None:
    """llama-cpp-python's server offers no tools without ``tool_choice`` and refuses list content with HTTP 500."""

    def strict(body: dict[str, Any]) -> Reply:
        if any(isinstance(message.get("content"), list) for message in body["messages"]):
            dump = "1 validation error for ChatCompletionRequestAssistantMessage\ncontent\n  Input should be a string"
            return Reply(status=500, error_body={"error": {"message": dump, "type": "internal_server_error"}})
        if "tool_choice" not in body:
            return text("I cannot run code.")
        return _tool_then_answer(body)

    with chat_completions_server(strict) as (base_url, requests):
        engine = make_engine(_choice(base_url))
        first = finish(engine.start_turn("What is 6*7?"))
        second = finish(engine.start_turn("And again?"))

    assert not _notices(first) and not _notices(second), (_notices(first), _notices(second))
    assert [event.kind for event in first][-2:] == ["tool", "assistant"]
    assert "42" in first[-1].text and "42" in second[-1].text
    assert len(requests) == 3  # the second turn's history already holds a tool result: the server answers at once


def test_a_server_error_is_a_plain_message_that_stays_out_of_the_models_memory(
    make_engine: Callable[..., ChatEngine],
) -> None:
    dump = "1 validation error for ChatCompletionRequest\nmessages.1.content\n  " + "x" * 5000

    def failing_once(body: dict[str, Any]) -> Reply:  # the SDK retries a 500 twice: every try fails alike
        if body["messages"][-1]["content"] == "Hello":
            return Reply(status=500, error_body={"error": {"message": dump, "type": "server_error"}})
        return text("Hi!")

    with chat_completions_server(failing_once) as (base_url, requests):
        engine = make_engine(_choice(base_url))
        failed = finish(engine.start_turn("Hello"))
        answered = finish(engine.start_turn("Hello again"))

    (notice,) = _notices(failed)
    assert notice == "The model endpoint failed: 1 validation error for ChatCompletionRequest (HTTP 500)."
    assert answered[-1].text == "Hi!"
    assert "validation" not in json.dumps(requests[-1]["body"]["messages"])


def test_a_context_overflow_in_llama_cpp_wording_reduces_the_history_and_retries(
    make_engine: Callable[..., ChatEngine],
) -> None:
    def small_context(body: dict[str, Any]) -> Reply:
        return context_overflow(1804, 1024) if len(body["messages"]) > 5 else text("Fits now.")

    with chat_completions_server(small_context) as (base_url, requests):
        engine = make_engine(_choice(base_url))
        for question in ("one", "two"):
            finish(engine.start_turn(question))
        events = finish(engine.start_turn("three"))
        after = finish(engine.start_turn("four"))

    assert any("too long for the model" in notice for notice in _notices(events)), _notices(events)
    assert events[-1].text == "Fits now." and after[-1].text == "Fits now."
    assert len(requests[-1]["body"]["messages"]) <= 5
    assert "exceeds the available context" not in json.dumps([r["body"] for r in requests])


def test_an_empty_answer_says_so(make_engine: Callable[..., ChatEngine]) -> None:
    with chat_completions_server(lambda body: Reply()) as (base_url, _):
        events = finish(make_engine(_choice(base_url)).start_turn("Hello"))

    assert _notices(events) == ["The model returned an empty answer."]


def test_a_turn_ends_at_the_tool_call_limit_and_the_agent_is_told(make_engine: Callable[..., ChatEngine]) -> None:
    def endless(body: dict[str, Any]) -> Reply:
        last = body["messages"][-1]
        if last["role"] == "user" and "previous turn was ended after 3 tool calls" in str(last["content"]):
            return text("Understood.")
        return tool_call("execute_code", {"code": "print(1)"})

    with chat_completions_server(endless) as (base_url, _):
        engine = make_engine(_choice(base_url), max_tool_calls_per_turn=3)
        events = finish(engine.start_turn("Loop"))
        told = finish(engine.start_turn("Why did you stop?"))

    assert [event.kind for event in events].count("tool") == 3
    assert _notices(events)[-1].startswith("Stopped after 3 tool calls")
    assert told[-1].text == "Understood."


def test_an_unreachable_endpoint_is_explained_in_plain_words(session: Session) -> None:
    port = free_port()  # free a moment ago: no listener
    agent = Agent(model=build_model(_choice(f"http://127.0.0.1:{port}/v1")), tools=session.tools, callback_handler=None)

    with pytest.raises(Exception) as caught:
        agent("What is 6*7?")

    text = explain_model_error(caught.value)
    assert "cannot be reached" in text and f"127.0.0.1:{port}" in text and "Traceback" not in text
    assert list(session.history) == []


def test_the_server_streams_as_real_servers_do() -> None:
    """What the tests here rely on: each answer chunked on a kept-alive HTTP/1.1 connection, and the role named
    only in the first delta (llama.cpp, vLLM and OpenAI send the content and tool-call deltas without it)."""
    request = json.dumps({"model": "wire-model", "stream": True, "messages": [{"role": "user", "content": "Hi"}]})
    with chat_completions_server(lambda body: text("Hello ", "there.")) as (base_url, requests):
        address = urllib.parse.urlsplit(base_url)
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
        try:
            sockets = []
            for _ in range(2):
                connection.request("POST", "/v1/chat/completions", request, {"Content-Type": "application/json"})
                response = connection.getresponse()
                sockets.append(connection.sock)
                assert (response.version, response.getheader("Transfer-Encoding")) == (11, "chunked")
                lines = response.read().decode().splitlines()
                assert not response.will_close
                events = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
                assert events[-1] == "[DONE]"
                deltas = [choice["delta"] for event in events[:-1] for choice in json.loads(event)["choices"]]
                assert ["role" in delta for delta in deltas] == [True] + [False] * (len(deltas) - 1), deltas
                assert "".join(delta.get("content") or "" for delta in deltas) == "Hello there."
            assert sockets[0] is sockets[1] and len(requests) == 2  # the second request came on the same connection
        finally:
            connection.close()


STREAMS = pytest.mark.parametrize("keep_alive", [True, False], ids=["chunked-keep-alive", "connection-close"])
"""Both ways a stream reaches the client: chunked on a connection kept for the next request (llama.cpp, vLLM,
OpenAI), or a body that ends when the server closes the connection."""


@STREAMS
def test_a_stop_mid_stream_ends_the_turn_quietly(
    make_engine: Callable[..., ChatEngine], caplog: pytest.LogCaptureFixture, keep_alive: bool
) -> None:
    slow = Reply(text=[f"word{n} " for n in range(60)], delay=0.05, keep_alive=keep_alive)
    after_the_stops = Reply(text=["Still ", "here."], keep_alive=keep_alive)

    def reply(body: dict[str, Any]) -> Reply:
        return slow if body["messages"][-1]["content"] == "Talk" else after_the_stops

    with chat_completions_server(reply) as (base_url, _):
        engine = make_engine(_choice(base_url))
        for _ in range(10):
            turn = engine.start_turn("Talk")
            wait_for(lambda turn=turn: turn.snapshot().partial_text or turn.done, "the first words of the answer")
            engine.stop()
            events = finish(turn)
            assert _notices(events) == ["Stopped. The sandbox kept its files and variables."]
        answered = finish(engine.start_turn("Are you there?"))  # the client's connections still serve

    assert answered[-1].text == "Still here." and not _notices(answered), _notices(answered)
    assert not [r.getMessage() for r in caplog.records if "asynchronous generator" in r.getMessage()]


@STREAMS
def test_a_stop_before_the_server_answers_ends_the_turn_at_once(
    make_engine: Callable[..., ChatEngine], caplog: pytest.LogCaptureFixture, keep_alive: bool
) -> None:
    """A server still reading a long prompt sends nothing for a while; Stop must not wait for it."""
    silent = Reply(text=["late"], silence=30, keep_alive=keep_alive)
    with chat_completions_server(lambda body: silent) as (base_url, requests):
        engine = make_engine(_choice(base_url))
        turn = engine.start_turn("Talk")
        wait_for(lambda: requests, "the request to reach the server")
        stopped_at = time.monotonic()
        engine.stop()
        events = finish(turn)
        waited = time.monotonic() - stopped_at

    assert waited < 10, f"the turn ended {waited:.1f} s after Stop"  # the server stays silent for 30 s
    assert _notices(events) == ["Stopped. The sandbox kept its files and variables."]
    assert not [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


def test_complete_tool_calls_of_an_answer_cut_by_the_token_limit_still_run(session: Session) -> None:
    """A small model repeats a call until max_tokens cuts the last one in half (seen with llama.cpp)."""

    def repeating(body: dict[str, Any]) -> Reply:
        if any(message["role"] == "tool" for message in body["messages"]):
            return text("It is 42.")
        calls: list[tuple[str, dict[str, Any] | str]] = [("execute_code", SIX_TIMES_SEVEN)] * 2
        return Reply(tool_calls=[*calls, ("execute_code", '{"code": "print(6')], finish_reason="length")

    with chat_completions_server(repeating) as (base_url, _):
        answer = Agent(model=build_model(_choice(base_url)), tools=session.tools, callback_handler=None)("6*7?")

    assert str(answer).strip() == "It is 42."
    assert [record.input["code"] for record in session.history] == ["print(6 * 7)"] * 2
