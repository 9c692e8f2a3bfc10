"""Ask before running code: steps wait for the person (Strands interrupts), who runs, edits or skips them.

The scripted model drives a real Strands agent over real sandboxes; nothing here is mocked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.chat.approval import Answer
from core.chat.engine import ChatEngine
from core.config import Settings
from core.conversations import ConversationStore
from core.notebook import SKIPPED_TAG, transcript_to_notebook
from core.scripted_model import ScriptedModel
from core.session import Session
from tests.conftest import finish

STEPS = [
    {"tool": "execute_code", "input": {"code": "answer = 6 * 7\nprint(answer)"}},
    {"text": "The answer is printed above."},
]


def asking_engine(session: Session, store: ConversationStore, steps: list[dict[str, Any]]) -> ChatEngine:
    engine = ChatEngine(session, ScriptedModel(steps), "scripted model", store)
    engine.approval.set_asking(True)
    return engine


def new_conversation(settings: Settings, open_sessions: Callable[..., Session]) -> tuple[Session, ConversationStore]:
    store = ConversationStore(settings)
    return open_sessions(store.create().id, settings), store


def tool_results(engine: ChatEngine) -> list[str]:
    """The texts of the tool results the agent received."""
    assert engine.agent is not None
    return [
        str(block["toolResult"]["content"])
        for message in engine.agent.messages
        for block in message["content"]
        if "toolResult" in block
    ]


def test_a_proposed_step_waits_with_its_code_and_runs_when_the_person_says_so(
    settings: Settings, open_sessions: Callable[..., Session]
) -> None:
    session, store = new_conversation(settings, open_sessions)
    engine = asking_engine(session, store, STEPS)
    assert [event.kind for event in finish(engine.start_turn("What is 6 times 7?"))] == ["user"]
    [step] = engine.approval.pending()
    assert (step.tool, step.code, step.language) == ("execute_code", "answer = 6 * 7\nprint(answer)", "python")
    assert not engine.busy and not session.history  # nothing ran

    assert engine.answer_step(step.interrupt_id, Answer("run"))
    events = finish(engine.turn)  # type: ignore[arg-type]
    assert [event.kind for event in events] == ["tool", "assistant"]
    assert events[0].tool is not None and events[0].tool.text == "[stdout]\n42"
    assert engine.approval.pending() == []
    assert not engine.answer_step(step.interrupt_id, Answer("run"))  # answered once only (another tab, say)


def test_edited_code_runs_instead_and_the_agent_is_told(
    settings: Settings, open_sessions: Callable[..., Session]
) -> None:
    session, store = new_conversation(settings, open_sessions)
    engine = asking_engine(session, store, STEPS)
    finish(engine.start_turn("go"))
    engine.answer_step(engine.approval.pending()[0].interrupt_id, Answer("edit", code="answer = 100\nprint(answer)"))
    events = finish(engine.turn)  # type: ignore[arg-type]
    assert events[0].kind == "notice" and "edited" in events[0].text
    record = events[1].tool
    assert record is not None and record.input["code"] == "answer = 100\nprint(answer)" and "100" in record.text
    received = tool_results(engine)[-1]
    assert "The user edited your code before it ran" in received and "answer = 100" in received and "100" in received


def test_a_skipped_step_does_not_run_the_agent_gets_the_reason_and_the_notebook_marks_it(
    settings: Settings, open_sessions: Callable[..., Session]
) -> None:
    session, store = new_conversation(settings, open_sessions)
    steps = [{"tool": "execute_command", "input": {"command": "touch made.txt"}}, {"text": "Fine, I will not."}]
    engine = asking_engine(session, store, steps)
    finish(engine.start_turn("make a file"))
    engine.answer_step(engine.approval.pending()[0].interrupt_id, Answer("skip", reason="no files please"))
    events = finish(engine.turn)  # type: ignore[arg-type]
    assert [event.kind for event in events] == ["tool", "assistant"]
    record = events[0].tool
    assert record is not None and record.status == "skipped" and "no files please" in record.text
    assert session.sandbox.list_files(".") == []  # it never ran
    assert "Their reason: no files please" in tool_results(engine)[-1]

    notebook = transcript_to_notebook(engine.transcript.events())
    [cell] = [cell for cell in notebook.cells if SKIPPED_TAG in cell.metadata.get("tags", [])]
    assert cell.cell_type == "markdown" and "**Skipped**" in cell.source and "touch made.txt" in cell.source
    assert all("touch made.txt" not in cell.source for cell in notebook.cells if cell.cell_type == "code")


def test_a_waiting_step_survives_closing_the_engine_and_an_app_restart(
    settings: Settings, open_sessions: Callable[..., Session]
) -> None:
    session, store = new_conversation(settings, open_sessions)
    engine = asking_engine(session, store, STEPS)
    finish(engine.start_turn("go"))
    engine.close()
    session.close()  # the app stops; Strands' session manager kept the interrupt with the agent

    reopened = open_sessions(session.conversation_id, settings)
    again = ChatEngine(reopened, ScriptedModel(STEPS[1:]), "scripted model", store)
    assert again.approval.asking
    [step] = again.approval.pending()
    assert step.code == "answer = 6 * 7\nprint(answer)"
    again.answer_step(step.interrupt_id, Answer("run"))
    events = finish(again.turn)  # type: ignore[arg-type]
    assert events[0].tool is not None and "42" in events[0].tool.text
    assert events[-1].text == "The answer is printed above."


def test_a_new_message_skips_the_waiting_step_and_is_answered(
    settings: Settings, open_sessions: Callable[..., Session]
) -> None:
    session, store = new_conversation(settings, open_sessions)
    engine = asking_engine(session, store, [*STEPS[:1], {"text": "Answering your new message."}])
    finish(engine.start_turn("go"))
    assert engine.submit("never mind, just say hello")  # queued behind the skip
    deadline = time.monotonic() + 60
    while engine.busy and time.monotonic() < deadline:
        time.sleep(0.05)
    kinds = [(event.kind, event.tool.status if event.tool else "") for event in engine.transcript.events()]
    assert kinds == [("user", ""), ("tool", "skipped"), ("user", ""), ("assistant", "")]
    assert engine.transcript.events()[-1].text == "Answering your new message."
    assert "sent a new message instead" in tool_results(engine)[-1]


def test_code_the_person_sends_is_never_asked_about(settings: Settings, open_sessions: Callable[..., Session]) -> None:
    session, store = new_conversation(settings, open_sessions)
    engine = asking_engine(session, store, STEPS)
    events = finish(engine.start_turn("```python\nprint('mine')\n```"))
    assert events[-1].tool is not None and "mine" in events[-1].tool.text
    assert engine.approval.pending() == []
    engine.approval.set_asking(False)
    events = finish(engine.start_turn("go"))  # the switch off: the agent's step runs at once
    assert any(event.tool is not None and "42" in event.tool.text for event in events)
