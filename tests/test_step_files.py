"""The files under a step and an answer: a picture's caption names its path literally, whatever the path holds."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

HOSTILE_PATH = "out/**bold** [link](http://example.com) `code` <b>x</b> _em_ # not a heading.png"


def answer_images_script() -> None:
    from components.step_files import render_answer_images
    from core.files.outputs import FileRef

    class Files:  # the one method the images need of a session's files
        def read(self, ref: FileRef) -> bytes:
            return b"\x89PNG\r\n\x1a\n"

    path = "out/**bold** [link](http://example.com) `code` <b>x</b> _em_ # not a heading.png"
    render_answer_images([FileRef("sandbox", path, 8, "image/png")], Files())  # type: ignore[arg-type]


def test_a_pictures_caption_shows_its_sandbox_path_literally() -> None:
    app = AppTest.from_function(answer_images_script, default_timeout=30).run()
    assert not app.exception
    (image,) = app.get("image")
    (caption,) = image.captions
    html = MarkdownIt("commonmark").renderInline(caption)  # as the page's Markdown would read it
    assert not re.search(r"<(a|strong|em|code|b)\b", html), html
    assert re.sub(r"<[^>]*>", "", html).replace("&lt;", "<").replace("&gt;", ">") == HOSTILE_PATH
