"""Untrusted text shown safely: the upload notice's code fence, conversation titles, and Markdown's images."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from components.state import app_settings
from components.uploads import upload_notice
from core.chat.conversations import ConversationStore
from core.config import Settings
from core.files.uploads import describe_tree
from core.session import Session
from core.text import escape_markdown, outside_images, safe_markdown
from tests.conftest import make_zip

HOSTILE_ENTRIES = {
    "```/inside.txt": b"a",
    "a````b.txt": b"b",
    "```\n![p](http://evil.example/p.png).csv": b"c",
}


def code_blocks(markdown: str) -> list[str]:
    """The fenced code blocks of ``markdown``, by CommonMark's rule: a fence closes only on a line holding a
    run of at least as many backticks as the opening one, and nothing else."""
    blocks, lines, index = [], markdown.split("\n"), 0
    while index < len(lines):
        opening = re.match(r" {0,3}(`{3,})[^`]*$", lines[index])
        index += 1
        if not opening:
            continue
        length, body = len(opening.group(1)), []
        while index < len(lines) and not re.fullmatch(rf" {{0,3}}`{{{length},}}\s*", lines[index]):
            body.append(lines[index])
            index += 1
        index += 1
        blocks.append("\n".join(body))
    return blocks


def test_an_entry_named_with_backticks_cannot_close_the_upload_notices_fence(session: Session) -> None:
    paths = session.preload("data.zip", make_zip(HOSTILE_ENTRIES))
    tree = describe_tree(paths)
    assert "````" in tree  # the hostile names arrived as they are

    notice = upload_notice("``` **evil** [x](http://evil.example).zip", tree)

    assert code_blocks(notice) == [tree]  # one block, holding the whole tree, closed on the last line
    assert notice.endswith("`")
    heading = notice.split("\n", 1)[0]
    assert escape_markdown("``` **evil** [x](http://evil.example).zip") in heading
    assert "[x]" not in heading and "**evil**" not in heading


def test_the_old_three_backtick_fence_was_closed_by_an_entry_name() -> None:
    tree = "data/\n  ```\n  ![p](http://evil.example/p.png).csv"
    assert code_blocks(f"```text\n{tree}\n```") != [tree]  # what the notice did before: broken open
    assert code_blocks(upload_notice("data.zip", tree)) == [tree]


def conversations_script(conversation_id: str) -> None:
    from components.conversations import render_conversations

    render_conversations(conversation_id)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("INTERPRETER_DATA_DIR", str(tmp_path / "data"))
    app_settings.clear()
    yield tmp_path / "data"
    app_settings.clear()


def test_conversation_titles_are_shown_literally(data_dir: Path) -> None:
    store = ConversationStore(Settings(data_dir=data_dir))
    title = "![x](http://evil.example/x.png) :red[alert] **bold**"
    conversation = store.rename(store.create().id, title)

    at = AppTest.from_function(conversations_script, args=(conversation.id,), default_timeout=30).run()

    assert not at.exception
    (item,) = [m.value for m in at.markdown if escape_markdown(title) in m.value]  # the current, selected item
    assert "![x]" not in item and ":red[" not in item
    assert at.text_input(key=f"title_{conversation.id}").value == title  # the rename field shows it as typed


OUTSIDE = "http://127.0.0.1:9"
HIDDEN_IMAGES = {  # images a regular expression missed; a CommonMark parser sees each one, as the page does
    "nested brackets": f"![a [nested] alt]({OUTSIDE}/n.png)",
    "an escaped bracket": f"![an \\] escaped alt]({OUTSIDE}/e.png)",
    "a multi-line alt text": f"![first line\nsecond line]({OUTSIDE}/m.png)",
    "a reference": f"![by reference][outside]\n\n[outside]: {OUTSIDE}/r.png",
    "a collapsed reference": f"![outside][]\n\n[outside]: {OUTSIDE}/r.png",
    "a shortcut reference": f"![outside]\n\n[outside]: <{OUTSIDE}/r.png>",
    "a table cell": f"| a | b |\n|---|---|\n| ![cell]({OUTSIDE}/t.png) | c |",
    "a link's label": f"[![badge]({OUTSIDE}/b.svg)](https://example.com/project)",
    "a protocol-relative address": "![p](//127.0.0.1:9/p.png)",
    "a Windows line end": f"![first\r\nsecond]({OUTSIDE}/crlf.png)",
}


@pytest.mark.parametrize("markdown", HIDDEN_IMAGES.values(), ids=HIDDEN_IMAGES.keys())
def test_images_from_elsewhere_become_a_notice_wherever_they_hide(markdown: str) -> None:
    assert outside_images(markdown)  # the parser finds what the regular expression missed

    shown = safe_markdown(markdown)

    assert outside_images(shown) == []
    assert "an image from 127.0.0.1 was not loaded" in shown
    assert "<img" not in MarkdownIt("commonmark").enable("table").render(shown)


def test_the_notice_keeps_the_alt_text_as_the_browser_reads_it_and_shows_it_literally() -> None:
    shown = safe_markdown(f"See ![**bold** [x](http://a) \\*star\\* `c`]({OUTSIDE}/p.png) here.")

    alt = "bold x \\*star\\* c"  # the alt's plain text, escaped: its stars are not emphasis
    assert shown == f"See :material/hide_image: {alt} (an image from 127.0.0.1 was not loaded) here."
    assert safe_markdown(f"![]({OUTSIDE}/p.png)") == ":material/hide_image: an image from 127.0.0.1 was not loaded"


def test_an_image_over_lines_of_a_quote_or_list_is_shown_as_text_with_a_line_saying_so() -> None:
    for markdown in (f"> a ![two\n> lines]({OUTSIDE}/q.png)", f"- a ![two\n  lines]({OUTSIDE}/l.png)\n- b"):
        shown = safe_markdown(markdown)

        assert outside_images(shown) == []
        assert shown.endswith("\n\n:material/hide_image: Images from 127\\.0.0.1 were not loaded.")


def test_what_fetches_nothing_stays_as_it_is() -> None:
    kept = (
        "# Result\n\nA **bold** [link](https://example.com) and [the chart](</download/abc>), "
        "`![code](http://c)`, ![inline](data:image/png;base64,AAAA)\n\n```\n![fenced](http://f)\n```\n"
    )
    assert safe_markdown(kept) == kept
    assert safe_markdown("no image\r\nhere") == "no image\nhere"


def test_every_address_but_a_data_image_counts_as_elsewhere() -> None:
    shown = safe_markdown("![a](javascript:alert(1)) ![b](chart.png) ![c](data:text/html,x)")

    assert outside_images(shown) == []
    assert "an image from chart.png was not loaded" in shown


HIDDEN_BY_MATH_OR_FOOTNOTES = {  # in what CommonMark reads as code, HTML or a link, and the page otherwise
    "math eating a code span's backtick": f"$`$ ![m]({OUTSIDE}/m.png) `$",
    "math eating an HTML tag's quote": f'$<a title="$ " b="![h]({OUTSIDE}/h.png)">',
    "math eating a link's destination": f'$[l]($ "![t]({OUTSIDE}/t.png)")',
    "a math block around a fence's start": f"$$\n```\n$$\n\n![b]({OUTSIDE}/b.png)\n\n```",
    "a footnote read as a reference definition": f"See this[^1].\n\n[^1]: ![fn]({OUTSIDE}/fn.png)",
}
LITERAL_RULES = ["backticks", "html_inline", "autolink", "link", "code", "fence", "html_block", "reference"]


@pytest.mark.parametrize("markdown", HIDDEN_BY_MATH_OR_FOOTNOTES.values(), ids=HIDDEN_BY_MATH_OR_FOOTNOTES.keys())
def test_an_image_hidden_by_math_or_a_footnote_is_not_loaded_either(markdown: str) -> None:
    """The page reads $…$ and $$ as math and [^1]: as a footnote, which CommonMark does not: what CommonMark takes
    for code, HTML, a link or a reference definition may be an image to the page."""
    assert outside_images(markdown) == []  # hidden from CommonMark

    shown = safe_markdown(markdown)

    assert "<img" not in MarkdownIt("commonmark").enable("table").disable(LITERAL_RULES).render(shown)
    assert shown.endswith("\n\n:material/hide_image: Images from 127\\.0.0.1 were not loaded.")
