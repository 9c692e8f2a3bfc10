"""The chat page under Streamlit's AppTest, with the scripted model and real sandboxes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from components.state import engine_registry
from core.chat.engine import ChatEngine
from tests.conftest import (
    RecordedMediaFiles,
    clicked,
    fetched,
    page_text,
    run_until_idle,
    sandbox_of,
    send,
    shown_until,
)
from tests.processes import descendants, process_table

REPO = Path(__file__).resolve().parents[1]
CHART_CODE = (
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nimport pandas as pd\n"
    "df = pd.read_csv('data/numbers.csv')\nprint('rows', len(df))\ndf.plot(x='x', y='y')\nplt.savefig('chart.png')\ndf"
)
STUBBORN = (  # ignores interrupts until the test writes the file ``go``
    "import os, time\nprint('waiting')\nwhile not os.path.exists('go'):\n    try:\n        time.sleep(0.02)\n"
    "    except KeyboardInterrupt:\n        pass\n"
)


def test_scripted_turn_shows_tool_step_table_chart_and_answer(make_app: Callable[..., AppTest]) -> None:
    steps = [
        {
            "tool": "execute_command",
            "input": {"command": "mkdir -p data && printf 'x,y\\n1,2\\n2,4\\n' > data/numbers.csv"},
        },
        {"tool": "execute_code", "input": {"code": CHART_CODE, "output_filename": "chart.png"}},
        {"text": "Here is the chart of y over x."},
    ]
    app = make_app(steps)
    app.run()
    assert any("scripted model" in str(c.value) for c in app.caption)
    send(app, "Plot y over x")
    assert not app.exception
    text = page_text(app, "markdown", "code")
    assert "Plot y over x" in text and "Here is the chart of y over x." in text
    assert "rows 2" in text and "df.plot(x='x', y='y')" in text
    assert len(app.dataframe) >= 1
    assert list(app.dataframe[0].value["y"]) == [2, 4]
    assert any(e.label.startswith("Ran python code") for e in app.expander)


def test_without_a_model_code_blocks_run_directly(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    assert any("No model is configured" in e.label for e in app.expander)
    send(app, "```python\nanswer = 6 * 7\nprint(answer)\n```")
    assert "42" in page_text(app, "markdown", "code")
    assert any("(run by you)" in e.label for e in app.expander)
    send(app, "!echo shell works")
    assert "shell works" in page_text(app, "markdown", "code")
    send(app, "```python\nprint('![x](http://127.0.0.1:9/i.png)')\n```")  # shown once, as sent, in its step
    assert [c.value for c in app.code].count("print('![x](http://127.0.0.1:9/i.png)')") == 1
    assert "Sent Python code to run (1 line); it is shown in the step below." in page_text(app, "markdown", "code")
    assert "echo shell works" in [c.value for c in app.code]
    assert "Sent a shell command to run; it is shown in the step below." in page_text(app, "markdown", "code")
    send(app, "What is the mean?")
    assert any("INTERPRETER_MODEL_PROVIDER" in str(w.value) for w in app.warning)


def test_conversation_and_variables_survive_a_new_browser_session(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    send(app, "```python\nkept = 'remember ' + 'me'\nprint(kept)\n```")
    conversation_id = app.query_params["c"][0] if isinstance(app.query_params["c"], list) else app.query_params["c"]
    again = make_app(None)  # a reload: a new browser session on the same conversation
    again.query_params["c"] = conversation_id
    again.run()
    assert "remember me" in page_text(again, "markdown", "code")
    assert not any("variables from before were lost" in str(i.value) for i in again.info)
    send(again, "```python\nprint(kept.upper())\n```")
    assert "REMEMBER ME" in page_text(again, "markdown", "code")


def _stop_button(app: AppTest) -> Any:
    (button,) = [button for button in app.button if button.key == "stop_turn"]
    return button


def test_stop_says_it_was_taken_and_the_next_question_is_answered(make_app: Callable[..., AppTest]) -> None:
    """Code may take seconds to end after Stop: the button says so and takes no second click. A Stop of code sent
    to run directly (the agent not running) once cancelled the agent's next turn: "Stopped." came at once."""
    app = make_app([{"text": "Here is my answer."}])
    app.run()
    app.chat_input[0].set_value(f"```python\n{STUBBORN}```").run()
    shown_until(app, lambda text: "waiting" in text, "the code to run")
    assert _stop_button(app).label == "Stop" and not _stop_button(app).disabled
    _stop_button(app).click().run()
    assert _stop_button(app).label == "Stopping …" and _stop_button(app).disabled
    sandbox_of(app).write_file("go", b"")
    run_until_idle(app)
    send(app, "What happened?")
    assert "Here is my answer." in page_text(app, "markdown")


def test_new_and_switch_conversations(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    send(app, "!echo first")
    first_id = app.query_params["c"]
    app.sidebar.button[0].click().run()  # New conversation
    assert app.query_params["c"] != first_id
    assert "first" not in page_text(app, "markdown", "code")


def test_a_long_conversation_shows_its_latest_steps_and_earlier_ones_on_request(
    make_app: Callable[..., AppTest], tmp_path: Path
) -> None:
    from core.chat.conversations import ConversationStore
    from core.chat.transcript import ChatEvent
    from core.config import Settings

    store = ConversationStore(Settings(data_dir=tmp_path / "data"))
    conversation = store.create()
    transcript = store.transcript(conversation.id)
    for number in range(60):
        transcript.append(ChatEvent(kind="user", text=f"question {number}"))
        transcript.append(ChatEvent(kind="assistant", text=f"answer {number}"))
    app = make_app(None)
    app.query_params["c"] = conversation.id
    app.run()
    shown = page_text(app, "markdown", "code")
    assert "answer 59" in shown and "question 52" in shown and "answer 51" not in shown
    earlier = next(b for b in app.button if b.key == "show_earlier")
    assert earlier.label == "Show earlier messages and steps (104 more)"  # what it counts: both
    earlier.click().run()
    assert "answer 44" in page_text(app, "markdown", "code") and "answer 40" not in page_text(app, "markdown", "code")


def test_fresh_tabs_never_lock_a_person_out(make_app: Callable[..., AppTest]) -> None:
    """More fresh tabs than INTERPRETER_USER_MAX_SESSIONS (5): the least recently used idle engines make room,
    closed for real (sandbox closed, the kernel's processes gone), and the latest five stay open."""
    registry = engine_registry()
    engines: list[ChatEngine] = []
    kernel_processes: list[int] = []
    for number in range(7):
        app = make_app(None)
        app.run()
        assert not app.error, [e.value for e in app.error]
        engine = registry.get("local", app.query_params["c"])
        assert engine is not None
        engines.append(engine)
        if number == 0:
            send(app, "```python\nprint('the first tab ran code')\n```")
            launcher = engine.session.sandbox._kernels["python"].process  # type: ignore[attr-defined]
            kernel_processes = [launcher.pid, *(p.pid for p in descendants(launcher.pid))]
    assert [e.session.sandbox.closed for e in engines] == [True, True, False, False, False, False, False]
    assert {id(e) for e in registry.engines("local")} == {id(e) for e in engines[2:]}
    table = process_table()
    assert len(kernel_processes) >= 2 and not [p for p in kernel_processes if p in table and table[p].running]


def test_files_a_step_made_and_files_the_answer_names_can_be_downloaded(
    make_app: Callable[..., AppTest], tmp_path: Path, media_files: list[RecordedMediaFiles]
) -> None:
    from streamlit.testing.v1.element_tree import DownloadButton

    code = "import os\nos.makedirs('out', exist_ok=True)\nopen('out/table.csv', 'w').write('a,b\\n1,2\\n')"
    answer = "Saved [the table](sandbox:/mnt/data/out/table.csv); [the old one](sandbox:/mnt/data/old.csv) is gone."
    app = make_app([{"tool": "execute_code", "input": {"code": code}}, {"text": answer}])
    app.run()
    send(app, "Make a table")
    assert not app.exception, [e.message for e in app.exception]
    step = next(e for e in app.expander if e.label.startswith("Ran python code"))
    assert any("out/table.csv · 8 B" in c.value for c in step.caption)
    downloads = [b for b in app.get("download_button") if isinstance(b, DownloadButton)]
    step_files = [b for b in downloads if str(b.key).startswith("step_")]  # under the step and the answer
    assert [clicked(b, media_files) for b in step_files] == [b"a,b\n1,2\n"] * 2
    shown = page_text(app, "markdown", "code")
    link = re.search(
        r"Saved \[the table\]\(<(/download/[\w-]+)>\); the old one \(sandbox:/mnt/data/old.csv\) is gone.", shown
    )
    assert link is not None, shown
    assert fetched(link.group(1)) == b"a,b\n1,2\n"  # the link in the text downloads the file
    assert "](sandbox:" not in shown

    save = next(b for b in step.button if b.help == "Save to workspace")
    save.click().run()
    assert any("Saved to the workspace: code-interpreter/table.csv" in t.value for t in app.toast)
    (saved,) = tmp_path.glob("data/sessions/*/*/workspace/code-interpreter/table.csv")
    assert saved.read_bytes() == b"a,b\n1,2\n"


def test_a_picture_the_answer_embeds_from_the_sandbox_is_drawn(make_app: Callable[..., AppTest]) -> None:
    code = (
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "plt.plot([1, 3, 2])\nplt.savefig('chart.png')\nopen('notes.svg', 'w').write('<svg/>')"
    )
    answer = "Here: ![the chart](sandbox:/mnt/data/chart.png) ![drawing](notes.svg) ![gone](sandbox:/mnt/data/x.png)"
    app = make_app([{"tool": "execute_code", "input": {"code": code}}, {"text": answer}])
    app.run()
    send(app, "Draw it")
    assert not app.exception, [e.message for e in app.exception]
    shown = page_text(app, "markdown", "code")
    assert re.search(r"Here: \[the chart\]\(<[^>]+>\) \[drawing\]\(<[^>]+>\) gone \(sandbox:/mnt/data/x.png\)", shown)
    pictures = [image for node in app.main if node.type == "image" for image in node.proto.imgs]  # type: ignore[attr-defined]
    named = [image.caption for image in pictures if image.caption]  # the step's own figure has no caption
    assert named == ["chart.png"]  # the PNG; not the SVG, not the missing file


def test_a_callback_delivered_twice_acts_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import streamlit as st

    from components import state

    monkeypatch.setattr(st, "session_state", {})
    assert state.first_delivery("chat_input", "hello")
    assert not state.first_delivery("chat_input", "hello")  # Streamlit's repeat, milliseconds later
    assert state.first_delivery("chat_input", "something else")
    assert state.first_delivery("rerun_edited", "something else")  # another action
    monkeypatch.setattr(state, "REPEAT_SECONDS", 0.0)
    assert state.first_delivery("chat_input", "something else")  # sent again later: a new message


def test_a_message_submitted_twice_is_sent_once(make_app: Callable[..., AppTest], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Streamlit can deliver the chat input's submit twice; the page runs one turn for it, while the same text
    sent again later, and another text, are new messages."""
    from components import state

    monkeypatch.setattr(state, "REPEAT_SECONDS", 3600.0)  # the repeat arrives "at once", however slow this machine
    app = make_app(None)
    app.run()
    app.chat_input[0].set_value("!echo sent-once").run()
    app.chat_input[0].set_value("!echo sent-once").run()  # the repeated delivery, while the first turn may run
    run_until_idle(app)
    engine = engine_registry().get("local", app.query_params["c"])
    assert engine is not None and engine.turns_started == 1
    assert [c.value for c in app.code].count("echo sent-once") == 1
    monkeypatch.setattr(state, "REPEAT_SECONDS", 0.0)
    send(app, "!echo sent-once")  # the same text sent again later: a new message
    assert engine.turns_started == 2 and [c.value for c in app.code].count("echo sent-once") == 2


def test_the_conversation_comes_back_when_the_url_loses_it(make_app: Callable[..., AppTest]) -> None:
    """Chat → Settings → Chat: ``st.navigation`` drops ``?c=``; the tab returns to its conversation, not a new one."""
    app = make_app(None)
    app.run()
    send(app, "```python\nprint('kept ' + 'here')\n```")
    conversation = app.query_params["c"]
    app.query_params.clear()  # what switching pages does
    app.run()
    assert app.query_params["c"] == conversation
    assert "kept here" in page_text(app, "markdown", "code")


def test_an_empty_conversation_offers_starting_points_and_no_exports(make_app: Callable[..., AppTest]) -> None:
    app = make_app([{"text": "An answer."}])
    app.run()
    assert any("Where to start" in str(m.value) for m in app.markdown)
    assert not [b for b in app.get("download_button")]
    question = next(b for b in app.button if b.key == "example_question_0")
    question.click().run()
    run_until_idle(app)
    shown = page_text(app, "markdown", "code")
    assert "What is in the files I uploaded?" in shown and "An answer." in shown
    assert not any("Where to start" in str(m.value) for m in app.markdown)
    assert [b for b in app.get("download_button")]
