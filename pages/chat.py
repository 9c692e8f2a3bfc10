"""The chat page: the conversation, the streaming turn with its tool steps, uploads and the side panel."""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from components.chat import render_event, render_running_tool, render_transcript
from components.conversations import render_conversations
from components.export import render_export_buttons
from components.sandbox_panel import render_isolation, render_live_files
from components.session_life import render_session_life
from components.side_panel import render_side_panel
from components.state import chat_engine, current_conversation_id, holder
from components.uploads import preload_uploads
from core.agent import ActiveTurn, ChatEngine
from core.errors import InterpreterError
from core.models import how_to_configure

PLACEHOLDER = "Ask about your data — or send a ```python``` block or a !shell command to run it directly"
POLL_SECONDS = 0.3


def follow_turn(engine: ChatEngine, turn: ActiveTurn, already_shown: int, live_files: DeltaGenerator) -> None:
    """Draw a running turn as it streams until it ends: text, finished tool steps, the tool running now."""
    st.button("Stop", key="stop_turn", icon=":material/stop_circle:", on_click=engine.stop)
    with st.chat_message("assistant"):
        body = st.container()
        live = st.empty()
    shown, version = already_shown, -1
    while True:
        snapshot = turn.wait(version, POLL_SECONDS)
        version = turn.version
        new_events = snapshot.events[shown:]
        for event in new_events:
            with body:
                render_event(event)
        if any(event.kind == "tool" for event in new_events):
            render_live_files(live_files, engine.session)
        shown = len(snapshot.events)
        with live.container():
            if snapshot.partial_text:
                st.markdown(snapshot.partial_text + " ▌")
            if snapshot.running_tool is not None:
                render_running_tool(*snapshot.running_tool)
        if snapshot.done:
            break
    live.empty()


conversation_id = current_conversation_id()
try:
    engine = chat_engine(conversation_id)
except InterpreterError as exc:  # a quota, or a cloud backend that cannot be reached
    st.error(str(exc))
    st.stop()
state = holder()

# st.chat_input always sits at the bottom; reading it first lets this run show the new turn at once.
message = st.chat_input(PLACEHOLDER, accept_file="multiple", disabled=engine.busy, key="chat_input")
if message is not None and not engine.busy:
    if message.files:
        preload_uploads(engine, message.files)
    if message.text.strip():
        engine.start_turn(message.text)

with st.sidebar:
    render_conversations(conversation_id)
    uploads = st.file_uploader("Upload files (ZIPs are unpacked)", accept_multiple_files=True, key="uploader")
    if uploads:
        preload_uploads(engine, uploads)
    render_isolation(engine.session.sandbox.isolation_report())
    live_files = st.empty()
    if not engine.busy:  # while a turn runs, live_files shows the files without widgets
        render_session_life(engine)
        render_side_panel(engine.session)
        render_export_buttons(engine)

st.caption(f"Model: {engine.model_label}")
if state.model_error:
    st.error(f"The model could not be set up: {state.model_error} Code blocks you send still run directly.")
elif engine.agent is None:
    with st.expander(
        "No model is configured: code blocks you send run directly. How to add a model", icon=":material/info:"
    ):
        st.markdown(how_to_configure())

turn = engine.turn if engine.busy else None
if turn is not None:
    with turn.changed:  # the transcript and the turn's events, read consistently
        events, shown = engine.transcript.events(), len(turn.events)
else:
    events, shown = engine.transcript.events(), 0
render_transcript(events, rerun=None if turn is not None else engine.start_turn)
if turn is not None:
    follow_turn(engine, turn, shown, live_files)
    st.rerun()
