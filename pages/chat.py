"""The chat page: the recent conversation, the turn running now (live, in a fragment), uploads and the side panel.

The page script only draws and returns: a turn runs in its engine's thread on the server, and the fragment
``live_turn`` alone reruns while it does. A message sent meanwhile waits in the engine's queue.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.runtime.scriptrunner import get_script_run_ctx

from components.app_preview import commands_run, render_app_previews, served_ports
from components.approval import render_ask_switch, render_pending_steps
from components.chat import LiveText, render_chat_input, render_events, render_live_code, render_live_step
from components.conversations import render_conversations
from components.export import conversation_title, render_export_buttons
from components.fragments import steady_fragment
from components.mcp_panel import render_mcp_servers
from components.results import prefetch_result_code
from components.sandbox_panel import render_isolation
from components.session_life import render_session_life
from components.side_panel import render_side_panel
from components.state import chat_engine, current_conversation_id, first_delivery
from components.tasks import render_background_tasks
from components.uploads import preload_uploads, render_uploader
from core.chat.engine import ChatEngine
from core.chat.turn import ActiveTurn, LiveStep
from core.errors import InterpreterError
from core.files.outputs import SessionFiles
from core.mcp.hub import hub_for
from core.models import how_to_configure
from core.text import escape_markdown, safe_markdown

PLACEHOLDER = "Ask about your data — or send a ```python``` block or a !shell command to run it directly"
LIVE_REFRESH_SECONDS = 0.25
TEXT_EVERY_SECONDS = 0.3  # while only answer text streams, its element is updated at most this often
TEXT_QUIET_SECONDS = 0.5  # ... until the text pauses this long: then the fragment is drawn again as a whole
# ... or at the latest after this long. Meanwhile the page's other fragments wait for their runs (each run costs
# the browser a redraw of the whole page: a run every 3 s was a fifth of what watching an answer cost). While text
# streams, nothing inside the fragment can be clicked and the side panel's status does not change.
TEXT_LONGEST_SECONDS = 10.0
SHARED_LONGEST_SECONDS = 3.0  # ... instead, while a background command runs: its output shows live below
# With no turn running, how often the page looks for one started elsewhere (another tab) and for an app the sandbox
# began to serve since: each look is a run that costs the browser a redraw of the whole page.
IDLE_REFRESH_SECONDS = 5.0
FIRST_IDLE_SECONDS = 1.5  # until the tab's first idle tick loaded the code of tables and code blocks (prefetch)
QUICK_TURN_SECONDS = 0.3  # after sending, wait this long for a quick run to end: it is drawn finished at once
WINDOW_EVENTS = 16  # the latest events shown; earlier ones are behind "Show earlier messages and steps"
SENT_KEY = "chat_sent"
PREFETCHED_KEY = "chat_prefetched"


def _send(engine: ChatEngine) -> None:
    """The chat input's callback: uploads go into the sandbox, the text starts a turn or joins the queue."""
    message = st.session_state.get("chat_input")
    if message is None or not first_delivery("chat_input", message.text, *(f.file_id for f in message.files)):
        return
    if message.files:
        preload_uploads(engine, message.files)
    if message.text.strip():
        engine.submit(message.text)
        st.session_state[SENT_KEY] = True


EXAMPLE_QUESTIONS = (
    "What is in the files I uploaded?",
    "Which month had the most revenue? Draw a chart.",
    "Clean up the data and save it as a CSV in the workspace.",
)
EXAMPLE_RUNS = (
    ("Run Python: print the version", "```python\nimport sys\nprint(sys.version)\n```"),
    ("Run a shell command: list the sandbox's files", "!ls -la"),
)


def _send_example(engine: ChatEngine, text: str) -> None:
    """A starting point's callback: send its message as if typed."""
    if first_delivery("example", text):
        engine.submit(text)
        st.session_state[SENT_KEY] = True


def _is_empty(engine: ChatEngine) -> bool:
    """Whether nothing happened in the conversation yet (no message, no upload, no turn)."""
    return len(engine.transcript) == 0 and engine.turn is None and not engine.queued


def _nothing_asked(engine: ChatEngine) -> bool:
    """Whether nobody has asked or run anything yet (uploads may have come): the starting points still help."""
    if engine.turn is not None or engine.queued:
        return False
    return not any(event.kind in ("user", "tool", "assistant") for event in engine.transcript.events())


def render_starting_points(engine: ChatEngine) -> None:
    """What an empty conversation offers a newcomer: upload a file, example questions, code to run.

    A click on an example sends it. Questions are offered only with a model; code runs without one.
    """
    st.markdown("#### Where to start")
    st.markdown(
        "- **Upload a file**: drop it on the uploader in the side panel or attach it to a message with the "
        "**+** of the chat box. A ZIP is unpacked in the sandbox. To try the app, upload `examples/sales.zip` from its "
        "folder.\n"
        "- **Ask about your data** in the box at the bottom"
        + (", or try one of these:" if engine.agent is not None else " (once a model is set up).")
    )
    if engine.agent is not None:
        _example_buttons(engine, [(question, question) for question in EXAMPLE_QUESTIONS], "question", "chat")
    r_block = ", ` ```r `" if "r" in getattr(engine.session.sandbox, "languages", ()) else ""
    st.markdown(
        "- **Run code yourself**, no model needed: send a message that is one ` ```python ` block (or "
        f"` ```javascript `, ` ```typescript `{r_block}, ` ```bash `), or start it with `!` for a shell command."
    )
    _example_buttons(engine, EXAMPLE_RUNS, "run", "play_arrow")


def _example_buttons(engine: ChatEngine, examples: Sequence[tuple[str, str]], kind: str, icon: str) -> None:
    """One button per (label, message): a click sends the message."""
    for number, (label, message) in enumerate(examples):
        st.button(
            label,
            key=f"example_{kind}_{number}",
            icon=f":material/{icon}:",
            on_click=_send_example,
            args=(engine, message),
        )


def _window_key(engine: ChatEngine) -> str:
    return f"window_{engine.session.conversation_id}"


def _show_earlier(engine: ChatEngine) -> None:
    key = _window_key(engine)
    st.session_state[key] = st.session_state.get(key, WINDOW_EVENTS) + WINDOW_EVENTS


def render_history(engine: ChatEngine) -> None:
    """The latest finished events, the running turn's among them, with a button for earlier ones.

    The running turn's finished steps are drawn here, once, not in the live fragment: redrawn there four times a
    second, a turn of many short steps kept Chromium busy enough to slow a local model on the same machine.
    """
    events, first = engine.transcript.tail(int(st.session_state.get(_window_key(engine), WINDOW_EVENTS)))
    if first > 0:
        st.button(
            f"Show earlier messages and steps ({first:,} more)",
            key="show_earlier",
            icon=":material/history:",
            on_click=_show_earlier,
            args=(engine,),
        )
    render_events(events, first=first, rerun=engine.submit, files=SessionFiles(engine.session))


def _cancel_queued(engine: ChatEngine, number: int, text: str) -> None:
    if first_delivery("cancel_queued", number, text):
        engine.cancel_queued(number)


def _render_queue(engine: ChatEngine) -> None:
    for number, text in enumerate(list(engine.queued)):
        with st.chat_message("user"):
            st.markdown(safe_markdown(text))
            st.caption(":material/schedule: Queued: runs when the current turn ends.")
            st.button("Cancel", key=f"cancel_queued_{number}", on_click=_cancel_queued, args=(engine, number, text))


def _turn_state(engine: ChatEngine) -> tuple[int, bool, int]:
    """Which turn the engine has, whether it runs and how many events it finished.

    When this changes, the whole page is drawn again (a finished step joins the history).
    """
    turn = engine.turn
    if turn is None:
        return (0, False, 0)
    with turn.changed:
        return (turn.number, not turn.done, len(turn.events))


def live_turn(engine: ChatEngine, drawn_state: tuple[int, bool, int], drawn_apps: tuple[int, ...]) -> None:
    """What the running turn is doing now, redrawn alone several times a second: streaming text or the live step.

    It runs (more slowly) while no turn runs too, to notice a turn started elsewhere (another tab), or an app the
    sandbox began or stopped serving (the side panel's previews keep no timer of their own then). It always sits in
    the same container, so a late timer tick still finds it after the page was drawn again.
    """
    engine.watched()
    if _turn_state(engine) != drawn_state:
        st.rerun()  # a turn ended or began, or a step finished: the whole page shows it
    turn = engine.turn
    if turn is None or turn.done:
        if served_ports(engine.session.sandbox) != drawn_apps:
            st.rerun()
        if _only_this_fragment_runs() and not st.session_state.get(PREFETCHED_KEY):
            prefetch_result_code()  # the page is usable and idle now: load the code of tables and code blocks
            st.session_state[PREFETCHED_KEY] = True  # once per tab: the browser keeps the code it loaded
        return
    snapshot = turn.snapshot()
    with st.chat_message("assistant"):
        # Two slots, always both drawn: while the text streams below, the run is not over, and whatever an earlier
        # run drew in a slot this run skipped would still show. A slot with something in it is a container, drawn
        # again with its elements kept (see ``LiveText``); one with nothing is an ``st.empty``.
        live_text = None
        if snapshot.partial_text:
            live_text = LiveText(st.container(), snapshot.partial_text)
        else:
            st.empty()
        if snapshot.live_step is not None:
            with st.container():
                code_box = render_live_step(snapshot.live_step)
        elif not snapshot.partial_text:
            st.caption(f":material/hourglass_top: Working … {int(time.monotonic() - turn.started)} s")
        else:
            st.empty()
    if not _only_this_fragment_runs():
        return
    if live_text is not None and snapshot.live_step is None:
        _stream_text(engine, turn, snapshot.partial_text, live_text)
    elif snapshot.live_step is not None and snapshot.live_step.phase == "writing":
        _stream_code(engine, turn, snapshot.live_step, code_box)


def _only_this_fragment_runs() -> bool:
    """Whether this run draws the fragment alone: only then may it stream for a while.

    A whole-page run must end soon: until it does, the page still shows the elements of the previous run, faded.
    Other fragments due in the same run (the panel's status, a background command's output) would wait for the
    streaming loop to end.
    """
    context = get_script_run_ctx()
    return context is not None and len(context.fragment_ids_this_run or ()) == 1


def _stream_text(engine: ChatEngine, turn: ActiveTurn, shown: str, live_text: LiveText) -> None:
    """While only answer text streams, update its last block's element instead of redrawing the turn.

    A browser redraws a whole fragment far more slowly than one element: watching an answer cost Chromium about
    28% of a core with a redraw per quarter second, 11% like this. Each update is where Streamlit takes the page
    rerun of a click outside the fragment (Stop); a click inside waits until the loop ends (a pause in the text,
    or ``TEXT_LONGEST_SECONDS``).
    """
    for text in turn.text_growth(shown, **_pace(engine)):
        engine.watched()
        live_text.show(text)


def _stream_code(engine: ChatEngine, turn: ActiveTurn, shown: LiveStep, code_box: DeltaGenerator) -> None:
    """While the model writes a tool call, update its code's one element as the code grows (as for answer text)."""
    for step in turn.step_growth(shown, **_pace(engine)):
        engine.watched()
        render_live_code(step, code_box)


def _pace(engine: ChatEngine) -> dict[str, float]:
    """How often the streaming loops update their element, and when they end (see ``TEXT_LONGEST_SECONDS``)."""
    longest = SHARED_LONGEST_SECONDS if commands_run(engine.session.sandbox) else TEXT_LONGEST_SECONDS
    return {"every": TEXT_EVERY_SECONDS, "quiet_for": TEXT_QUIET_SECONDS, "longest": longest}


def _wait_for_quick_turn(engine: ChatEngine) -> None:
    """Right after a message was sent, give a quick run a moment to end, so it is drawn finished at once."""
    turn = engine.turn
    if st.session_state.pop(SENT_KEY, False) and turn is not None:
        turn.wait_done(QUICK_TURN_SECONDS)


conversation_id = current_conversation_id()
try:
    engine = chat_engine(conversation_id)
except InterpreterError as exc:  # too many busy sessions, or a cloud backend that cannot be reached
    st.error(escape_markdown(str(exc)))
    st.stop()

render_chat_input(
    placeholder=PLACEHOLDER,
    accept_file="multiple",
    max_upload_size=engine.session.settings.max_upload_mb,
    key="chat_input",
    on_submit=_send,
    args=(engine,),
)
_wait_for_quick_turn(engine)  # before the side panel, so it shows the files a quick run just wrote

history_box, live_box = st.container(), st.container()  # the live turn always has the same place
drawn_state = _turn_state(engine)  # before the history is read: a step finishing meanwhile reruns the page
with history_box:
    st.caption(f"Model: {escape_markdown(engine.model_label)}")
    render_ask_switch(engine)
    if engine.model_error:
        st.error(
            f"The model could not be set up: {escape_markdown(engine.model_error)} Code blocks you send still run."
        )
    elif engine.agent is None:
        with st.expander("No model is configured: code blocks you send run directly. How to add a model"):
            st.markdown(how_to_configure())

    if _nothing_asked(engine):  # after an upload too: that is when the example questions help most
        render_starting_points(engine)
    render_history(engine)
    render_pending_steps(engine)
refresh = LIVE_REFRESH_SECONDS if engine.busy else IDLE_REFRESH_SECONDS
if not engine.busy and not st.session_state.get(PREFETCHED_KEY):
    refresh = FIRST_IDLE_SECONDS  # soon after the page is usable, before a person's first message
with live_box:
    steady_fragment("live-turn", live_turn, refresh, engine, drawn_state, served_ports(engine.session.sandbox))
if drawn_state[1]:
    # Outside the fragment: a click here reruns the page, which interrupts the fragment while it streams text (a
    # click inside it would wait for that run to end). A turn's start and end redraw the page, so it is current.
    stopping = engine.stopping  # the code may take a few seconds to end: the click was taken, and once is enough
    label, icon = ("Stopping …", ":material/hourglass_top:") if stopping else ("Stop", ":material/stop_circle:")
    st.button(label, key="stop_turn", icon=icon, on_click=engine.stop, disabled=stopping)
    _render_queue(engine)
render_background_tasks(engine.session.sandbox)  # commands started with background=true, live, with a Stop
# The side panel last: the browser draws what the page sends as it comes, so the chat is usable before the panel's
# widgets (and their code) have arrived.
with st.sidebar:
    render_conversations(conversation_id)
    render_uploader(engine)
    render_isolation(engine.session.sandbox.isolation_report())
    render_mcp_servers(hub_for(engine.session.settings))
    render_session_life(engine)
    render_side_panel(engine.session, conversation_title(engine))
    if not _is_empty(engine):  # nothing to export before something happened
        render_export_buttons(engine)

    render_app_previews(engine.session, "side", engine.busy)  # Open preview for apps the sandbox's code serves
