"""Ids of people and conversations: safe to use as folder names and object keys."""

from __future__ import annotations

import re

from core.errors import InvalidPathError

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_id(value: str, what: str) -> str:
    """Return ``value`` if it is a safe id (1-128 letters, digits, ``._-``), else raise ``InvalidPathError``."""
    if not isinstance(value, str) or not SAFE_ID.fullmatch(value):
        raise InvalidPathError(
            f"Invalid {what} {str(value)[:80]!r}: use 1-128 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit."
        )
    return value
