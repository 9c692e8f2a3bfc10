"""Direct runs: a message that is one fenced code block, or a ``!`` command, runs as it is, without the model."""

from __future__ import annotations

import re
from typing import Any

FENCED_BLOCK = re.compile(r"^\s*```([A-Za-z]*)[ \t]*\n(.*?)\n?```\s*$", re.DOTALL)
LANGUAGE_ALIASES = {
    "": "python", "python": "python", "py": "python", "python3": "python", "javascript": "javascript",
    "js": "javascript", "typescript": "typescript", "ts": "typescript", "bash": "bash", "sh": "bash", "shell": "bash",
    "r": "r",
}  # fmt: skip


def parse_direct_run(text: str) -> tuple[str, dict[str, Any]] | None:
    """Recognise a message the person wants run as it is, without the model.

    A message that is exactly one fenced code block (python, javascript, typescript, r or bash) runs that code;
    a message starting with ``!`` runs the rest as a shell command.

    Args:
        text: The chat message.

    Returns:
        The tool name and its input, or ``None`` for an ordinary message.

    """
    stripped = text.strip()
    if stripped.startswith("!") and len(stripped) > 1:
        return "execute_command", {"command": stripped[1:].strip()}
    match = FENCED_BLOCK.match(text)
    if match is None or match.group(1).lower() not in LANGUAGE_ALIASES:
        return None
    language, code = LANGUAGE_ALIASES[match.group(1).lower()], match.group(2)
    if language == "bash":
        return "execute_command", {"command": code}
    return "execute_code", {"code": code, "language": language}
