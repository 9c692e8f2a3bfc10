"""Untrusted HTML in a sandboxed frame: scripts may run, but without the app's origin, cookies, DOM or network."""

from __future__ import annotations

import html

import streamlit as st

HTML_HEIGHT = 420
# Inside the frame nothing is fetched from anywhere: no images, scripts, styles or requests from other hosts
# (a page could otherwise leak data through an image address, even where the sandbox has no network).
OFFLINE_POLICY = (
    "default-src 'none'; img-src data: blob:; media-src data: blob:; font-src data:; "
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'none'"
)
# The frame around it may hold no frame that goes anywhere: Chromium checks every navigation of a frame, the ones
# its own script starts too, against its parent's frame-src (``location.href = ...`` would carry data out).
HOLDER_POLICY = "frame-src 'none'"
SANDBOX = "allow-scripts allow-downloads"
"""Scripts run and may offer downloads of what they made; no popups (a window opened elsewhere carries data out),
no forms, no navigation of the page, and no access to the app's origin."""


def sandboxed_html(document: str, height: int = HTML_HEIGHT) -> str:
    """A page holding ``document`` in an iframe that may run scripts but has no access to the app's origin.

    Streamlit's own frame allows same-origin access, so the document goes one frame deeper, into an iframe
    whose ``sandbox`` (:data:`SANDBOX`) lacks ``allow-same-origin``, ``allow-forms`` and ``allow-popups``, and
    whose content security policy lets it load nothing from the network. The frame holding it forbids frames that
    go anywhere (:data:`HOLDER_POLICY`), so the document cannot navigate its own frame elsewhere either; the app's
    page policy (:mod:`core.web.content_policy`) says the same.
    """
    policy = f'<meta http-equiv="Content-Security-Policy" content="{OFFLINE_POLICY}">'
    document = policy + document
    return (
        f'<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="{HOLDER_POLICY}"></head>'
        f'<body style="margin:0"><iframe sandbox="{SANDBOX}" '
        f'style="border:0;width:100%;height:{height - 8}px" srcdoc="{html.escape(document, quote=True)}">'
        "</iframe></body></html>"
    )


def render_sandboxed_html(document: str, height: int = HTML_HEIGHT) -> None:
    """Show untrusted HTML (an output, a preview) inside a sandboxed frame."""
    st.iframe(sandboxed_html(document, height), height=height)
