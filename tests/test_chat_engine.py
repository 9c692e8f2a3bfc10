"""The chat engine: streaming turns with the scripted model, direct runs, stop, and plain-words failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.chat.direct import parse_direct_run
from core.chat.engine import ChatEngine
from core.models.scripted import ScriptedModel
from tests.conftest import finish, wait_for


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("```python\nprint(1)\n```", ("execute_code", {"code": "print(1)", "language": "python"})),
        ("```ts\nconst a = 1\n```", ("execute_code", {"code": "const a = 1", "language": "typescript"})),
        ("```bash\nls -la\n```", ("execute_command", {"command": "ls -la"})),
        ("!pip list", ("execute_command", {"command": "pip list"})),
        ("What is in ```this``` file?", None),
        ("```ruby\nputs 1\n```", None),
        ("plain question", None),
    ],
)
def test_direct_runs_are_recognised(message: str, expected: Any) -> None:
    assert parse_direct_run(message) == expected


def test_turn_streams_tool_steps_and_answer_into_the_transcript(make_engine: Callable[..., ChatEngine]) -> None:
    model = ScriptedModel([{"tool": "execute_code", "input": {"code": "print(6 * 7)"}}, {"text": "It is 42."}])
    engine = make_engine(model)
    events = finish(engine.start_turn("compute"))
    assert [e.kind for e in events] == ["user", "tool", "assistant"]
    assert events[1].tool.result.stdout.strip() == "42"
    assert events[2].text == "It is 42."
    assert [e.kind for e in engine.transcript.events()] == ["user", "tool", "assistant"]
    assert engine.store.get(engine.session.conversation_id).title == "compute"  # type: ignore[union-attr]


def test_direct_run_needs_no_model_and_the_agent_hears_of_it(make_engine: Callable[..., ChatEngine]) -> None:
    engine = make_engine(None)
    events = finish(engine.start_turn("```python\nvalue = 7\nprint(value * 6)\n```"))
    assert events[1].kind == "tool" and events[1].source == "direct"
    assert "42" in events[1].tool.result.stdout
    assert "value * 6" in engine.context_for_agent[0] and "42" in engine.context_for_agent[0]


def test_without_a_model_a_question_says_how_to_configure(make_engine: Callable[..., ChatEngine]) -> None:
    events = finish(make_engine(None).start_turn("Hello?"))
    assert events[-1].kind == "notice" and "INTERPRETER_MODEL_PROVIDER" in events[-1].text


def test_context_from_uploads_reaches_the_agent(make_engine: Callable[..., ChatEngine]) -> None:
    model = ScriptedModel([{"text": "ok"}])
    engine = make_engine(model)
    engine.tell_agent("The user uploaded 'data.zip'")
    finish(engine.start_turn("go"))
    first_user_message = engine.agent.messages[0]["content"][0]["text"]  # type: ignore[union-attr]
    assert first_user_message.startswith("The user uploaded 'data.zip'") and first_user_message.endswith("go")
    assert engine.context_for_agent == []


def test_stop_interrupts_running_code_and_keeps_state(make_engine: Callable[..., ChatEngine]) -> None:
    steps = [
        {"tool": "execute_code", "input": {"code": "kept = 1"}},
        {"tool": "execute_code", "input": {"code": "import time\ntime.sleep(120)"}},
        {"text": "never said"},
    ]
    engine = make_engine(ScriptedModel(steps))
    turn = engine.start_turn("go")

    def sleeping() -> bool:
        step = turn.snapshot().live_step
        return step is not None and step.phase == "running" and "sleep" in step.input.get("code", "")

    wait_for(sleeping, "the long step to run")  # then press Stop
    engine.stop()
    events = finish(turn)
    step = [e for e in events if e.kind == "tool"][-1].tool
    assert step.status == "error"
    if step.result is None:  # Stop landed before the code started: it never ran
        assert "pressed Stop" in step.text
    else:
        assert step.result.stopped is not None and step.result.stopped.value == "interrupted"
    assert not any(e.text == "never said" for e in events)
    assert engine.session.sandbox.execute("print(kept)").stdout.strip() == "1"


class FailingModel(ScriptedModel):
    async def stream(self, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def, override]
        yield {"messageStart": {"role": "assistant"}}
        yield {"contentBlockDelta": {"delta": {"text": "Let me "}}}
        raise ConnectionError("connection refused")


def test_model_failure_mid_stream_is_a_plain_message(make_engine: Callable[..., ChatEngine]) -> None:
    events = finish(make_engine(FailingModel([])).start_turn("go"))
    assert events[-1].kind == "notice" and events[-1].level == "error"
    assert "Traceback" not in events[-1].text and events[-1].text
