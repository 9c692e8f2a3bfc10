"""The sandbox's life, made visible: idle countdown, restore after expiry, memory and CPU, why the last run died."""

from __future__ import annotations

import streamlit as st

from components.fragments import steady_fragment
from core.chat.engine import ChatEngine
from core.chat.notices import asleep_caption, sandbox_restored_notice
from core.chat.transcript import SESSION_NOTICE, ChatEvent
from core.sandbox.local.sandbox import SandboxStatus
from core.text import spoken_duration
from core.types import STOP_EXPLANATIONS, VariablesReport

REFRESH_SECONDS = 15
BUSY_REFRESH_SECONDS = 2


def _last_stop(engine: ChatEngine) -> str:
    for event in reversed(engine.transcript.events()):
        if event.kind == "tool" and event.tool is not None and event.tool.result is not None:
            result = event.tool.result
            return STOP_EXPLANATIONS[result.stopped] if result.stopped else ""
    return ""


def _restore(engine: ChatEngine) -> None:
    report = engine.session.sandbox.restore_variables()  # type: ignore[attr-defined]
    text = sandbox_restored_notice(report)
    engine.add_event(ChatEvent(kind="notice", text=text, source=SESSION_NOTICE))
    engine.tell_agent(f"[Note: {text}]")


KERNEL_LANGUAGES = {
    "python": "Python",
    "deno": "JavaScript/TypeScript",
    "javascript": "JavaScript",
    "typescript": "TypeScript",
    "r": "R",
}


def _languages(kernels: list[str]) -> str:
    """The running kernels, named by the languages they run ("Python, JavaScript/TypeScript")."""
    return ", ".join(KERNEL_LANGUAGES.get(kind, kind) for kind in kernels)


def _step_subject(tool: str, tool_input: dict[str, object]) -> str:
    if tool == "execute_code":
        language = str(tool_input.get("language") or "python")
        return f"{KERNEL_LANGUAGES.get(language, language.capitalize())} code"
    if tool == "execute_command":
        return "a background shell command" if tool_input.get("background") else "a shell command"
    return OWN_TOOL_SUBJECTS.get(tool, f"the tool “{tool}”")  # an MCP server's tool: by the name the model uses


OWN_TOOL_SUBJECTS = {
    "command_task": "a check of a background command",
    "file_operations": "a file operation",
    "ci_push_to_workspace": "a save to the workspace",
    "workspace_list": "a look at the workspace",
    "workspace_read": "a read from the workspace",
}


def activity(engine: ChatEngine) -> str:
    """What a busy conversation is doing now: a step running, waiting for approval, or the model writing."""
    turn = engine.turn
    snapshot = turn.snapshot() if turn is not None else None
    step = snapshot.live_step if snapshot is not None else None
    if step is not None and step.phase == "running":
        return f":material/directions_run: Running {_step_subject(step.tool, step.input)}"
    if step is not None:
        return f":material/edit_note: The model is writing {_step_subject(step.tool, step.input)}"
    if pending := engine.approval.pending():
        return (
            f":material/front_hand: Waiting for your approval to run {_step_subject(pending[0].tool, pending[0].input)}"
        )
    if snapshot is not None and snapshot.partial_text.strip():
        return ":material/edit_note: The model is writing its answer"
    return ":material/psychology: The model is thinking"


def _life_caption(engine: ChatEngine, status: SandboxStatus, saved: VariablesReport | None) -> str:
    """One line on the sandbox's state: not started yet, starting, running, idle (with the countdown), asleep."""
    kernels = _languages(status.running)
    if engine.busy or engine.approval.pending():
        return activity(engine)
    if not status.ever_ran and saved is None:
        if status.running:
            return f":material/hourglass_empty: Sandbox ready ({kernels} started): nothing has run yet."
        return ":material/hourglass_empty: Sandbox ready: nothing has run yet. A kernel starts at the first run."
    jobs = sum(task.running for task in engine.session.sandbox.tasks())
    if jobs:
        return f":material/terminal: {jobs} background command{'s' * (jobs != 1)} running ({kernels or 'no kernel'})"
    if status.running:
        left = int(status.idle_timeout - status.idle_seconds)
        if left <= 0:
            return f":material/timer: Sandbox idle ({kernels}) · unused long enough: shutting down now"
        return f":material/timer: Sandbox idle ({kernels}) · shuts down after {spoken_duration(left)} without use"
    if status.asleep or saved is not None:
        return f":material/bedtime: {asleep_caption(saved)}"
    return ":material/hourglass_empty: No kernel runs now: a new one starts at the next run."


def render_session_life(engine: ChatEngine) -> None:
    """The sandbox's state (running what, idle countdown, asleep with a restore button), memory and CPU.

    A fragment that redraws itself every 15 seconds, every 2 while a turn runs (so its end shows soon).
    """
    every = BUSY_REFRESH_SECONDS if engine.busy else REFRESH_SECONDS
    steady_fragment("session-life", _render_life, every, engine)


def _render_life(engine: ChatEngine) -> None:
    status_of = getattr(engine.session.sandbox, "status", None)
    if status_of is None:
        return
    status = status_of()
    store = getattr(engine.session.sandbox, "variables", None)
    saved = store.waiting() if store is not None and not status.running else None
    st.caption(_life_caption(engine, status, saved))
    if not engine.busy and not status.running and (status.asleep or saved is not None):
        st.button(
            "Restore sandbox",
            key="session_life_restore",
            icon=":material/restart_alt:",
            on_click=_restore,
            args=(engine,),
        )
    figures = []
    if status.memory_used is not None:
        figures.append(f"memory {status.memory_used / 2**20:,.0f} of {status.memory_limit / 2**20:,.0f} MB")
    if status.cpu_seconds is not None:
        figures.append(f"CPU {status.cpu_seconds:,.1f} s")
    if figures:
        st.caption(" · ".join(figures))
    if reason := _last_stop(engine):
        st.caption(f":material/warning: Last run: {reason}")
