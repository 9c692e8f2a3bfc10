"""Why an answer ended early, told apart and said plainly, against a server speaking OpenAI's streaming protocol.

A server stops an answer with ``finish_reason: "length"`` both when the request's ``max_tokens`` is reached and
when its context window fills up (llama.cpp's server: ``truncated = 1``); the usage chunk's
``completion_tokens`` tells them apart. A model that loops is stopped by the app before either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.chat.engine import ChatEngine
from core.chat.transcript import ChatEvent
from core.models import ModelChoice
from core.models.answers import REPEATED_SPAN, repeated_piece
from tests.conftest import finish
from tests.wire.openai_chat import Reply, chat_completions_server


def _choice(base_url: str, **options: Any) -> ModelChoice:
    return ModelChoice(provider="openai", base_url=base_url, model_id="wire-model", **options)


def _usage(prompt: int, answer: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": answer, "total_tokens": prompt + answer}


def _turn(make_engine: Callable[..., ChatEngine], reply: Reply, **options: Any) -> list[ChatEvent]:
    with chat_completions_server(lambda body: reply) as (base_url, _):
        return finish(make_engine(_choice(base_url, **options)).start_turn("Go on"))


def _notices(events: list[ChatEvent]) -> list[str]:
    return [event.text for event in events if event.kind == "notice"]


def test_the_answer_limit_names_the_setting_it_came_from(make_engine: Callable[..., ChatEngine]) -> None:
    cut = Reply(text=["A long ", "answer"], finish_reason="length", usage=_usage(300, 256))

    from_environment = _notices(_turn(make_engine, cut, max_tokens=256))
    from_page = _notices(_turn(make_engine, cut, max_tokens=256, from_page=True))

    assert from_environment == [
        "The answer reached its limit of 256 tokens. Raise INTERPRETER_MODEL_MAX_TOKENS (or set Max tokens on the "
        "Settings page), or ask for less in one step."
    ]
    assert from_page == [
        "The answer reached its limit of 256 tokens. Raise Max tokens on the Settings page, or ask for less in one "
        "step."
    ]


def test_a_full_context_window_is_not_called_the_answer_limit(make_engine: Callable[..., ChatEngine]) -> None:
    cut = Reply(text=["Partly ", "written"], finish_reason="length", usage=_usage(292, 220))

    events = _turn(make_engine, cut, max_tokens=4096)

    assert _notices(events) == [
        "The model's context window filled up: the answer stopped after 220 tokens after a conversation of 292 "
        "tokens. Start a new conversation, or give the model server a larger context (llama-server: --ctx-size)."
    ]
    assert [e.text for e in events if e.kind == "assistant"] == ["Partly written"]


def test_a_tool_call_cut_by_the_limit_shows_what_was_written(make_engine: Callable[..., ChatEngine]) -> None:
    cut = Reply(
        text=["Let me compute it."],
        tool_calls=[("execute_code", '{"code": "import math\\nprint(math.fact')],
        finish_reason="length",
        usage=_usage(120, 64),
    )

    events = _turn(make_engine, cut, max_tokens=64)

    assert [e.kind for e in events] == ["user", "assistant", "assistant", "notice"]
    assert events[1].text == "Let me compute it."
    assert events[2].text == (
        "The model was writing this when it was cut off (not run):\n\n```python\nimport math\nprint(math.fact\n```"
    )
    assert "limit of 64 tokens" in events[3].text


def test_an_answer_that_repeats_itself_is_stopped_early(make_engine: Callable[..., ChatEngine]) -> None:
    sentence = "The tool returned 42. "
    looping = Reply(text=["Let me think. "] + [sentence] * 500)

    events = _turn(make_engine, looping)

    written = "".join(e.text for e in events if e.kind == "assistant")
    assert written.startswith("Let me think. The tool returned 42.")
    assert written.count(sentence) < 120, "the answer was not stopped early"
    assert _notices(events) == [
        "The model kept repeating itself (“The tool returned 42.”), so its answer was stopped early. Ask again in "
        "other words; if it happens often, try a larger model or another temperature (Settings)."
    ]


@pytest.mark.parametrize(
    ("written", "looping"),
    [
        ("x = 1\n" * 400, True),
        ("ab" * 600, True),
        ("\n".join(f"value_{n} = {n}" for n in range(400)), False),
        ("Revenue rose in March, fell in April and recovered in May. " * 3, False),
    ],
    ids=["a-repeated-line", "a-repeated-pair", "numbered-lines", "a-short-repeat"],
)
def test_only_a_long_true_loop_counts_as_repetition(written: str, looping: bool) -> None:
    assert bool(repeated_piece(written)) is looping
    assert len(written) >= REPEATED_SPAN or not looping
