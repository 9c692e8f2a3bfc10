"""The sandbox's life, made visible: idle countdown, restore after expiry, memory and CPU, why the last run died."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from core.chat.engine import ChatEngine
from core.chat.transcript import ChatEvent
from core.notices import asleep_caption, sandbox_restored_notice
from core.types import STOP_EXPLANATIONS


def _last_stop(engine: ChatEngine) -> str:
    for event in reversed(engine.transcript.events()):
        if event.kind == "tool" and event.tool is not None and event.tool.result is not None:
            result = event.tool.result
            return STOP_EXPLANATIONS[result.stopped] if result.stopped else ""
    return ""


def _restore(engine: ChatEngine) -> None:
    report = engine.session.sandbox.restore_variables()  # type: ignore[attr-defined]
    text = sandbox_restored_notice(report)
    engine.add_event(ChatEvent(kind="notice", text=text))
    engine.tell_agent(f"[Note: {text}]")


@st.fragment(run_every=15)
def render_session_life(engine: ChatEngine) -> None:
    """Kernels, idle countdown (or a restore button), memory and CPU, refreshed every 15 seconds."""
    status_of = getattr(engine.session.sandbox, "status", None)
    if status_of is None or engine.busy:
        return
    status = status_of()
    if status.running:
        left = max(status.idle_timeout - status.idle_seconds, 0)
        st.caption(
            f":material/timer: Sandbox running ({', '.join(status.running)}) · shuts down after "
            f"{timedelta(seconds=int(left))} more idle"
        )
    else:
        saved = engine.session.sandbox.variables.waiting()  # type: ignore[attr-defined]
        st.caption(f":material/bedtime: {asleep_caption(saved)}")
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
