"""Ask before running code: steps wait for the person (Strands interrupts), who runs, edits or skips them.

The scripted model drives a real Strands agent over real sandboxes; nothing here is mocked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamlit.testing.v1 import AppTest

from core.chat.approval import Answer
from core.chat.conversations import ConversationStore
from core.chat.engine import ChatEngine
from core.chat.notebook import SKIPPED_TAG, transcript_to_notebook
from core.config import Settings
from core.models.scripted import ScriptedModel
from core.session import Session
from tests.conftest import finish, page_text, run_until_idle, send, text_of, tool_results, wait_until_idle

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
    assert engine.agent is not None
    received = text_of(tool_results(engine.agent.messages)[-1])
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
    assert engine.agent is not None
    assert "Their reason: no files please" in text_of(tool_results(engine.agent.messages)[-1])

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
    wait_until_idle(engine)
    kinds = [(event.kind, event.tool.status if event.tool else "") for event in engine.transcript.events()]
    assert kinds == [("user", ""), ("tool", "skipped"), ("user", ""), ("assistant", "")]
    assert engine.transcript.events()[-1].text == "Answering your new message."
    assert engine.agent is not None
    assert "sent a new message instead" in text_of(tool_results(engine.agent.messages)[-1])


def test_code_the_person_sends_is_never_asked_about(settings: Settings, open_sessions: Callable[..., Session]) -> None:
    session, store = new_conversation(settings, open_sessions)
    engine = asking_engine(session, store, STEPS)
    events = finish(engine.start_turn("```python\nprint('mine')\n```"))
    assert events[-1].tool is not None and "mine" in events[-1].tool.text
    assert engine.approval.pending() == []
    engine.approval.set_asking(False)
    events = finish(engine.start_turn("go"))  # the switch off: the agent's step runs at once
    assert any(event.tool is not None and "42" in event.tool.text for event in events)


# -- the page (AppTest) ----------------------------------------------------------------------------------


SHOWN = ("markdown", "code", "info", "caption", "expander")
"""What the page shows of a step: its code, output, notes and the expander's label."""


def _click(app: AppTest, suffix: str) -> AppTest:
    button = next(b for b in app.button if b.key and b.key.startswith("approve_") and b.key.endswith(suffix))
    return run_until_idle(button.click().run())


def test_the_page_asks_keeps_the_step_across_a_reload_and_runs_it(make_app: Callable[..., AppTest]) -> None:
    app = make_app(STEPS)
    app.run()
    switch = next(t for t in app.toggle if t.label == "Ask before running code")
    switch.set_value(True).run()
    send(app, "What is 6 times 7?")
    assert "Waiting for you:" in page_text(app, *SHOWN) and "answer = 6 * 7" in page_text(app, *SHOWN)
    assert "42" not in page_text(app, "code")  # not run: no output (the page's other text may hold a time, 17:42)
    side_panel = "\n".join(str(caption.value) for caption in app.sidebar.caption)
    assert "Waiting for your approval to run Python code" in side_panel, side_panel

    again = make_app(STEPS)  # a reload: a new browser session on the same conversation
    again.query_params["c"] = app.query_params["c"]
    again.run()
    assert next(t for t in again.toggle if t.label == "Ask before running code").value is True
    assert "Waiting for you:" in page_text(again, *SHOWN)
    _click(again, "_run")
    text = page_text(again, *SHOWN)
    assert "Waiting for you:" not in text and "The answer is printed above." in text
    assert "42" in page_text(again, "code")


def test_the_page_edits_then_runs_and_skips_with_a_reason(make_app: Callable[..., AppTest]) -> None:
    steps = [
        STEPS[0],
        {"text": "Ran it."},
        {"tool": "execute_command", "input": {"command": "rm -rf data"}},
        {"text": "I did not delete anything."},
    ]
    app = make_app(steps)
    app.run()
    next(t for t in app.toggle if t.label == "Ask before running code").set_value(True).run()
    send(app, "compute")
    editor = next(t for t in app.text_area if t.key and t.key.endswith("_code"))
    editor.set_value("print(6 * 8)").run()
    _click(app, "_edit")
    assert "48" in page_text(app, *SHOWN) and "You edited the agent's code before running it." in page_text(app, *SHOWN)

    send(app, "clean up")
    assert "rm -rf data" in page_text(app, *SHOWN)
    next(t for t in app.text_input if t.key and t.key.endswith("_reason")).set_value("keep my data").run()
    _click(app, "_skip")
    text = page_text(app, *SHOWN)
    assert "Skipped by you: a shell command" in text and "Their reason: keep my data" in text
    assert "I did not delete anything." in text
