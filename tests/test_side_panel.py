"""The side panel in Streamlit's AppTest, on real sessions: sandbox tree, deletes, previews and the workspace."""

from __future__ import annotations

import base64
import io
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, DownloadButton, Expander, Node

from components.download_links import LINK_BYTES
from components.previews import svg_data_url
from components.side_panel import INDENT, PAGE_SIZE, RICH_PREVIEWS, widget_key
from core.config import Settings
from core.session import Session
from core.text import escape_markdown
from tests.conftest import RecordedMediaFiles, clicked, fetched, link_button

matplotlib.use("Agg")

SESSION_KEY = "test_side_panel_session"


def panel_script(conversation_id: str, data_dir: str) -> None:
    """The app under test: open the conversation's session once, render the panel in the sidebar."""
    from pathlib import Path

    import streamlit as st

    from components.side_panel import render_side_panel
    from core.config import Settings
    from core.session import open_session

    if "test_side_panel_session" not in st.session_state:
        settings = Settings(data_dir=Path(data_dir), kernel_pool_size=0)
        st.session_state["test_side_panel_session"] = open_session(conversation_id, settings)
    with st.sidebar:
        render_side_panel(st.session_state["test_side_panel_session"])


@pytest.fixture
def panel(session: Session, settings: Settings) -> Iterator[Callable[[], AppTest]]:
    """Run the panel of ``session``'s conversation; every session the app opened is closed afterwards."""
    apps: list[AppTest] = []

    def run() -> AppTest:
        at = AppTest.from_function(
            panel_script, args=(session.conversation_id, str(settings.data_dir)), default_timeout=60
        )
        apps.append(at)
        return at.run()

    yield run
    for at in apps:
        if SESSION_KEY in at.session_state:
            at.session_state[SESSION_KEY].close()


def png() -> bytes:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(2, 1.5), dpi=40)
    axes.bar(["a", "b"], [3, 5])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def texts(node: Block | AppTest) -> list[str]:
    return [element.value for element in node.text]


def downloads(at: AppTest) -> list[DownloadButton]:
    return [node for node in at.get("download_button") if isinstance(node, DownloadButton)]


def expanders(at: AppTest) -> list[Expander]:
    return [node for node in at.expander if isinstance(node, Expander)]


def expander(at: AppTest, name: str) -> Expander:
    matches = [e for e in expanders(at) if e.label.split(" · ")[0] == name]
    assert len(matches) == 1, [e.label for e in expanders(at)]
    return matches[0]


def of_type(node: Block, kind: str) -> list[Node]:
    return [child for child in node if child.type == kind]


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def test_sandbox_files_are_listed_with_sizes_and_folders(session: Session, panel: Callable[[], AppTest]) -> None:
    session.sandbox.write_file("hello.txt", b"hello")
    session.sandbox.write_file("reports/2024/q1.csv", b"a,b\n1,2\n")
    session.sandbox.write_file("reports/summary.md", b"# Sum\n")
    at = panel()
    assert_clean(at)
    assert "hello.txt · 5\u00a0B" in texts(at)
    assert any(caption.value.startswith("3 files · 19\u00a0B of 5,120\u00a0MB used") for caption in at.caption)
    folder = expander(at, "reports/")
    assert folder.label == "reports/ · 2 files · 14\u00a0B"
    assert texts(folder) == []  # a closed folder's rows are not rendered

    at.session_state[widget_key("sb_folder", "reports")] = True
    at.run()
    assert_clean(at)
    assert texts(expander(at, "reports/")) == ["2024/", f"{INDENT}q1.csv · 8\u00a0B", "summary.md · 6\u00a0B"]


def test_delete_removes_the_file_from_disk_and_panel(session: Session, panel: Callable[[], AppTest]) -> None:
    session.sandbox.write_file("keep.txt", b"keep")
    session.sandbox.write_file("drop.txt", b"drop me")
    at = panel()
    assert "drop.txt · 7\u00a0B" in texts(at)

    at.button(key=widget_key("sb_delete", "drop.txt")).click().run()
    assert (session.sandbox.root / "drop.txt").exists()  # not before it is confirmed
    assert [w.value for w in at.warning] == ["Delete drop.txt from the sandbox? This cannot be undone."]
    at.button(key=widget_key("sb_delete_confirm", "drop.txt")).click().run()
    assert_clean(at)
    assert not (session.sandbox.root / "drop.txt").exists()
    assert (session.sandbox.root / "keep.txt").exists()
    assert [text for text in texts(at) if "drop.txt" in text] == []
    assert not at.warning
    assert [s.value for s in at.success] == ["Deleted drop.txt from the sandbox."]


def test_deleting_a_folder_and_a_vanished_file(session: Session, panel: Callable[[], AppTest]) -> None:
    session.sandbox.write_file("old/a.txt", b"a")
    session.sandbox.write_file("gone.txt", b"soon gone")
    at = panel()
    at.session_state[widget_key("sb_folder", "old")] = True
    at.run()
    at.button(key=widget_key("sb_delete_folder", "old")).click().run()
    at.button(key=widget_key("sb_delete_confirm", "old")).click().run()
    assert_clean(at)
    assert not (session.sandbox.root / "old").exists()
    assert [e.label for e in expanders(at) if e.label.startswith("old/")] == []

    at.button(key=widget_key("sb_delete", "gone.txt")).click().run()
    session.sandbox.remove("gone.txt")  # deleted behind the panel's back, still on screen
    at.button(key=widget_key("sb_delete_confirm", "gone.txt")).click().run()
    assert_clean(at)
    assert len(at.warning) == 1
    assert "gone.txt could not be deleted" in at.warning[0].value
    at.run()
    assert not at.warning  # said once


def test_sandbox_preview_reads_only_when_open(session: Session, panel: Callable[[], AppTest]) -> None:
    session.sandbox.write_file("notes.txt", b"x" * 30_000)
    session.sandbox.write_file("table.csv", b"n,sq\n2,4\n3,9\n")
    at = panel()
    assert not at.code and not at.dataframe

    at.session_state[widget_key("sb_preview", "notes.txt")] = True
    at.session_state[widget_key("sb_preview", "table.csv")] = True
    at.run()
    assert_clean(at)
    assert at.code[0].value == "x" * 20_000
    assert any("20,000 of 30,000 characters" in caption.value for caption in at.caption)
    assert at.dataframe[0].value.to_dict(orient="list") == {"n": [2, 3], "sq": [4, 9]}


def test_workspace_renders_images_tables_and_charts(session: Session, panel: Callable[[], AppTest]) -> None:
    session.workspace.write("chart.png", png())
    session.workspace.write("sales.csv", b"region,total\nnorth,12.5\nsouth,7\n")
    figure = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]), layout={"title": {"text": "Bars"}})
    session.workspace.write("bars.json", str(figure.to_json()).encode())
    session.workspace.write("page.html", b"<h1>Report</h1><script>alert(parent.document.cookie)</script>")
    session.workspace.write("notes.txt", b"plain notes")
    at = panel()
    assert_clean(at)

    assert len(of_type(expander(at, "chart.png"), "image")) == 1
    table = expander(at, "sales.csv").dataframe[0].value
    pd.testing.assert_frame_equal(table, pd.DataFrame({"region": ["north", "south"], "total": [12.5, 7.0]}))
    assert len(of_type(expander(at, "bars.json"), "plotly_chart")) == 1
    assert of_type(expander(at, "page.html"), "iframe") == []  # HTML and text start collapsed: nothing read
    assert expander(at, "notes.txt").code.len == 0

    at.session_state[widget_key("ws_item", "page.html")] = True
    at.session_state[widget_key("ws_item", "notes.txt")] = True
    at.run()
    assert_clean(at)
    (frame,) = of_type(expander(at, "page.html"), "iframe")
    srcdoc = frame.proto.srcdoc  # type: ignore[union-attr]
    assert '<iframe sandbox="allow-scripts' in srcdoc  # scripts run, but without the app's origin
    assert "<script>alert" not in srcdoc and "&lt;script&gt;alert" in srcdoc
    assert expander(at, "notes.txt").code[0].value == "plain notes"


def test_download_all_and_per_file_downloads(
    session: Session, panel: Callable[[], AppTest], media_files: list[RecordedMediaFiles]
) -> None:
    at = panel()
    assert link_button(at, "Download all").disabled

    session.workspace.write("a.txt", b"a")
    session.workspace.write("b.csv", b"x\n1\n")
    session.sandbox.write_file("out.txt", b"from the sandbox")
    at.run()
    assert_clean(at)
    download_all = link_button(at, "Download all")
    assert not download_all.disabled and download_all.url.startswith("/download/")
    with zipfile.ZipFile(io.BytesIO(fetched(download_all.url))) as archive:
        assert {name: archive.read(name) for name in archive.namelist()} == {"a.txt": b"a", "b.csv": b"x\n1\n"}
    at.run()
    assert link_button(at, "Download all").url == download_all.url  # a redrawn page keeps its link
    by_key = {b.key: b for b in downloads(at)}
    assert clicked(by_key[widget_key("ws_download", "a.txt")], media_files) == b"a"
    assert clicked(by_key[widget_key("ws_download", "b.csv")], media_files) == b"x\n1\n"
    assert clicked(by_key[widget_key("sb_download", "out.txt")], media_files) == b"from the sandbox"


def test_large_files_download_through_links(session: Session, panel: Callable[[], AppTest]) -> None:
    big = os.urandom(LINK_BYTES + 1)
    session.workspace.write("big.bin", big)
    session.sandbox.write_file("out/big.bin", big)
    for index in range(RICH_PREVIEWS):  # big.bin becomes an older file, listed with its download
        session.workspace.write(f"new-{index}.txt", b"n")
    at = panel()
    at.session_state[widget_key("sb_folder", "out")] = True
    at.run()
    assert_clean(at)
    keys = {b.key for b in downloads(at)}
    assert not keys & {widget_key("ws_download", "big.bin"), widget_key("sb_download", "out/big.bin")}
    (workspace_link,) = [node.proto for node in at.get("link_button") if node.proto.label.startswith("big.bin")]
    assert fetched(workspace_link.url) == big
    assert fetched(link_button(at, "Download big.bin").url) == big


def test_bad_table_shows_a_warning_not_an_exception(session: Session, panel: Callable[[], AppTest]) -> None:
    session.workspace.write("broken.csv", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    session.workspace.write("ragged.csv", b"a,b\n1,2\n1,2,3,4\n")
    session.workspace.write("fake.xlsx", b"not a workbook")
    at = panel()
    assert_clean(at)
    warnings = sorted(w.value for w in at.warning)
    assert len(warnings) == 3
    assert "broken.csv" in warnings[0] and "binary" in warnings[0]
    assert "fake.xlsx" in warnings[1] and "not an Excel workbook" in warnings[1]
    assert "ragged.csv" in warnings[2]
    assert not at.dataframe


def test_long_lists_are_paged(session: Session, panel: Callable[[], AppTest]) -> None:
    for index in range(PAGE_SIZE + 10):
        (session.sandbox.root / f"f{index:03d}.txt").write_bytes(b"x")
    for index in range(RICH_PREVIEWS + 3):
        session.workspace.write(f"w{index:03d}.txt", b"y")
    at = panel()
    assert_clean(at)

    def sandbox_rows() -> int:
        return len([b for b in downloads(at) if str(b.key).startswith("side_panel_sb_download_")])

    assert sandbox_rows() == PAGE_SIZE
    assert len(at.expander) == RICH_PREVIEWS
    assert any(caption.value == "3 older files" for caption in at.caption)
    older = [b for b in downloads(at) if b.label.startswith("w0") and b.label.endswith(" · 1\u00a0B")]
    assert len(older) == 3

    at.button(key="side_panel_sb_limit_button").click().run()
    assert_clean(at)
    assert sandbox_rows() == PAGE_SIZE + 10
    assert not [b for b in at.button if b.key == "side_panel_sb_limit_button"]


def test_every_widget_key_is_prefixed(session: Session, panel: Callable[[], AppTest]) -> None:
    session.sandbox.write_file("dir/a.txt", b"a")
    session.sandbox.write_file("b.txt", b"b")
    session.workspace.write("c.csv", b"x\n1\n")
    session.workspace.write("d.png", png())
    at = panel()
    at.session_state[widget_key("sb_folder", "dir")] = True
    at.session_state[widget_key("sb_preview", "b.txt")] = True
    at.run()
    assert_clean(at)
    keyed: list[Any] = [node for node in at.sidebar if getattr(node, "key", None)]
    assert len(keyed) > 10
    assert all(str(node.key).startswith("side_panel_") for node in keyed), [node.key for node in keyed]
    widget_ids = [getattr(node, "id", None) for node in at.sidebar if getattr(node, "id", None)]
    assert len(widget_ids) == len(set(widget_ids))


def test_odd_file_names_do_not_break_the_panel(session: Session, panel: Callable[[], AppTest]) -> None:
    odd = ["*bold* _it_ [link](x) :smile:.txt", "$x$ `code`.csv"]
    for name in odd:
        session.sandbox.write_file(name, b"a\n1\n")
        session.workspace.write(name, b"a\n1\n")
    (session.sandbox.root / "sub").mkdir()
    (session.sandbox.root / "sub").joinpath(b"latin-\xe9.txt".decode("utf-8", "surrogateescape")).write_bytes(b"x")
    at = panel()
    at.session_state[widget_key("sb_folder", "sub")] = True
    at.run()
    assert_clean(at)
    assert set(odd) <= {text.replace("\u200b", "").split(" · ")[0] for text in texts(at)}  # breaks are unseen
    assert "latin-\ufffd.txt · 1\u00a0B" in texts(at)
    assert len(expanders(at)) == 3  # two workspace files and the sandbox folder


def image_urls(node: Block) -> list[str]:
    return [image.url for element in of_type(node, "image") for image in element.proto.imgs]  # type: ignore[attr-defined]


def test_an_svg_preview_shows_the_files_bytes_never_a_server_file(
    session: Session, panel: Callable[[], AppTest], tmp_path: Path
) -> None:
    secret = tmp_path / "outside-the-sandbox.png"
    secret.write_bytes(png())
    pointer = str(secret).encode()  # an ".svg" whose text is the path of a PNG on the server
    drawing = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'
    session.workspace.write("pointer.svg", pointer)
    session.workspace.write("drawing.svg", drawing)
    at = panel()
    assert_clean(at)

    (shown,) = image_urls(expander(at, "pointer.svg"))
    assert shown.startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(shown.split(",", 1)[1]) == pointer  # the file's bytes, not the PNG they name
    assert image_urls(expander(at, "drawing.svg")) == [svg_data_url(drawing)]


def test_names_and_errors_in_captions_and_warnings_are_shown_literally(
    session: Session, panel: Callable[[], AppTest]
) -> None:
    name = "![pic](http:evil.example@x.png) **b** <img src=x>.txt"
    session.sandbox.write_file(name, b"text")
    at = panel()
    at.session_state[widget_key("sb_preview", name)] = True
    at.run()
    assert_clean(at)
    (caption,) = [c.value for c in at.caption if "pic" in c.value]
    assert caption == escape_markdown(name)
    assert "\\!\\[pic\\]" in caption and "\\*\\*b" in caption and "\\<img" in caption  # escaped, so literal

    at.button(key=widget_key("sb_delete", name)).click().run()
    session.sandbox.remove(name)  # deleted behind the panel's back: the warning names it
    at.button(key=widget_key("sb_delete_confirm", name)).click().run()
    assert_clean(at)
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith(escape_markdown(name) + " could not be deleted")


def image_captions(node: Block) -> list[str]:
    return [image.caption for element in of_type(node, "image") for image in element.proto.imgs]  # type: ignore[attr-defined]


def test_office_and_pdf_previews(session: Session, panel: Callable[[], AppTest]) -> None:
    from tests.office_files import make_docx, make_pdf, make_pptx, make_workbook

    session.workspace.write("book.xlsx", make_workbook(sheets=3, rows=4))
    for name, data in {"paper.pdf": make_pdf(3), "report.docx": make_docx(), "deck.pptx": make_pptx()}.items():
        session.workspace.write(name, data)
    at = panel()
    for name in ("paper.pdf", "report.docx", "deck.pptx"):  # they start collapsed: nothing read
        assert not of_type(expander(at, name), "image") and not expander(at, name).markdown
        at.session_state[widget_key("ws_item", name)] = True
    at.run()
    assert_clean(at)

    book = expander(at, "book.xlsx")
    assert book.selectbox[0].options == ["S0", "S1", "S2"]
    assert book.dataframe[0].value["sheet"].tolist() == ["sheet 0"] * 4
    book.selectbox[0].set_value(2).run()
    assert expander(at, "book.xlsx").dataframe[0].value["sheet"].tolist() == ["sheet 2"] * 4

    paper = expander(at, "paper.pdf")
    assert paper.number_input[0].max == 3
    assert image_captions(paper) == ["Page 1 of 3"]
    paper.number_input[0].set_value(3).run()
    assert image_captions(expander(at, "paper.pdf")) == ["Page 3 of 3"]

    report = expander(at, "report.docx").markdown
    assert report[0].value.startswith("### Quarterly report\n\n#### Sales\n\nRevenue grew \\*\\*12%\\*\\* \\<b\\>this")
    assert expander(at, "report.docx").dataframe[0].value.columns.tolist() == ["region", "region (2)"]
    deck = expander(at, "deck.pptx")
    assert not deck.warning, [warning.value for warning in deck.warning]  # the helper's reason, if it failed
    assert [m.value for m in deck.markdown][:2] == ["**Slide 1** · Slide title 1", "Point 1"]
    assert len(of_type(deck, "image")) == 2
    assert_clean(at)


def test_a_file_too_big_to_preview_says_the_limit(session: Session, panel: Callable[[], AppTest]) -> None:
    session.workspace.write("huge.pdf", b"%PDF-1.4\n" + b"0" * 21 * 1024 * 1024)
    at = panel()
    at.session_state[widget_key("ws_item", "huge.pdf")] = True
    at.run()
    captions = [c.value for c in expander(at, "huge.pdf").caption]
    assert "Too big to preview (21.0 MB): previews are made of files up to 20.0 MB. Download it instead." in captions


def test_previews_are_read_outside_the_server_and_a_hostile_file_only_stops_its_own(
    session: Session, panel: Callable[[], AppTest]
) -> None:
    from tests.office_files import make_pdf
    from tests.test_preview_isolation import docx_bomb

    chart = png()
    session.workspace.write("data.csv", b"n,sq\n2,4\n3,9\n")
    session.workspace.write("paper.pdf", make_pdf(2))
    session.workspace.write("bomb.docx", docx_bomb())
    session.workspace.write("chart.png", chart)
    at = panel()
    for name in ("paper.pdf", "bomb.docx"):
        at.session_state[widget_key("ws_item", name)] = True
    at.run()
    assert_clean(at)

    assert expander(at, "data.csv").dataframe[0].value.to_dict(orient="list") == {"n": [2, 3], "sq": [4, 9]}
    paper = expander(at, "paper.pdf")
    assert image_captions(paper) == ["Page 1 of 2"]
    assert image_urls(paper)[0].startswith("data:image/png;base64,")  # the helper's PNG, never decoded here
    assert image_urls(expander(at, "chart.png")) == ["data:image/png;base64," + base64.b64encode(chart).decode()]
    (warning,) = [w.value for w in expander(at, "bomb.docx").warning]
    assert warning.startswith("Could not preview this file: reading it took too")


def test_sizes_are_never_broken_between_number_and_unit() -> None:
    from components.side_panel import size_text

    assert size_text(131) == "131\u00a0B" and size_text(18_227) == "17.8\u00a0KB"


def test_isolation_speaks_plainly_and_each_warning_is_one_short_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.sandbox_panel import HEADLINE_CHARS, headline
    from core.sandbox.local import limits as limits_module
    from core.sandbox.local.network import PrivateNetwork

    monkeypatch.setattr(limits_module.ResourceLimits, "_plan_cgroups", lambda self: ("none", {}))
    limits = limits_module.ResourceLimits(settings, "plain")
    described = limits.describe()
    assert described[0] == f"memory: at most {settings.memory_limit_mb:,} MB per process"
    assert not any("rlimit," in line or "address-space rlimit" in line for line in described[:-1])
    monkeypatch.setattr("core.sandbox.local.network.private_network_problem", lambda: "slirp4netns is not installed")
    network = PrivateNetwork("public", enabled=True)
    warnings = [*limits.warnings, *network.warnings]
    assert [headline(warning) for warning in warnings] == [
        "Memory is limited per process only",
        "The sandbox has no network",
    ]
    assert all("as root" not in warning and "run the app as root" not in warning for warning in warnings)
    assert "no root needed" in network.warnings[0]
    long = headline("A warning without a colon that goes on and on for many more words than fit. Then more.")
    assert len(long) <= HEADLINE_CHARS and long.endswith("…")


def test_the_isolation_box_keeps_each_number_with_its_unit() -> None:
    """Issue 18: the isolation box broke "after 1,800 / s unused" over two lines in a 400 px panel."""

    def panel() -> None:  # the page runs this function's source alone: names are imported inside
        from components.sandbox_panel import render_isolation
        from core.sandbox.local.isolation import IsolationReport

        limits = ["memory: at most 2,048 MB per process", "CPU: at most 1 core", "file size: at most 1,024 MB per file"]
        persists = "Kept between calls: Python variables, until the session sleeps after 1,800 s unused."
        render_isolation(IsolationReport(mechanism="bubblewrap", network="public", limits=limits, persists=persists))

    captions = [caption.value for caption in AppTest.from_function(panel).run().caption]
    nbsp = "\u00a0"
    limits_line = f"memory: at most 2,048{nbsp}MB per process · CPU: at most 1{nbsp}core · "
    assert limits_line + f"file size: at most 1,024{nbsp}MB per file" in captions, captions
    assert any("after 1,800\u00a0s unused" in caption for caption in captions), captions
