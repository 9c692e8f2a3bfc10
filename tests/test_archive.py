"""core.files.archive: the workspace ZIP, tables for previews and file kinds."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from core.errors import InterpreterError, TablePreviewError
from core.files.archive import PREVIEW_ROWS, classify, is_plotly_json, is_truncated, load_table, zip_workspace
from core.workspace.local import LocalWorkspace

FRAME = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"], "people": [709_000, 10_000_000, 3_124_000]})


def _xlsx(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False, engine="openpyxl")
    return buffer.getvalue()


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


def _plotly() -> bytes:
    figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[4, 1, 2]), layout={"title": {"text": "t"}})
    return str(figure.to_json()).encode()


def test_zip_workspace_round_trip(tmp_path: Path) -> None:
    workspace = LocalWorkspace(tmp_path / "code-interpreter")
    files = {
        "chart.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        "report.csv": b"a,b\n1,2\n",
        "notes.txt": b"x" * 10_000,
    }
    for name, data in files.items():
        workspace.write(name, data)
    (workspace.root / ".tmp-half-written").write_bytes(b"ignored")

    with (tmp_path / "all.zip").open("wb") as target:
        zip_workspace(workspace, target)
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        assert sorted(archive.namelist()) == sorted(files)
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}
        assert {name: archive.read(name) for name in archive.namelist()} == files


def test_zip_of_an_empty_workspace_is_an_empty_zip(tmp_path: Path) -> None:
    target = io.BytesIO()
    zip_workspace(LocalWorkspace(tmp_path / "ws"), target)
    with zipfile.ZipFile(target) as archive:
        assert archive.namelist() == []


def test_a_file_deleted_while_zipping_is_left_out(tmp_path: Path) -> None:
    workspace = LocalWorkspace(tmp_path / "ws")
    workspace.write("kept.txt", b"kept")
    listed = [*workspace.list(), replace(workspace.list()[0], path="gone.txt")]
    workspace.list = lambda: listed  # type: ignore[method-assign]  # listed, then deleted before it was read
    target = io.BytesIO()
    zip_workspace(workspace, target)
    with zipfile.ZipFile(target) as archive:
        assert archive.namelist() == ["kept.txt"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("cities.csv", FRAME.to_csv(index=False).encode()),
        ("cities.tsv", FRAME.to_csv(index=False, sep="\t").encode()),
        ("cities.xlsx", _xlsx(FRAME)),
        ("cities.parquet", _parquet(FRAME)),
        ("cities.json", FRAME.to_json(orient="records").encode()),
        ("columns.json", json.dumps(FRAME.to_dict(orient="list")).encode()),
        ("cities.jsonl", FRAME.to_json(orient="records", lines=True).encode()),
    ],
)
def test_load_table(name: str, data: bytes) -> None:
    frame = load_table(name, data)
    pd.testing.assert_frame_equal(frame, FRAME, check_dtype=False)
    assert not is_truncated(frame)


def test_load_table_reads_a_utf8_bom_csv() -> None:
    frame = load_table("bom.csv", "\ufeffname,n\nÅse,1\n".encode())
    assert list(frame.columns) == ["name", "n"]
    assert frame.iloc[0, 0] == "Åse"


def test_json_records_are_flattened_and_other_objects_normalized() -> None:
    nested = load_table("nested.json", json.dumps([{"a": 1, "b": {"c": 2}}, {"a": 3, "b": {"c": 4}}]).encode())
    assert list(nested.columns) == ["a", "b.c"]
    assert nested["b.c"].tolist() == [2, 4]
    single = load_table("settings.json", json.dumps({"name": "x", "size": {"w": 1, "h": 2}}).encode())
    assert single.to_dict(orient="records") == [{"name": "x", "size.w": 1, "size.h": 2}]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("bad.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("latin.csv", "name\nJosé\n".encode("latin-1"), "not UTF-8"),
        ("empty.csv", b"", "empty"),
        ("ragged.csv", b"a,b\n1,2\n1,2,3,4\n", "CSV"),
        ("fake.xlsx", b"not a workbook", "not an Excel workbook"),
        ("fake.parquet", b"PAR1 nonsense", "Parquet"),
        ("broken.json", b'{"a": [1, 2', "not valid JSON"),
        ("number.json", b"42", "single int"),
        ("notes.txt", b"hello", "not a table file"),
    ],
)
def test_bad_bytes_raise_a_plain_table_preview_error(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(TablePreviewError) as caught:
        load_table(name, data)
    assert isinstance(caught.value, InterpreterError)
    assert name in str(caught.value)
    assert reason in str(caught.value)
    assert "Traceback" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("big.csv", lambda frame: frame.to_csv(index=False).encode()),
        ("big.xlsx", _xlsx),
        ("big.parquet", _parquet),
        ("big.json", lambda frame: frame.to_json(orient="records").encode()),
        ("big.jsonl", lambda frame: frame.to_json(orient="records", lines=True).encode()),
    ],
)
def test_previews_are_capped_at_1000_rows(name: str, make: object) -> None:
    rows = 2_500
    frame = load_table(name, make(pd.DataFrame({"n": range(rows), "square": [n * n for n in range(rows)]})))  # type: ignore[operator]
    assert PREVIEW_ROWS == 1000
    assert len(frame) == PREVIEW_ROWS
    assert frame["n"].tolist() == list(range(PREVIEW_ROWS))
    assert is_truncated(frame)
    assert frame.attrs["total_rows"] in (None, rows)


def test_exactly_1000_rows_are_not_truncated() -> None:
    frame = load_table("full.csv", pd.DataFrame({"n": range(PREVIEW_ROWS)}).to_csv(index=False).encode())
    assert len(frame) == PREVIEW_ROWS
    assert not is_truncated(frame)


def test_is_plotly_json() -> None:
    assert is_plotly_json(_plotly())
    assert is_plotly_json(json.dumps({"data": [{"type": "bar", "x": [1], "y": [2]}]}).encode())
    assert is_plotly_json(json.dumps({"application/vnd.plotly.v1+json": json.loads(_plotly())}).encode())
    assert not is_plotly_json(json.dumps({"data": [1, 2, 3], "layout": {}}).encode())
    assert not is_plotly_json(json.dumps({"data": [{"x": 1}]}).encode())
    assert not is_plotly_json(FRAME.to_json(orient="records").encode())
    assert not is_plotly_json(b"{not json")
    assert not is_plotly_json(b"\x89PNG")


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("chart.png", None, "image"),
        ("photo.JPG", None, "image"),
        ("photo.jpeg", None, "image"),
        ("anim.gif", None, "image"),
        ("pic.webp", None, "image"),
        ("logo.svg", None, "image"),
        ("data.csv", None, "table"),
        ("data.tsv", None, "table"),
        ("book.xlsx", None, "table"),
        ("data.parquet", None, "table"),
        ("figure.json", _plotly(), "plotly"),
        ("records.json", FRAME.to_json(orient="records").encode(), "table"),
        ("scalar.json", b'"just a string"', "text"),
        ("any.json", None, "table"),
        ("page.html", None, "html"),
        ("page.HTM", None, "html"),
        ("plotly-export.html", b"<html><script>Plotly.newPlot()</script></html>", "html"),
        *[
            (f"file{suffix}", None, "text")
            for suffix in (".txt", ".md", ".py", ".js", ".ts", ".log", ".yaml", ".yml", ".toml", ".sql", ".sh", ".xml")
        ],
        ("model.bin", None, "binary"),
        ("Makefile", None, "binary"),
        ("Makefile", b"all:\n\techo hi\n", "text"),
        ("blob", b"\x00\x01\x02", "binary"),
    ],
)
def test_classify(name: str, data: bytes | None, kind: str) -> None:
    assert classify(name, len(data) if data is not None else 100, data) == kind


def test_classify_sends_huge_files_to_download_only() -> None:
    assert classify("huge.csv", 10 * 1024**3) == "binary"
    assert classify("huge.png", 10 * 1024**3) == "binary"


def test_pandas_default_json_reads_as_columns() -> None:
    frame = load_table("frame.json", FRAME.to_json().encode())
    assert frame["city"].tolist() == ["Oslo", "Lima", "Pune"]
