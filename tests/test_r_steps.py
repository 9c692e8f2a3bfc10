"""R steps beyond the sandbox: on the chat page (AppTest) and in the exported notebook, with the real R kernel."""

from __future__ import annotations

import base64
from collections.abc import Callable

import nbformat
from streamlit.testing.v1 import AppTest

from core.chat.conversations import ConversationStore
from core.chat.engine import ChatEngine
from core.chat.notebook import R_SETUP, transcript_to_notebook
from core.config import Settings
from core.models.scripted import ScriptedModel
from core.sandbox.local.isolation import bubblewrap_works
from core.sandbox.local.r_install import r_missing
from core.session import Session
from tests.conftest import finish, page_text, send
from tests.prerequisites import requires

pytestmark = [
    requires(bubblewrap_works(), "bubblewrap cannot run on this machine"),
    requires(not r_missing(), "R and IRkernel are not installed (apt-get install r-base-core r-cran-irkernel)"),
]
GGPLOT = "library(ggplot2)\nsales <- data.frame(region = c('north', 'south'), amount = c(10, 20))\n" + (
    "ggplot(sales, aes(region, amount)) + geom_col()"
)
STEPS = [
    {"tool": "execute_code", "input": {"code": GGPLOT, "language": "r"}},
    {"tool": "execute_code", "input": {"code": "sales[order(-sales$amount), ]", "language": "r"}},
    {"tool": "execute_code", "input": {"code": "stop('no such region')", "language": "r"}},
    {"text": "South sold more."},
]


def test_an_r_step_shows_its_chart_and_table_on_the_page(make_app: Callable[..., AppTest]) -> None:
    app = make_app(STEPS)
    app.run()
    send(app, "Compare the regions in R")
    assert not app.exception, [e.message for e in app.exception]
    pictures = [image for node in app.main if node.type == "image" for image in node.proto.imgs]  # type: ignore[attr-defined]
    assert pictures, "the ggplot was not shown"
    assert list(app.dataframe[0].value["amount"]) == [20, 10]
    text = page_text(app, "markdown", "code")
    assert "geom_col()" in text and "South sold more." in text and "no such region" in text
    assert sum(e.label.startswith("Ran r code") for e in app.expander) == 3


def test_r_steps_are_r_cells_of_the_notebook(settings: Settings, open_sessions: Callable[..., Session]) -> None:
    store = ConversationStore(settings)
    session = open_sessions(store.create().id, settings)
    script = [{"tool": "execute_code", "input": {"code": "x = 2"}}, *STEPS]  # Python first: the notebook's kernel
    engine = ChatEngine(session, ScriptedModel(script), "t", store)
    try:
        finish(engine.start_turn("Compare the regions in R"))
        nb = transcript_to_notebook(engine.transcript.events(), title="R")
    finally:
        engine.close()
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [cell.source.splitlines()[0] for cell in code] == ["x = 2", *R_SETUP.splitlines()[:1], "%%R", "%%R", "%%R"]
    chart, table, failed = code[2:]
    assert chart.source == f"%%R\n{GGPLOT}" and "r" in chart.metadata.tags
    image = next(o for o in chart.outputs if o.output_type == "display_data")
    assert base64.b64decode(image.data["image/png"]).startswith(b"\x89PNG")
    (frame,) = table.outputs
    assert "south" in frame.data["text/html"] and frame.data["text/plain"]
    assert failed.outputs[-1].output_type == "error" and "no such region" in failed.outputs[-1].evalue
    assert "raises-exception" in failed.metadata.tags


def test_the_empty_chat_offers_r_blocks_to_run_directly(make_app: Callable[..., AppTest]) -> None:
    app = make_app(None)
    app.run()
    assert "` ```r `" in page_text(app, "markdown")
    send(app, "```r\ncat(6 * 7)\n```")
    assert "42" in page_text(app, "markdown", "code")
    assert any(e.label.startswith("Ran r code (run by you)") for e in app.expander)
