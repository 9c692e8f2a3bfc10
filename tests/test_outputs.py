"""Every output reachable: the files a step creates or changes, and file paths in answers, on real sessions."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from core.files.changes import MAX_CHANGED, ChangeTracker, _file_clock_ns
from core.files.outputs import SessionFiles, figure_without_sources, link_answer
from core.session import Session
from tests.conftest import wait_for


def after_the_file_clock_ticks(session: Session) -> None:
    """Wait until the clock files are stamped from has passed every sandbox file's change time: a file changed in
    the same clock tick as a run's start counts as the run's."""
    newest = max(path.stat().st_ctime_ns for path in session.sandbox.root.rglob("*"))  # type: ignore[attr-defined]
    wait_for(lambda: _file_clock_ns() > newest, "the file clock to tick")


def changed(session: Session, tools: dict[str, Any], tool: str, **arguments: Any) -> list[str]:
    tools[tool](**arguments)
    return session.history[-1].changed_files


def test_a_step_lists_the_files_it_created_or_changed(session: Session, tools: dict[str, Any]) -> None:
    session.sandbox.write_file("kept.csv", b"a\n1\n")
    session.sandbox.write_file("edited.txt", b"old")
    after_the_file_clock_ticks(session)
    code = (
        "import os\nos.makedirs('out/deep', exist_ok=True)\n"
        "open('out/deep/report.csv', 'w').write('x')\nopen('edited.txt', 'a').write(' new')\n"
        "open('.hidden', 'w').write('h')\nos.makedirs('__pycache__', exist_ok=True)\n"
        "open('__pycache__/m.pyc', 'w').write('c')\nprint(open('kept.csv').read())"
    )
    assert changed(session, tools, "execute_code", code=code) == ["edited.txt", "out/deep/report.csv"]
    assert changed(session, tools, "execute_code", code="print(1)") == []  # at once: the last step's not again
    after_the_file_clock_ticks(session)
    assert changed(session, tools, "execute_code", code="open('edited.txt', 'a').write('!')") == ["edited.txt"]


def test_files_with_old_timestamps_and_shell_steps_count(session: Session, tools: dict[str, Any]) -> None:
    command = "printf 'x' > new.txt && touch -d '2001-01-01' new.txt && mkdir -p copy && cp -p new.txt copy/"
    assert changed(session, tools, "execute_command", command=command) == ["copy/new.txt", "new.txt"]
    content = [{"path": "notes/a.md", "text": "# A"}]
    assert changed(session, tools, "file_operations", operation="write", content=content) == ["notes/a.md"]
    assert changed(session, tools, "file_operations", operation="read", paths=["notes/a.md"]) == []


def test_a_sandbox_without_a_host_folder_is_compared_by_listing(session: Session) -> None:
    class Listed:  # the same sandbox seen without its host folder, as an AgentCore sandbox is
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def list_files(self, path: str = ".", recursive: bool = False) -> Any:
            return self.inner.list_files(path, recursive=recursive)

    session.sandbox.write_file("same.txt", b"same")
    session.sandbox.write_file("grows.txt", b"1")
    tracker = ChangeTracker(Listed(session.sandbox))  # type: ignore[arg-type]
    assert tracker.root is None
    session.sandbox.write_file("grows.txt", b"12")
    session.sandbox.write_file("fresh/new.bin", b"\x00")
    assert tracker.changed() == ["fresh/new.bin", "grows.txt"]


def test_listing_a_step_costs_little(session: Session) -> None:
    tracker = ChangeTracker(session.sandbox)
    for number in range(2000):
        path = session.sandbox.root / f"d{number % 20}" / f"f{number}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x")
    started = time.perf_counter()
    found = tracker.changed()
    assert time.perf_counter() - started < 5  # tens of ms here; only a cost per file far above a stat fails
    assert len(found) == MAX_CHANGED and found[0] == "d0/f0.txt"  # the first, in path order
    after_the_file_clock_ticks(session)
    assert ChangeTracker(session.sandbox).changed() == []  # nothing changed since


@pytest.fixture
def files(session: Session) -> SessionFiles:
    session.sandbox.write_file("results.csv", b"a,b\n1,2\n")
    session.sandbox.write_file("charts/sales.png", b"\x89PNG fake")
    session.workspace.write("report.pdf", b"%PDF fake")
    return SessionFiles(session)


@pytest.mark.parametrize(
    ("reference", "location", "path"),
    [
        ("sandbox:/mnt/data/results.csv", "sandbox", "results.csv"),
        ("/mnt/data/results.csv", "sandbox", "results.csv"),
        ("/sandbox/charts/sales.png", "sandbox", "charts/sales.png"),
        ("charts/sales.png", "sandbox", "charts/sales.png"),
        ("./results.csv", "sandbox", "results.csv"),
        ("code-interpreter/report.pdf", "workspace", "report.pdf"),
        ("report.pdf", "workspace", "report.pdf"),
        ("sandbox:/mnt/data/report.pdf", "workspace", "report.pdf"),  # pushed, then named by its old place
    ],
)
def test_references_find_existing_files(files: SessionFiles, reference: str, location: str, path: str) -> None:
    found = files.find(reference)
    assert found is not None and (found.location, found.path) == (location, path)


@pytest.mark.parametrize(
    "reference",
    [
        "missing.csv",
        "/mnt/data/missing.csv",
        "charts",  # a folder
        "/etc/passwd",
        "sandbox:/mnt/data/../../../etc/passwd",
        "../results.csv",
        "file:///etc/passwd",
        "https://example.com/results.csv",
        "code-interpreter/../results.csv",
    ],
)
def test_references_to_missing_or_outside_files_find_nothing(files: SessionFiles, reference: str) -> None:
    assert files.find(reference) is None


def test_answer_links_to_files_become_downloads_and_missing_ones_plain_text(files: SessionFiles) -> None:
    answer = (
        "Here is [the table](sandbox:/mnt/data/results.csv), the ![chart](charts/sales.png) and "
        "[the report](<code-interpreter/report.pdf>). [Old](sandbox:/mnt/data/gone.csv) is gone; "
        "[docs](https://example.com) stay. Also saved: /mnt/data/results.csv and `code-interpreter/report.pdf`."
    )
    linked = link_answer(answer, files)
    assert linked.markdown == (
        "Here is **the table**, the **chart** and **the report**. Old (sandbox:/mnt/data/gone.csv) is gone; "
        "[docs](https://example.com) stay. Also saved: /mnt/data/results.csv and `code-interpreter/report.pdf`."
    )
    assert [(ref.location, ref.path) for ref in linked.files] == [
        ("sandbox", "results.csv"),
        ("sandbox", "charts/sales.png"),
        ("workspace", "report.pdf"),
    ]


def test_answer_code_blocks_are_left_alone_but_their_files_are_offered(files: SessionFiles) -> None:
    answer = "Done:\n\n```python\ndf.to_csv('/mnt/data/results.csv')  # [x](y.png)\n```\n"
    linked = link_answer(answer, files)
    assert linked.markdown == answer
    assert [ref.path for ref in linked.files] == ["results.csv"]


def test_without_files_every_file_link_is_plain_text() -> None:
    linked = link_answer("See [results](sandbox:/mnt/data/results.csv) and [x.png](x.png).", None)
    assert linked.markdown == "See results (sandbox:/mnt/data/results.csv) and x.png." and linked.files == []


def test_save_to_workspace_copies_under_the_file_name(session: Session, files: SessionFiles) -> None:
    info = files.save_to_workspace("charts/sales.png")
    assert info.path == "sales.png" and session.workspace.read("sales.png") == b"\x89PNG fake"
    assert files.workspace_file("sales.png") is not None


@pytest.mark.parametrize(
    "answer",
    [
        "[" * 200_000 + "](" * 100_000,
        "[a](" + "(" * 200_000,
        "```\n" * 100_000,
        " ".join(f"/mnt/data/x{number}.csv" for number in range(50_000)),
        " ".join(f"[a](x{number}.csv)" for number in range(50_000)),
    ],
)
def test_hostile_answers_resolve_quickly(files: SessionFiles, answer: str) -> None:
    started = time.perf_counter()
    link_answer(answer, files)
    assert time.perf_counter() - started < 30  # milliseconds here; a quadratic parse of these takes hours


HOSTILE_FIGURE = {
    "data": [{"type": "choropleth", "geojson": "https://evil.example/shapes.json", "z": [1]}],
    "layout": {
        "images": [{"source": "http://127.0.0.1:9/p.png"}, {"source": "data:image/png;base64,AAAA"}],
        "template": {"layout": {"images": [{"source": "//evil.example/t.png"}]}},
        "map": {"style": "open-street-map", "layers": [{"source": ["https://tiles.example/{z}/{x}/{y}.png"]}]},
        "font": {"style": "italic"},
    },
    "frames": [{"layout": {"images": [{"source": "https://frames.example/f.png"}]}}],
}


def test_a_figure_loses_every_address_it_would_load_from_and_says_so() -> None:
    figure, removed = figure_without_sources(HOSTILE_FIGURE)

    assert "://" not in json.dumps(figure) and "//evil" not in json.dumps(figure)
    assert figure["layout"]["images"] == [{}, {"source": "data:image/png;base64,AAAA"}]
    assert figure["layout"]["map"]["style"] == "open-street-map"  # a named style, no address
    assert figure["layout"]["font"] == {"style": "italic"}
    assert removed == (
        "The figure's content from 127.0.0.1, evil.example, frames.example, tiles.example were not loaded."
    )
    assert HOSTILE_FIGURE["layout"]["images"][0]["source"] == "http://127.0.0.1:9/p.png"  # a copy was cleaned


def test_a_figure_with_one_outside_image_names_it_and_a_clean_one_is_left_alone() -> None:
    one = {"data": [], "layout": {"images": [{"source": "https://example.com/logo.png"}]}}
    assert figure_without_sources(one)[1] == "The figure's image from example.com was not loaded."
    clean = {"data": [{"type": "bar", "y": [1]}], "layout": {"title": {"text": "see https://example.com"}}}
    assert figure_without_sources(clean) == (clean, "")


PATH_KEYS = {  # plotly.py reads a key that is a path into the figure as that property (the figure's own paths)
    "brackets": {"images": [{"x": 0}], "images[0].source": "http://127.0.0.1:9/b.png"},
    "dots": {"images": [{"x": 0}], "images.0.source": "http://127.0.0.1:9/d.png"},
    "underscores": {"images": [{"x": 0}], "images_0_source": "http://127.0.0.1:9/u.png"},
    "a template's": {"template": {"layout": {"images": [{"x": 0}], "images[0].source": "http://127.0.0.1:9/t.png"}}},
    "a map style's": {"mapbox_style": "http://127.0.0.1:9/style.json"},
}


@pytest.mark.parametrize("layout", PATH_KEYS.values(), ids=PATH_KEYS.keys())
def test_an_address_set_through_a_path_key_is_taken_out_too(layout: dict[str, Any]) -> None:
    import plotly.graph_objects as go
    import plotly.io

    figure, removed = figure_without_sources({"data": [{"type": "bar", "y": [1]}], "layout": layout})

    assert removed.startswith("The figure's ") and removed.endswith(" from 127.0.0.1 was not loaded.")
    assert "127.0.0.1" not in go.Figure(figure, skip_invalid=True).to_json()  # as a workspace preview shows it
    assert "127.0.0.1" not in plotly.io.from_json(json.dumps(figure)).to_json()  # as a step's output
