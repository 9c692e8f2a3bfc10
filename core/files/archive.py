"""Files as the side panel shows them: the workspace as one ZIP, tables for previews, and what kind a file is.

No Streamlit here: ``components/side_panel.py`` draws what these functions return.

- :func:`zip_workspace` streams every workspace file into one ZIP (the "Download all" link).
- :func:`load_table` reads CSV, TSV, XLSX, Parquet and JSON bytes into a DataFrame of at most
  :data:`PREVIEW_ROWS` rows; ``frame.attrs["truncated"]`` says whether rows were left out. The side panel never
  calls it in the server: the preview helper process does (``core/files/preview_host.py``).
- :func:`is_plotly_json` tells a Plotly figure saved as JSON from other JSON.
- :func:`classify` picks how a file is previewed: ``"image"``, ``"table"``, ``"plotly"``, ``"html"``, ``"text"``,
  ``"document"`` (Word), ``"slides"`` (PowerPoint), ``"pdf"`` or ``"binary"`` (download only);
  ``core/files/documents.py`` reads the Office and PDF kinds (and ``.xlsx`` workbooks sheet by sheet).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import time
import zipfile
from pathlib import PurePosixPath
from typing import Any, BinaryIO

import pandas as pd

from core.errors import FileNotFoundInSandbox, TablePreviewError
from core.files.documents import document_kind
from core.types import PLOTLY_JSON
from core.workspace.base import Workspace

PREVIEW_ROWS = 1000
MAX_PREVIEW_BYTES = 20 * 1024 * 1024  # bigger files are offered for download only
COPY_CHUNK = 1024 * 1024
"""Bytes copied at a time when a file is streamed into an archive."""
KINDS = ("image", "table", "plotly", "html", "text", "document", "slides", "pdf", "binary")
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"})
TABLE_EXTENSIONS = frozenset({".csv", ".tsv", ".xlsx", ".parquet", ".jsonl"})
HTML_EXTENSIONS = frozenset({".html", ".htm"})
TEXT_EXTENSIONS = frozenset(
    {".txt", ".md", ".py", ".js", ".ts", ".log", ".yaml", ".yml", ".toml", ".sql", ".sh", ".xml", ".ipynb"}
)
_TABLE_FORMATS = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".xlsx": "Excel",
    ".parquet": "Parquet",
    ".json": "JSON",
    ".jsonl": "JSON Lines",
}


def extension(name: str) -> str:
    """The lower-case extension of a file name or path, with its dot (``""`` when there is none)."""
    return PurePosixPath(name).suffix.lower()


def zip_workspace(workspace: Workspace, target: BinaryIO) -> None:
    """Write every workspace file into one ZIP archive (DEFLATED), under the names the workspace gives them.

    Files are streamed a piece at a time, so memory does not grow with their size. A file deleted between
    listing and reading is left out; an empty workspace gives an empty archive.

    Args:
        workspace: The workspace to pack.
        target: Where the ZIP is written (a file open for writing).

    """
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        add_workspace(archive, workspace)


def add_workspace(archive: zipfile.ZipFile, workspace: Workspace, folder: str = "") -> None:
    """Stream every workspace file into an open ZIP archive, under ``folder`` (``""`` or ending in ``/``)."""
    for info in workspace.list():
        try:
            source = workspace.open(info.path)
        except FileNotFoundInSandbox:
            continue
        entry = zipfile.ZipInfo(folder + info.path, date_time=_zip_time(info.modified))
        entry.compress_type = zipfile.ZIP_DEFLATED
        with contextlib.closing(source), archive.open(entry, "w", force_zip64=True) as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)


def _zip_time(modified: float) -> tuple[int, int, int, int, int, int]:
    """A modification time as ZIP stores it (ZIP cannot say anything before 1980)."""
    year, month, day, hour, minute, second = time.localtime(modified)[:6]
    return (year, month, day, hour, minute, second) if year >= 1980 else (1980, 1, 1, 0, 0, 0)


# -- tables -----------------------------------------------------------------------------------------------


def _mark(frame: pd.DataFrame, truncated: bool, total_rows: int | None) -> pd.DataFrame:
    if len(frame) > PREVIEW_ROWS:
        frame = frame.iloc[:PREVIEW_ROWS]
        truncated = True
    frame.attrs["truncated"] = truncated
    frame.attrs["total_rows"] = total_rows
    return frame


def is_truncated(frame: pd.DataFrame) -> bool:
    """Whether :func:`load_table` left rows out of ``frame`` (it keeps the first :data:`PREVIEW_ROWS`)."""
    return bool(frame.attrs.get("truncated", False))


def _text(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise ValueError("it is a binary file")
    return data.decode("utf-8-sig")


def _read_delimited(data: bytes, separator: str) -> pd.DataFrame:
    text = _text(data)
    frame = pd.read_csv(io.StringIO(text), sep=separator, nrows=PREVIEW_ROWS + 1)
    return _mark(frame, False, None)


def _read_excel(data: bytes) -> pd.DataFrame:
    frame = pd.read_excel(io.BytesIO(data), engine="openpyxl", nrows=PREVIEW_ROWS + 1)
    return _mark(frame, False, None)


def _read_parquet(data: bytes) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = pq.ParquetFile(io.BytesIO(data))
    total = source.metadata.num_rows
    batch = next(source.iter_batches(batch_size=PREVIEW_ROWS), None)
    table = pa.Table.from_batches([batch]) if batch is not None else source.schema_arrow.empty_table()
    return _mark(table.to_pandas(), total > PREVIEW_ROWS, total)


def _frame_from_json(value: Any) -> pd.DataFrame:
    if isinstance(value, list):
        total = len(value)
        rows = value[: PREVIEW_ROWS + 1]
        records = all(isinstance(row, dict) for row in rows)
        frame = pd.json_normalize(rows) if records else pd.DataFrame(rows)
        return _mark(frame, total > PREVIEW_ROWS, total)
    if isinstance(value, dict):
        if value and all(isinstance(column, list) for column in value.values()):
            lengths = {len(column) for column in value.values()}
            if len(lengths) == 1:
                total = lengths.pop()
                frame = pd.DataFrame({key: column[: PREVIEW_ROWS + 1] for key, column in value.items()})
                return _mark(frame, total > PREVIEW_ROWS, total)
        if value and all(isinstance(column, dict) for column in value.values()):
            frame = pd.DataFrame(value)  # columns as {index: value} objects (pandas' default JSON)
        else:
            frame = pd.json_normalize(value)  # any other object: one flattened row
        return _mark(frame, False, len(frame))
    raise ValueError(f"it holds a single {type(value).__name__} value, not records or columns")


def _read_json(data: bytes) -> pd.DataFrame:
    return _frame_from_json(json.loads(_text(data)))


def _read_json_lines(data: bytes) -> pd.DataFrame:
    records = []
    lines = [line for line in _text(data).splitlines() if line.strip()]
    for line in lines[: PREVIEW_ROWS + 1]:
        records.append(json.loads(line))
    frame = _frame_from_json(records)
    return _mark(frame, len(lines) > PREVIEW_ROWS, len(lines))


_READERS = {
    ".csv": lambda data: _read_delimited(data, ","),
    ".tsv": lambda data: _read_delimited(data, "\t"),
    ".xlsx": _read_excel,
    ".parquet": _read_parquet,
    ".json": _read_json,
    ".jsonl": _read_json_lines,
}


def _reason(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "it is not UTF-8 text"
    if isinstance(error, pd.errors.EmptyDataError):
        return "it is empty"
    if isinstance(error, zipfile.BadZipFile):
        return "it is not an Excel workbook"
    if isinstance(error, json.JSONDecodeError):
        return f"it is not valid JSON ({error.msg} at line {error.lineno})"
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return first_line[:200]


def load_table(name: str, data: bytes) -> pd.DataFrame:
    """Read a CSV, TSV, XLSX, Parquet, JSON or JSON Lines file into a DataFrame for a preview.

    JSON may be a list of records (nested objects are flattened into ``a.b`` columns), an object of equally
    long column lists, or an object of ``{index: value}`` columns (pandas' default); any other object becomes
    one flattened row (``pd.json_normalize``).

    Args:
        name: The file name; its extension picks the format.
        data: The file's bytes.

    Returns:
        At most :data:`PREVIEW_ROWS` rows. ``frame.attrs["truncated"]`` is ``True`` when rows were left out
        and ``frame.attrs["total_rows"]`` holds the full row count where it is known without reading
        everything (``None`` otherwise).

    Raises:
        TablePreviewError: When the bytes cannot be read as a table, with a message saying why.

    """
    suffix = extension(name)
    reader = _READERS.get(suffix)
    if reader is None:
        raise TablePreviewError(f"{name!r} is not a table file (CSV, TSV, XLSX, Parquet or JSON).")
    try:
        frame = reader(data)
    except Exception as error:  # each library raises its own errors for bad bytes
        raise TablePreviewError(
            f"{name!r} could not be read as a {_TABLE_FORMATS[suffix]} table: {_reason(error)}."
        ) from error
    if frame.columns.empty:
        raise TablePreviewError(f"{name!r} could not be read as a {_TABLE_FORMATS[suffix]} table: it has no columns.")
    return frame


# -- kinds ------------------------------------------------------------------------------------------------


def _is_figure(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    if PLOTLY_JSON in value:  # a Jupyter MIME bundle
        return _is_figure(value[PLOTLY_JSON])
    traces = value.get("data")
    if not isinstance(traces, list) or not all(isinstance(trace, dict) for trace in traces):
        return False
    if isinstance(value.get("layout"), dict):
        return True
    return bool(traces) and all("type" in trace for trace in traces)


def is_plotly_json(data: bytes) -> bool:
    """Whether ``data`` is a Plotly figure as JSON (``fig.to_json()``, ``plotly.io.write_json``).

    That is a JSON object with a ``"data"`` list of trace objects and a ``"layout"`` object, or with a non-empty
    ``"data"`` list whose traces all name their ``"type"`` (or a Jupyter bundle holding such a figure).
    """
    if data.lstrip()[:1] != b"{":
        return False
    try:
        value = json.loads(data)
    except ValueError:
        return False
    return _is_figure(value)


def _looks_like_text(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start >= len(sample) - 3  # a character cut in half at the end of the sample
    return True


def classify(name: str, data_size: int, data: bytes | None = None) -> str:
    """How a file is previewed, from its name (and, for JSON and unknown extensions, its bytes).

    Args:
        name: The file name or path.
        data_size: Its size in bytes; files over :data:`MAX_PREVIEW_BYTES` are ``"binary"`` (download only).
        data: The bytes, when already read. Without them a ``.json`` file counts as ``"table"`` (the likely
            kind, good enough to decide whether its preview starts expanded) and an unknown extension as
            ``"binary"``.

    Returns:
        One of :data:`KINDS`.

    """
    if data_size > MAX_PREVIEW_BYTES:
        return "binary"
    suffix = extension(name)
    office = document_kind(name)
    if office is not None:
        return office
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in TABLE_EXTENSIONS:
        return "table"
    if suffix in HTML_EXTENSIONS:
        return "html"
    if suffix in TEXT_EXTENSIONS:
        return "text"
    if suffix == ".json":
        if data is None:
            return "table"
        if is_plotly_json(data):
            return "plotly"
        try:
            load_table(name, data)
        except TablePreviewError:
            return "text"
        return "table"
    if data is not None and _looks_like_text(data):
        return "text"
    return "binary"
