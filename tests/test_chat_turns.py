"""Turns that belong to the server: a queue instead of lost messages, live steps, unwatched turns, the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from core.chat.conversations import ConversationStore
from core.chat.engine import ChatEngine
from core.chat.registry import EngineRegistry
from core.chat.turn import ActiveTurn, LiveStep, partial_tool_input
from core.config import Settings
from core.errors import QuotaExceeded
from core.models.scripted import ScriptedModel
from core.session import open_session
from tests.conftest import finish, gated_code, wait_for, wait_until_idle

GATED = gated_code()  # a step that runs until the test lets it go (``_let_go``)
SLOW = f"```python\n{GATED}print('slow done')\n```"
ASLEEP = "```python\nimport time\ntime.sleep(60)\n```"


def _let_go(engine: ChatEngine) -> None:
    engine.session.sandbox.write_file("go", b"")


def _running(engine: ChatEngine) -> bool:
    """Whether the engine's turn runs a step now."""
    step = engine.turn.snapshot().live_step if engine.turn is not None else None
    return step is not None and step.phase == "running"


def test_a_message_sent_during_a_turn_is_queued_and_runs_next(make_engine: Callable[..., ChatEngine]) -> None:
    engine = make_engine()
    assert engine.submit(SLOW) is False
    assert engine.submit("```python\nprint('second')\n```") is True
    assert engine.queued == ["```python\nprint('second')\n```"]
    _let_go(engine)
    wait_until_idle(engine)
    events = engine.transcript.events()
    assert [e.kind for e in events] == ["user", "tool", "user", "tool"]
    assert "slow done" in events[1].tool.result.stdout  # type: ignore[union-attr]
    assert "second" in events[3].tool.result.stdout  # type: ignore[union-attr]


def test_a_queued_message_can_be_taken_back(make_engine: Callable[..., ChatEngine]) -> None:
    engine = make_engine()
    engine.submit(SLOW)
    engine.submit("!echo never")
    engine.cancel_queued(0)
    _let_go(engine)
    wait_until_idle(engine)
    assert not any("never" in e.text for e in engine.transcript.events())


def test_a_running_direct_step_is_live_with_its_output(make_engine: Callable[..., ChatEngine]) -> None:
    engine = make_engine()
    engine.submit(f"```python\nprint('early', flush=True)\n{GATED}```")
    turn = engine.turn
    assert turn is not None

    def early_line_shown() -> bool:
        assert not turn.done, "the step ended before its early line showed"
        step = turn.snapshot().live_step
        return step is not None and step.result is not None and "early" in step.result.outputs[0].data  # type: ignore[operator]

    wait_for(early_line_shown, "the early line to show while the code runs", timeout=30)
    step = turn.snapshot().live_step
    assert step is not None and step.phase == "running" and step.tool == "execute_code"
    _let_go(engine)
    finish(turn)


def test_the_model_s_tool_call_shows_while_it_is_written(make_engine: Callable[..., ChatEngine]) -> None:
    code = "import time\n" + "\n".join(f"value_{n} = {n}" for n in range(40))
    engine = make_engine(ScriptedModel([{"tool": "execute_code", "input": {"code": code}}, {"text": "done"}]))
    written: list[str] = []
    show = engine._show_tool_call_being_written

    def watch(turn: Any, tool_use: dict[str, Any]) -> None:
        show(turn, tool_use)
        step = turn.live_step
        assert step is not None and step.phase == "writing"
        written.append(step.input.get("code", ""))

    engine._show_tool_call_being_written = watch  # type: ignore[method-assign]
    events = finish(engine.start_turn("go"))
    assert written and all(code.startswith(part) for part in written)
    assert written[-1] == code  # the whole call was shown before it ran
    assert [e.kind for e in events] == ["user", "tool", "assistant"]


def test_a_turn_nobody_watches_is_stopped_with_a_notice(make_engine: Callable[..., ChatEngine]) -> None:
    engine = make_engine()
    engine.submit(ASLEEP)
    engine.submit("!echo queued")
    wait_for(lambda: _running(engine), "the step to run")
    assert not engine.stop_if_unwatched(timeout=60)  # watched recently
    engine.watched_at -= 120
    assert engine.stop_if_unwatched(timeout=60)
    wait_until_idle(engine)
    notices = [e.text for e in engine.transcript.events() if e.kind == "notice"]
    assert any("nobody had this conversation open for 1 minute" in n and "1 queued message" in n for n in notices)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"code": "print(1)", "language": "python"}', {"code": "print(1)", "language": "python"}),
        ('{"code": "for i in range(3):\\n    pri', {"code": "for i in range(3):\n    pri"}),
        ('{"code": "a = \\"b', {"code": 'a = "b'}),
        ('{"code": "x\\', {"code": "x"}),
        ('{"code": "caf\\u00', {"code": "caf"}),
        ('{"command": "ls -la', {"command": "ls -la"}),
        ("", {}),
    ],
)
def test_a_tool_call_s_input_is_readable_while_it_streams(raw: str, expected: dict[str, str]) -> None:
    assert partial_tool_input(raw) == expected


def test_the_code_being_written_is_followed_until_the_step_runs() -> None:
    turn = ActiveTurn()
    step = LiveStep("execute_code", {"code": "pr"}, phase="writing")
    turn.update(live_step=step)
    growth = turn.step_growth(step, every=0.01, quiet_for=30, longest=30)
    for code in ("pri", "print(", "print(1"):  # written faster than the page updates: only the latest is shown
        turn.update(live_step=replace(step, input={"code": code}))
    shown = []
    for grown in growth:
        shown.append(grown.input["code"])
        if len(shown) == 1:
            turn.update(live_step=replace(step, input={"code": "print(1)"}))
        else:
            turn.update(live_step=replace(step, input={"code": "print(1)"}, phase="running"))
    assert shown == ["print(1", "print(1)"]


def test_answer_text_is_followed_until_a_step_begins() -> None:
    turn = ActiveTurn(partial_text="It is")
    growth = turn.text_growth("It is", every=0.01, quiet_for=30, longest=30)
    turn.update(partial_text="It is 4")
    shown = []
    for text in growth:
        shown.append(text)
        turn.update(live_step=LiveStep("execute_code", {}, phase="writing"))
    assert shown == ["It is 4"]


def test_the_registry_shares_one_engine_per_conversation_and_makes_room(settings: Settings) -> None:
    store = ConversationStore(settings)
    registry = EngineRegistry(unwatched_turn_timeout=60, idle_timeout=600)
    opened: list[str] = []

    def factory(conversation_id: str) -> Callable[[], ChatEngine]:
        def make() -> ChatEngine:
            opened.append(conversation_id)
            return ChatEngine(open_session(conversation_id, settings), None, "test", store)

        return make

    try:
        ids = [store.create().id for _ in range(3)]
        first = registry.open("local", ids[0], factory(ids[0]), max_open=2)
        assert registry.open("local", ids[0], factory(ids[0]), max_open=2) is first  # a reload: the same engine
        second = registry.open("local", ids[1], factory(ids[1]), max_open=2)
        second.submit("```python\nimport time\ntime.sleep(30)\n```")
        registry.open("local", ids[2], factory(ids[2]), max_open=2)  # the idle first one makes room
        assert first.session.sandbox.closed and not second.session.sandbox.closed
        with pytest.raises(QuotaExceeded):  # the idle third one makes room, the busy second one cannot
            registry.open("local", ids[0], factory(ids[0]), max_open=1)
    finally:
        registry.close_all()
    assert opened == ids


def test_the_registry_s_sweeper_stops_unwatched_turns_and_closes_idle_engines(settings: Settings) -> None:
    store = ConversationStore(settings)
    registry = EngineRegistry(unwatched_turn_timeout=1, idle_timeout=2, sweep_seconds=0.05)  # its own thread

    def opened(conversation_id: str) -> ChatEngine:
        engine = ChatEngine(open_session(conversation_id, settings), None, "test", store)
        return registry.open("local", conversation_id, lambda: engine, max_open=5)

    try:
        left, shown = opened(store.create().id), opened(store.create().id)
        for engine in (left, shown):
            engine.submit(ASLEEP)
            engine.submit("!echo queued")

        def while_shown(done: Callable[[], bool]) -> Callable[[], bool]:
            def check() -> bool:
                shown.watched()  # a tab keeps showing the other conversation meanwhile
                return done()

            return check

        wait_for(while_shown(lambda: not left.busy), "the sweeper to stop the turn nobody watches")
        notices = [e.text for e in left.transcript.events() if e.kind == "notice"]
        assert any("nobody had this conversation open" in n and "1 queued message" in n for n in notices)
        wait_for(while_shown(lambda: left.session.sandbox.closed), "the sweeper to close the idle engine")
        assert registry.engines() == [shown] and shown.busy and not shown.session.sandbox.closed
    finally:
        registry.close_all()
