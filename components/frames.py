"""Untrusted HTML in a sandboxed frame: scripts may run, but without the app's origin, cookies or DOM."""

from __future__ import annotations

import html

import streamlit as st

HTML_HEIGHT = 420
# Inside the frame nothing is fetched from anywhere: no images, scripts, styles or requests from other hosts
# (a page could otherwise leak data through an image address, even where the sandbox has no network).
OFFLINE_POLICY = (
    "default-src 'none'; img-src data: blob:; media-src data: blob:; font-src data:; "
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'"
)


def sandboxed_html(document: str, height: int = HTML_HEIGHT) -> str:
    """A page holding ``document`` in an iframe that may run scripts but has no access to the app's origin.

    Streamlit's own frame allows same-origin access, so the document goes one frame deeper, into an iframe
    whose ``sandbox`` lacks ``allow-same-origin`` (and ``allow-forms``: nothing is posted anywhere), and whose
    content security policy lets it load nothing from the network.
    """
    policy = f'<meta http-equiv="Content-Security-Policy" content="{OFFLINE_POLICY}">'
    document = policy + document
    return (
        '<!doctype html><html><body style="margin:0">'
        '<iframe sandbox="allow-scripts allow-popups allow-downloads" '
        f'style="border:0;width:100%;height:{height - 8}px" srcdoc="{html.escape(document, quote=True)}">'
        "</iframe></body></html>"
    )


def render_sandboxed_html(document: str, height: int = HTML_HEIGHT) -> None:
    """Show untrusted HTML (an output, a preview) inside a sandboxed frame."""
    st.iframe(sandboxed_html(document, height), height=height)
