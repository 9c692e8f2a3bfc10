"""What a test needs from the machine (bubblewrap, a cgroup, Chromium, the package index): skip without it, or
fail under CI.

A developer's laptop may lack bubblewrap or a writable cgroup, and the suite still says something there. On CI
the same gap would hollow the suite out while it stays green, so with ``CI`` set (``CI=true``, as CI services do)
a missing prerequisite fails the test and names what is missing. Opt-in tests (a real model, the soak) are not
prerequisites: they skip with their reason everywhere until asked for.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def requires(available: bool, reason: str) -> pytest.MarkDecorator:
    """Mark a test (or, as ``pytestmark``, a module) that runs only where ``available`` is true.

    Args:
        available: Whether the machine has what the test needs, evaluated once at import.
        reason: What is missing, in plain words ("bubblewrap cannot run on this machine").

    Returns:
        The mark; :func:`check_prerequisites` acts on it before the test runs.

    """
    return pytest.mark.requires(available=available, reason=reason)


def missing(reason: str) -> NoReturn:
    """Stop a running test that found a prerequisite missing: skip it, or fail it under CI."""
    if IN_CI:
        pytest.fail(f"CI needs this prerequisite: {reason}", pytrace=False)
    # Reported at the test's own place (the summary's "SKIPPED [1] file:line: reason"), not at this line.
    raise pytest.skip.Exception(reason, _use_item_location=True)


def check_prerequisites(item: pytest.Item) -> None:
    """Skip (fail under CI) ``item`` when a ``requires`` mark on it says something is missing."""
    for mark in item.iter_markers("requires"):
        if not mark.kwargs["available"]:
            missing(mark.kwargs["reason"])
