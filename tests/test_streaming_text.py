"""Where a streaming answer is cut into blocks drawn once each (``core.text.settled_blocks``, ``LiveText``)."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from core.text import outside_images, safe_markdown, settled_blocks

COMMONMARK = MarkdownIt("commonmark").enable("table")
SAMPLES = {
    "paragraphs and headings": "# Title\n\nFirst paragraph,\nstill first.\n\n## Part\n\nSecond.\n\nThird.",
    "a fence with blank lines": "Code:\n\n```python\nx = 1\n\n\ny = 2\n```\n\nAfter the code.",
    "a tilde fence closed by a longer one": "~~~\na\n\n```\n\nb\n~~~~\n\nafter",
    "an indented continuation": "- item\n\n  its second paragraph\n\n  ```\n  code\n\n  more\n  ```\n\nafter the list",
    "a quote and a table": "> quoted\n> more\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nend",
    "windows line ends": "one\r\n\r\ntwo\r\n\r\nthree",
}


@pytest.mark.parametrize("text", SAMPLES.values(), ids=SAMPLES.keys())
def test_blocks_drawn_apart_render_as_the_whole_text_does(text: str) -> None:
    blocks, rest = settled_blocks(text)
    assert blocks and rest, (blocks, rest)
    apart = "".join(COMMONMARK.render(part) for part in [*blocks, rest])
    assert apart == COMMONMARK.render(text.replace("\r\n", "\n"))


@pytest.mark.parametrize("text", SAMPLES.values(), ids=SAMPLES.keys())
def test_a_block_once_settled_never_changes_as_the_text_grows(text: str) -> None:
    """Each block is drawn once: what the text's first characters settle, its later characters keep."""
    final, _ = settled_blocks(text)
    for end in range(len(text) + 1):
        blocks, rest = settled_blocks(text[:end])
        assert blocks == final[: len(blocks)], (end, blocks)
        assert "\n".join([*blocks, rest]).replace("\n", "") == text[:end].replace("\r", "").replace("\n", "")


def test_nothing_is_settled_inside_an_open_fence_or_before_the_next_line_begins() -> None:
    assert settled_blocks("```\na\n\nb") == ([], "```\na\n\nb")
    assert settled_blocks("a\n\n") == ([], "a\n\n")  # the next line may be indented: a's list or code goes on
    assert settled_blocks("a\n\nb") == (["a"], "b")


def test_an_image_cut_from_its_address_loads_nothing_in_either_block() -> None:
    """A reference image whose definition lands in another block renders as text there, never as an image."""
    text = "See ![chart][c]\n\nmore\n\n[c]: https://example.com/leak.png\n\ntail"
    blocks, rest = settled_blocks(text)
    for part in [*blocks, rest]:
        assert not outside_images(safe_markdown(part))
    assert "was not loaded" in safe_markdown(text)  # the whole answer, drawn when it ends, says so
