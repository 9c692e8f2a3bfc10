"""Ask before running code: the conversation's switch, and the steps that wait for the person's answer."""

from __future__ import annotations

import hashlib

import streamlit as st

from core.chat.approval import Answer, PendingStep
from core.chat.engine import ChatEngine
from core.text import escape_markdown

SKIPPED_ICON = ":material/skip_next:"
SWITCH_HELP = (
    "When on, each code or shell step (and each MCP tool call) the agent proposes waits for you: run it, edit it "
    "first, or skip it with a reason the agent receives. Code you send yourself always runs."
)


def skipped_title(tool: str, language: str) -> str:
    """The title of a step the person skipped (``language`` ``json``: a call of an MCP server's tool)."""
    what = "a shell command" if tool == "execute_command" else f"{language} code"
    if language == "json":
        what = f"a call to {tool}"
    return escape_markdown(f"Skipped by you: {what[:80]}")


def _toggle(engine: ChatEngine, key: str) -> None:
    engine.approval.set_asking(bool(st.session_state.get(key)))


def render_ask_switch(engine: ChatEngine) -> None:
    """The conversation's "Ask before running code" switch (with a model only: direct runs are never asked)."""
    if engine.agent is None:
        return
    key = f"ask_before_running_{engine.session.conversation_id}"
    st.session_state[key] = engine.approval.asking  # another tab may have changed it
    st.toggle(
        "Ask before running code",
        key=key,
        help=SWITCH_HELP,
        on_change=_toggle,
        args=(engine, key),
    )


def _answer(engine: ChatEngine, step: PendingStep, action: str, key: str) -> None:
    if action == "edit":
        answer = Answer("edit", code=str(st.session_state.get(f"{key}_code", step.code)))
    elif action == "skip":
        answer = Answer("skip", reason=str(st.session_state.get(f"{key}_reason", "")))
    else:
        answer = Answer("run")
    engine.answer_step(step.interrupt_id, answer)


def _step_key(step: PendingStep) -> str:
    return "approve_" + hashlib.sha256(step.interrupt_id.encode()).hexdigest()[:12]


def render_pending_step(engine: ChatEngine, step: PendingStep) -> None:
    """One waiting step: its code, and Run, Edit then run, or Skip with a reason."""
    key = _step_key(step)
    what = "run this shell command" if step.tool == "execute_command" else f"run this {step.language} code"
    if step.server:
        what = f"call the tool {step.tool[:80]} of the MCP server {step.server} with these arguments"
    with st.chat_message("assistant"), st.container(border=True):
        st.markdown(f":material/front_hand: **Waiting for you:** the agent wants to {escape_markdown(what)}.")
        st.code(step.code, language=step.language)
        run, edit, skip = st.columns(3)
        run.button("Run", key=f"{key}_run", type="primary", icon=":material/play_arrow:",
                   on_click=_answer, args=(engine, step, "run", key))  # fmt: skip
        with edit.popover("Edit then run", icon=":material/edit:"):
            st.text_area("Arguments (JSON)" if step.server else "Code", value=step.code, key=f"{key}_code", height=220)
            st.button("Run the edited code", key=f"{key}_edit", type="primary",
                      on_click=_answer, args=(engine, step, "edit", key))  # fmt: skip
        with skip.popover("Skip", icon=SKIPPED_ICON):
            st.text_input("Why? (the agent is told)", key=f"{key}_reason", max_chars=2000)
            st.button("Skip this step", key=f"{key}_skip", on_click=_answer, args=(engine, step, "skip", key))


def render_pending_steps(engine: ChatEngine) -> None:
    """The steps the agent proposed that wait for the person (they wait across reloads and restarts)."""
    if engine.busy:
        return
    for step in engine.approval.pending():
        render_pending_step(engine, step)
