"""Previews are read in a helper process (core/files/preview_host.py): real files, hostile files, the isolation."""

from __future__ import annotations

import concurrent.futures
import io
import json
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.errors import TablePreviewError
from core.files import preview_answers, preview_host
from core.files.archive import load_table
from core.files.preview_host import PreviewFailed
from core.sandbox.local.isolation import bubblewrap_works
from tests.conftest import wait_for
from tests.office_files import make_docx
from tests.prerequisites import missing, requires

NO_BUBBLEWRAP = "bubblewrap cannot run on this machine"
needs_bwrap = requires(bubblewrap_works(), NO_BUBBLEWRAP)


def docx_bomb(paragraphs: int = 40_000_000) -> bytes:
    """A real .docx (400 KB) whose document.xml unpacks to 240 MB of empty paragraphs, just under the unpack limit.

    Parsing it in full needs gigabytes of memory and more than ten seconds of CPU.
    """
    source = zipfile.ZipFile(io.BytesIO(make_docx()))
    buffer = io.BytesIO()
    chunk = b"<w:p/>" * 100_000
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in source.infolist():
            if entry.filename != "word/document.xml":
                archive.writestr(entry.filename, source.read(entry.filename))
                continue
            with archive.open("word/document.xml", "w") as part:
                part.write(b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">')
                part.write(b"<w:body>")
                for _ in range(paragraphs // 100_000):
                    part.write(chunk)
                part.write(b"</w:body></w:document>")
    return buffer.getvalue()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP socket listening on the host's 127.0.0.1, which nothing in a helper may reach."""
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    yield server
    server.close()


PREVIEW_PAGE = """
from core.files import preview_host
preview_host.forget_answers()
preview_host.read_table("first.csv", b"a\\n1\\n")
"""


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


MIXED = pd.DataFrame(
    {
        "when": pd.to_datetime(["2024-01-01 10:00", None, "2024-03-01 00:00"]),
        "n": [1, 2, 3],
        "x": [0.5, float("nan"), float("inf")],
        "ok": [True, False, True],
        "name": ["Åse", None, "x,y"],
    }
)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("mixed.parquet", _parquet(MIXED)),
        ("mixed.csv", MIXED.to_csv(index=False).encode()),
        ("mixed.tsv", MIXED.to_csv(index=False, sep="\t").encode()),
        ("long.csv", pd.DataFrame({"n": range(1500)}).to_csv(index=False).encode()),
        ("nested.json", json.dumps([{"a": 1, "b": {"c": [1, 2]}}, {"a": 2, "b": {"c": None}}]).encode()),
        ("frame.json", MIXED[["n", "name"]].to_json().encode()),  # pandas' default: {column: {index: value}}
        ("lines.jsonl", b'{"a": 1}\n{"a": 2, "b": "x"}\n'),
    ],
)
def test_tables_read_by_the_helper_equal_those_read_in_process(name: str, data: bytes) -> None:
    kind, frame = preview_host.read_table(name, data)
    expected = load_table(name, data)
    assert kind == "table" and frame is not None
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.attrs == expected.attrs


def test_json_that_is_a_chart_or_text_and_a_bad_table_say_so() -> None:
    chart = str(go.Figure(go.Bar(x=["a"], y=[1])).to_json()).encode()
    assert preview_host.read_table("chart.json", chart) == ("plotly", None)
    assert preview_host.read_table("number.json", b"42") == ("text", None)
    with pytest.raises(TablePreviewError, match=r"'broken\.csv' could not be read as a CSV table: it is a binary file"):
        preview_host.read_table("broken.csv", b"\x89PNG\r\n\x1a\n\x00\x00binary")


def test_a_large_picture_is_reduced_in_the_helper() -> None:
    noise = np.random.default_rng(1).integers(0, 255, (1500, 2000, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    picture = preview_host.reduce_picture(buffer.getvalue())
    reduced = Image.open(io.BytesIO(picture.data))
    assert picture.mime_type == "image/jpeg" and reduced.format == "JPEG"
    assert reduced.size == (1200, 900)


def test_a_docx_bomb_is_stopped_while_another_preview_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = docx_bomb()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        stopped = pool.submit(preview_host.read_document, bomb)
        kind, frame = pool.submit(preview_host.read_table, "fine.csv", b"a,b\n1,2\n").result(timeout=30)
        assert kind == "table" and frame is not None and frame.to_dict(orient="list") == {"a": [1], "b": [2]}
        with pytest.raises(PreviewFailed, match=r"^Could not preview this file: reading it took too (much|long)"):
            stopped.result(timeout=preview_host.TIMEOUT_SECONDS + 15)

    def never(*args: object) -> None:
        raise AssertionError("a file that could not be previewed is not read again at once")

    monkeypatch.setattr(preview_host, "_run", never)
    with pytest.raises(PreviewFailed, match=r"^Could not preview this file"):
        preview_host.read_document(bomb)


@pytest.mark.parametrize("isolation", ["bubblewrap", "plain process"])
def test_a_helper_that_hangs_or_spins_is_stopped(isolation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if isolation == "bubblewrap" and not bubblewrap_works():
        missing(NO_BUBBLEWRAP)
    if isolation == "plain process":
        monkeypatch.setattr(preview_host, "bubblewrap_works", lambda: False)
    with pytest.raises(PreviewFailed, match=r"too long \(over 1 seconds\)"):
        preview_host.run_helper({"op": "table"}, b"", code="import threading\nthreading.Event().wait()\n", timeout=1)
    with pytest.raises(PreviewFailed, match=r"too long \(over 1 seconds of processor time\)"):
        preview_host.run_helper({"op": "table"}, b"", code="while True:\n    pass\n", cpu_seconds=1, timeout=30)
    with pytest.raises(PreviewFailed, match="too much memory"):
        preview_host.run_helper({"op": "x"}, b"", code='print(\'{"failure": "memory"}\')\n', timeout=30)
    answer = preview_host.run_helper({"op": "document"}, make_docx())  # and real files still preview
    assert answer["result"]["blocks"][0] == {"kind": "heading", "text": "Quarterly report", "level": 0, "rows": []}


@needs_bwrap
def test_the_helper_has_no_network_no_host_files_and_a_clean_environment(
    listener: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bubblewrap_works(), "CI runs the preview helper under bubblewrap"
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    monkeypatch.setenv("PREVIEW_TEST_SECRET", "host secret")
    port = listener.getsockname()[1]
    probe = f"""
import json, os, socket
def tried(action):
    try:
        action()
        return "done"
    except OSError as error:
        return type(error).__name__
connection = socket.socket()
connection.settimeout(3)
result = {{
    "connect": tried(lambda: connection.connect(("127.0.0.1", {port}))),
    "read": tried(lambda: open({str(secret)!r}).read()),
    "write_app": tried(lambda: open(os.path.join(sys.prefix, "probe"), "w")),
    "write_tmp": tried(lambda: open("/tmp/probe", "w").write("x")),
    "environment": sorted(os.environ),
}}
print(json.dumps({{"result": result}}))
"""
    result = preview_host.run_helper({"op": "x"}, b"", code=probe, timeout=30)["result"]
    assert result["connect"] != "done" and result["read"] != "done" and result["write_app"] != "done"
    assert result["write_tmp"] == "done"  # its own /tmp, gone with it
    assert set(result["environment"]) <= {*preview_host.ENVIRONMENT, "PWD"}  # bubblewrap sets PWD
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing came in


def test_answers_out_of_shape_are_refused() -> None:
    with pytest.raises(PreviewFailed, match="seems damaged"):
        preview_host.run_helper({"op": "x"}, b"", code="print('not json')\n", timeout=30)
    with pytest.raises(PreviewFailed, match="came out too large"):
        preview_host.run_helper({"op": "x"}, b"", code="sys.stdout.write('x' * (70 << 20))\n", timeout=30)
    table = {"columns": ["a"], "dtypes": ["int64"], "rows": [[1, 2]], "index": None, "truncated": False}
    with pytest.raises(preview_answers.BadAnswer):
        preview_answers.decode_frame(table)
    with pytest.raises(preview_answers.BadAnswer):
        preview_answers.decode_pdf({"pages": 1, "index": 0, "png": "PGh0bWw+"})  # "<html>", not a PNG
    with pytest.raises(preview_answers.BadAnswer):
        preview_answers.decode_picture({"mime_type": "text/html", "data": "PGh0bWw+"})
    ragged = {"blocks": [{"kind": "table", "text": "", "level": 0, "rows": [["a"], ["b", "c"]]}], "truncated": False}
    with pytest.raises(preview_answers.BadAnswer):
        preview_answers.decode_document(ragged)


def test_a_waiting_helper_outlives_the_page_run_that_started_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page run (AppTest, as Streamlit runs a page) previews a file; the helper then left waiting must live on
    after that run and serve the next preview (bubblewrap's --die-with-parent ends a helper with its starter)."""
    page = AppTest.from_string(PREVIEW_PAGE, default_timeout=60)
    page.run()
    assert not page.exception

    def waiting_helpers() -> list[Any]:
        return [helper for helper in preview_host._POOL._idle if helper.poll() is None]

    wait_for(waiting_helpers, "a helper to wait after the preview", 30)
    waiting = waiting_helpers()
    used: list[int] = []
    take = preview_host._POOL.take
    monkeypatch.setattr(preview_host._POOL, "take", lambda: used.append((helper := take()).pid) or helper)
    kind, frame = preview_host.read_table("second.csv", b"b\n2\n")
    assert kind == "table" and frame is not None and frame["b"].tolist() == [2]
    assert used == [waiting[0].pid]
