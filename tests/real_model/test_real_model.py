"""A real language model drives the app: llama.cpp's server with Gemma 3 270M, through engine and browser.

Opt-in: ``./dev.sh test-real-model`` builds the server (once, 12-13 minutes on 2 cores) and installs the model;
elsewhere these tests are skipped. A model this small is not asked to be clever, only to do what it does
reliably: a tool call happens and its result is shown, a second turn is accepted, the app stays usable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.chat.conversations import ConversationStore
from core.chat.engine import ChatEngine
from core.chat.transcript import ChatEvent
from core.chat.turn import ActiveTurn
from core.config import Settings
from core.models import ModelChoice, build_model
from core.session import Session
from tests.conftest import finish
from tests.e2e.conftest import ARTIFACTS, browser, turn_stop  # noqa: F401  (the browser fixture, shared)
from tests.real_model.llama_server import NOT_INSTALLED, installed, llama_server
from tests.servers import running_app

pytestmark = [
    pytest.mark.skipif(installed() is None, reason=NOT_INSTALLED),
    pytest.mark.timeout(1200),  # a 270M model on 2 shared cores: a turn of a few calls can take minutes
]
MODEL_SETTINGS = {"model_id": "gemma3-270m", "max_tokens": 96, "temperature": 0.0}
QUESTIONS = ("What is 6 * 7? Use Python.", "Now print the word hello with Python.")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The OpenAI base URL of a running llama-server with the model."""
    found = installed()
    assert found is not None
    with llama_server(*found) as url:
        yield url


def _phases_seen(turn: ActiveTurn) -> list[tuple[str, str]]:
    """The live step's phase and code each time they changed, until the turn ended (drawn as the page draws it)."""
    seen: list[tuple[str, str]] = []
    version = -1
    while not turn.done:
        snapshot = turn.wait(version, 5)
        version = snapshot.version
        step = snapshot.live_step
        state = (step.phase, str(step.input.get("code") or step.input.get("command") or "")) if step else ("", "")
        if not seen or seen[-1] != state:
            seen.append(state)
    return seen


def _errors(events: list[ChatEvent]) -> list[str]:
    return [event.text for event in events if event.kind == "notice" and event.level == "error"]


def test_the_engine_runs_two_turns_with_tool_calls(
    base_url: str, settings: Settings, open_sessions: Callable[..., Session]
) -> None:
    store = ConversationStore(settings)
    session = open_sessions(store.create().id, settings.model_copy(update={"max_tool_calls_per_turn": 3}))
    model = build_model(ModelChoice(provider="openai", base_url=base_url, **MODEL_SETTINGS))  # type: ignore[arg-type]
    engine = ChatEngine(session, model, "gemma", store)

    phases = _phases_seen(engine.start_turn(QUESTIONS[0]))
    first = finish(engine.turn)  # type: ignore[arg-type]
    second = finish(engine.start_turn(QUESTIONS[1]))

    written = [code for phase, code in phases if phase == "writing" and code]
    assert written, f"no tool call's code was shown while the model wrote it: {phases[:10]}"
    assert phases.index(("writing", written[0])) < min(
        (i for i, (phase, _) in enumerate(phases) if phase == "running"), default=len(phases)
    ), "the code showed only once the step ran"

    steps = [event.tool for event in first if event.kind == "tool" and event.tool is not None]
    assert steps, f"the model called no tool: {[(e.kind, e.text[:80]) for e in first]}"
    assert steps[0].tool in {"execute_code", "execute_command", "file_operations"}
    assert steps[0].result is not None or steps[0].text, "the tool call has no result to show"
    # A tiny model may still write a call longer than max_tokens: that is said in plain words, nothing else fails.
    unexplained = [e for e in _errors(first) + _errors(second) if "tokens" not in e and "token limit" not in e]
    assert unexplained == [], unexplained
    assert second[0].kind == "user" and second[0].text == QUESTIONS[1]
    assert len(second) > 1, "the second turn produced nothing"


def test_the_browser_shows_a_real_models_tool_call_and_a_second_turn(
    base_url: str,
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    variables = {
        "INTERPRETER_MODEL_PROVIDER": "openai",
        "INTERPRETER_OPENAI_BASE_URL": base_url,
        "INTERPRETER_MODEL_ID": "gemma3-270m",
        "INTERPRETER_MODEL_MAX_TOKENS": "96",
        "INTERPRETER_MODEL_TEMPERATURE": "0",
        "INTERPRETER_MAX_TOOL_CALLS_PER_TURN": "3",
    }
    with running_app(tmp_path / "data", **variables) as (port, _):
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}")
        chat_input = page.locator("[data-testid=stChatInputTextArea]")
        for question in QUESTIONS:
            chat_input.fill(question)
            chat_input.press("Enter")
            expect(page.get_by_text(question, exact=True).first).to_be_visible(timeout=30_000)
            expect(turn_stop(page)).to_have_count(0, timeout=180_000)
        step = page.locator("[data-testid=stChatMessage] [data-testid=stExpander]").first
        expect(step).to_be_visible()
        expect(chat_input).to_be_enabled()
        page.screenshot(path=str(ARTIFACTS / "real-model-chat.png"), full_page=True)
        context.close()
