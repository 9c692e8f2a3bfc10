"""Open preview: links to the web apps a conversation's sandbox serves, and word when one stopped.

While code in the sandbox listens on a TCP port (a Streamlit, Dash or Gradio app, ``python -m http.server``),
the side panel's fragment, redrawn every few seconds, and the step of a running background command offer
**Open preview** for it: a link to the app's own ``/preview/<token>/<port>``, which checks the login and opens
the app on a host name of its own in a new tab (:mod:`core.web.preview_proxy`). A port seen listening that no
longer does is reported as stopped.
"""

from __future__ import annotations

import time

import streamlit as st

from components.fragments import steady_fragment
from core.errors import InterpreterError
from core.sandbox.local.ports import sandbox_ports
from core.session import Session
from core.web.previews import PREVIEWS, preview_path

REFRESH_SECONDS = 2.0
OPEN_ICON = ":material/open_in_new:"


def _keep_awake(session: Session) -> None:
    """A preview in use counts as use of the sandbox: it does not fall asleep under the app."""
    if hasattr(session.sandbox, "last_used"):
        session.sandbox.last_used = time.monotonic()


def preview_links(session: Session) -> tuple[list[tuple[int, str]], list[int]]:
    """The sandbox's servers now: (port, link) of each listening one, and the ports seen before that stopped.

    Args:
        session: The conversation's engine session.

    Returns:
        Both empty for a sandbox whose servers cannot be reached (AgentCore, reduced isolation).

    """
    ports = sandbox_ports(session.sandbox)
    if ports is None:
        return [], []
    target = PREVIEWS.offer(session.user_id, session.conversation_id, ports)
    target.keep_awake = lambda: _keep_awake(session)
    try:
        listening = ports.listening()
    except OSError:
        listening = []
    target.seen.update(listening)
    base = str(st.get_option("server.baseUrlPath") or "")
    links = [(port, preview_path(base, target.token, port)) for port in listening]
    return links, sorted(target.seen - set(listening))


def app_previews(session: Session, place: str) -> None:
    """Draw the Open preview links and the stopped servers (nothing when the sandbox serves nothing)."""
    links, stopped = preview_links(session)
    if not links and not stopped:
        return
    with st.container(border=True, key=f"app_previews_{place}"):
        st.markdown("**Apps served in the sandbox**")
        for port, link in links:
            st.link_button(
                f"Open preview · port {port}",
                link,
                icon=OPEN_ICON,
                help="Opens the app in a new tab, for you only.",
            )
        for port in stopped:
            st.caption(f"The app on port {port} has stopped: nothing in the sandbox listens there any more.")


def render_step_previews(sandbox: object) -> None:
    """Open preview links inside a running background command's step, for the ports its sandbox listens on.

    Args:
        sandbox: The conversation's sandbox (its preview token was offered by the page's side panel).

    """
    ports = sandbox_ports(sandbox)
    target = PREVIEWS.target_of(ports) if ports is not None else None
    if ports is None or target is None:
        return
    try:
        listening = ports.listening()
    except OSError:
        return
    target.seen.update(listening)
    base = str(st.get_option("server.baseUrlPath") or "")
    for port in listening:
        st.link_button(f"Open preview · port {port}", preview_path(base, target.token, port), icon=OPEN_ICON)


def served_ports(sandbox: object) -> tuple[int, ...]:
    """The ports the sandbox's code listens on now, for telling whether the previews drawn are still current.

    Args:
        sandbox: A session's sandbox.

    Returns:
        Empty for a sandbox that cannot be serving anything now or whose servers cannot be reached.

    """
    ports = sandbox_ports(sandbox) if may_serve(sandbox) else None
    try:
        return tuple(ports.listening()) if ports is not None else ()
    except OSError:
        return ()


def commands_run(sandbox: object) -> bool:
    """Whether a background command runs in the sandbox now (False for one that cannot be reached)."""
    tasks = getattr(sandbox, "tasks", None)
    try:
        return tasks is not None and any(task.running for task in tasks())
    except InterpreterError:  # an AgentCore sandbox that cannot be reached now
        return False


def may_serve(sandbox: object) -> bool:
    """Whether code in the sandbox can be serving an app now: a kernel that ran code, or a background command."""
    if commands_run(sandbox):
        return True
    status = getattr(sandbox, "status", None)
    now = status() if status is not None else None
    return now is not None and bool(now.running) and now.ever_ran


def render_app_previews(session: Session, place: str, busy: bool) -> None:
    """Show the previews of the sandbox's apps, redrawn alone every few seconds while something there may serve.

    With no kernel that ran code and no background command running, nothing can start a server before the page is
    drawn again (a turn's end redraws it), so a page where nothing ran keeps no timer for this. Between turns, with
    no background command running, the page's idle timer looks (:func:`served_ports`), as each fragment's run costs
    the browser a redraw of the whole page.

    Args:
        session: The conversation's engine session.
        place: Where on the page (``"side"``, ``"chat"``): keys the drawn elements.
        busy: Whether a turn runs now.

    """
    live = busy or commands_run(session.sandbox)
    refresh = REFRESH_SECONDS if live and may_serve(session.sandbox) else None
    steady_fragment(f"app-previews-{place}", app_previews, refresh, session, place)
