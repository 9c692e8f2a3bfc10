"""Showing untrusted text safely in Markdown: literal text, code fences that cannot be closed, no remote images.

File names, ZIP entries, model text, code output and error messages are untrusted. Streamlit renders many
labels and messages as Markdown, so such text is escaped before it is shown, and Markdown that is meant to be
rendered (the model's answer, a Markdown output) loses its power to make the browser fetch images from elsewhere.
Images are found by a CommonMark parser (markdown-it-py), never by a regular expression: nested or escaped
brackets, alt texts over several lines and reference-style images are images to it as they are to the page.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline import image as parse_image
from markdown_it.token import Token

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#!|~$=])")
_LIST_START = re.compile(r"^(\s*(?:\d+)?)([-+.])")
_BACKTICK_RUN = re.compile(r"`+")
_ALT_CHARS = 80
_NOT_LOADED = ":material/hide_image: "  # Streamlit draws this icon from its own font
_PASSES = 3


def spoken_duration(seconds: float) -> str:
    """A length of time in plain words, rounded up to the minute past one minute: "45 s", "29 min", "1 h 5 min"."""
    whole = int(-(-seconds // 1))
    if whole < 60:
        return f"{whole} s"
    hours, minutes = divmod(-(-whole // 60), 60)
    return f"{hours} h {minutes} min" if hours and minutes else f"{hours} h" if hours else f"{minutes} min"


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


def _recording_image(state: StateInline, silent: bool) -> bool:
    """markdown-it's image rule, which also notes the Markdown the image was written as (``meta["source"]``)."""
    start = state.pos
    if not parse_image(state, silent):
        return False
    if not silent:
        state.tokens[-1].meta["source"] = state.src[start : state.pos]
    return True


def _parser() -> MarkdownIt:
    """CommonMark with GitHub's tables and strike-through (as the page renders), every link target accepted."""
    parser = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    parser.inline.ruler.at("image", _recording_image)
    parser.validateLink = lambda url: True  # type: ignore[method-assign]  # the page shows javascript: ones too
    return parser


_PARSER = _parser()
_LITERAL_RULES = ["backticks", "html_inline", "autolink", "link", "code", "fence", "html_block", "reference"]
_LITERAL_PARSER = _parser().disable(_LITERAL_RULES)
"""The parser blind to code, raw HTML, links and reference definitions: the page's math (``$…$``, ``$$``) and
footnotes (``[^1]:``), which CommonMark does not know, can end those early, and then an image they held loads."""
_MATH_OR_FOOTNOTE = re.compile(r"\$|\[\^")


def _fetches(source: str) -> bool:
    """Whether an image at ``source`` would be fetched: anything but a ``data:`` image is."""
    return not source.strip().lower().startswith("data:image/")


def outside_images(markdown: str, parser: MarkdownIt = _PARSER) -> list[Token]:
    """The images of ``markdown`` that the browser would fetch (markdown-it's ``image`` tokens), in order."""
    if "![" not in markdown:  # every image starts so, in the text as written
        return []
    return [
        child
        for block in parser.parse(markdown)
        if block.type == "inline"
        for child in block.children or []
        if child.type == "image" and _fetches(str(child.attrGet("src") or ""))
    ]


def _where(source: str) -> str:
    """Where an image would come from, as a person reads it: its host name, else its address."""
    try:
        host = urlsplit(source).hostname
    except ValueError:
        host = None
    return host or _PARSER.normalizeLinkText(source)[:_ALT_CHARS]


def removed_image_notice(image: Token) -> str:
    """What is shown instead of an image from elsewhere: its alt text and where it came from, literally."""
    alt = " ".join(RendererHTML().renderInlineAsText(image.children or [], _PARSER.options, {}).split())
    alt = alt if len(alt) <= _ALT_CHARS else alt[: _ALT_CHARS - 1] + "…"
    notice = f"an image from {_where(str(image.attrGet('src') or ''))} was not loaded"
    return _NOT_LOADED + escape_markdown(f"{alt} ({notice})" if alt else notice)


def _neutralised(markdown: str) -> str:
    """``markdown`` with no image at all: a backslash before every ``[`` that follows a ``!``."""
    return markdown.replace("![", "!\\[")


def _hidden_images(markdown: str) -> list[Token]:
    """Images from elsewhere that math or a footnote may show although CommonMark reads them as code or a link."""
    return outside_images(markdown, _LITERAL_PARSER) if _MATH_OR_FOOTNOTE.search(markdown) else []


@functools.lru_cache(maxsize=512)
def safe_markdown(text: str) -> str:
    """Markdown that cannot make the browser fetch anything: each image from elsewhere becomes a notice.

    The notice keeps the image's alt text and says where it would have come from (an icon, then "chart (an image
    from example.com was not loaded)"), shown literally. Inline ``data:`` images stay (they fetch nothing). The text
    is parsed again after each change; should an image survive (one written over lines of a list or quote,
    where the parser's text is not the text as written), no ``![`` may start an image anywhere, and failing
    even that the whole text is shown as code. The same goes for an image in code, raw HTML or a link where the
    text has math or a footnote, which the page reads and CommonMark does not (``$`$ ![a](…) `$`` is math, then
    an image, on the page). Raw HTML is not rendered by the page anyway.
    """
    markdown = text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")  # as the parser reads it
    for _ in range(_PASSES):
        images = outside_images(markdown)
        if not images:
            images = _hidden_images(markdown)
            if not images:
                return markdown
            break
        for image in sorted(images, key=lambda image: -len(image.meta["source"])):  # ![a][] before ![a]
            markdown = markdown.replace(image.meta["source"], removed_image_notice(image))
    else:
        images = outside_images(markdown) or _hidden_images(markdown)
    hosts = sorted({_where(str(image.attrGet("src") or "")) for image in images})
    markdown = _neutralised(markdown)
    if outside_images(markdown) or outside_images(markdown, _LITERAL_PARSER):
        markdown = fence(markdown)
    removed = escape_markdown(", ".join(hosts))
    return f"{markdown}\n\n{_NOT_LOADED}Images from {removed} were not loaded."


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def settled_blocks(text: str) -> tuple[list[str], str]:
    """Markdown that is still being written, cut where what follows can no longer change how it renders.

    A cut falls at blank lines outside fenced code, before a line that does not continue an indented block (a list
    item's second paragraph, indented code). The last line may still grow, so it is never read.

    Args:
        text: The answer so far.

    Returns:
        The settled blocks, in order, and the rest of the text (which may still change how it renders).

    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[str] = []
    start, fence = 0, ""
    for index, line in enumerate(lines[:-1]):
        marker = _FENCE.match(line)
        if fence:
            if (
                marker
                and marker.group(1)[0] == fence[0]
                and len(marker.group(1)) >= len(fence)
                and not marker.group(2).strip()
            ):
                fence = ""
            continue
        if marker:
            fence = marker.group(1)
            continue
        following = lines[index + 1]
        if not line.strip() and following[:1] not in ("", " ", "\t"):
            block = "\n".join(lines[start:index]).strip("\n")
            if block:
                blocks.append(block)
            start = index + 1
    return blocks, "\n".join(lines[start:])
