"""Showing untrusted text safely in Markdown: literal text, code fences that cannot be closed, no remote images.

File names, ZIP entries, model text, code output and error messages are untrusted. Streamlit renders many
labels and messages as Markdown, so such text is escaped before it is shown, and Markdown that is meant to be
rendered (the model's answer, a Markdown output) loses its power to make the browser fetch remote images.
"""

from __future__ import annotations

import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#!|~$=])")
_LIST_START = re.compile(r"^(\s*(?:\d+)?)([-+.])")
_BACKTICK_RUN = re.compile(r"`+")
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\s*(\(|\[)")
_DATA_URL = re.compile(r"\(\s*<?data:image/", re.IGNORECASE)


def escape_markdown(text: str) -> str:
    """``text`` shown literally in Markdown: every character Markdown could read as syntax is escaped.

    Newlines become spaces: labels and captions are one line.
    """
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))
    return _LIST_START.sub(r"\1\\\2", escaped)


def fence(text: str, language: str = "text") -> str:
    """A fenced code block holding ``text`` literally: the fence is longer than any run of backticks inside."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)
    marks = "`" * max(3, longest + 1)
    return f"{marks}{language}\n{text}\n{marks}"


def safe_markdown(text: str) -> str:
    """Markdown that cannot make the browser fetch anything: images from elsewhere become plain links.

    Inline ``data:`` images stay (they fetch nothing). Raw HTML is not rendered by the page anyway.
    """

    def as_link(match: re.Match[str]) -> str:
        rest = text[match.start(2) :]
        if match.group(2) == "(" and _DATA_URL.match(rest):
            return match.group(0)
        label = match.group(1) or "image"
        return f"[🖼 {label}]{match.group(2)}"

    return _IMAGE.sub(as_link, text)
