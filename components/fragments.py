"""Fragments that redraw themselves on a timer, drawn so that waiting for their turn does not show."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

STEADY_PREFIX = "steady-"
# Streamlit marks a fragment's elements stale from the start of a run that draws it until they are sent again, and
# fades stale elements (after half a second, over one): the side panel's status faded to a third while its run
# waited for the live turn's streaming loop, and each run of the live turn started a fade of its own text. What
# such a fragment shows is at most one tick old, so it keeps its look. Each fade was also a transition the browser
# drew at its frame rate, on the cores a local model decodes on. Part of the chat page's style.
STEADY_RULE = f'[class*="st-key-{STEADY_PREFIX}"] [data-stale="true"] {{opacity: 1; transition: none}}'


def steady_fragment(name: str, body: Callable[..., None], run_every: float | None, *args: Any) -> None:
    """Draw ``body(*args)`` as a fragment rerun every ``run_every`` seconds whose elements never fade.

    Args:
        name: Tells this fragment's container apart from others on the page.
        body: What the fragment draws.
        run_every: Seconds between the fragment's runs; None for no timer.
        args: Passed to ``body``.

    """
    with st.container(key=f"{STEADY_PREFIX}{name}"):
        st.fragment(body, run_every=run_every)(*args)
