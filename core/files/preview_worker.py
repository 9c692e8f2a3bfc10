"""The helper process that reads an untrusted file for a preview, and the JSON it answers with.

``core/files/preview_host.py`` starts this module's :func:`main` in a process of its own (under bubblewrap where it
works, always with memory and CPU-time limits) so that a crafted file cannot stall, crash or take over the server.
The request arrives on stdin: one JSON line (``op``, ``name``, ``sheet``, ``page``, ``size``) and then ``size`` bytes
of the file. The answer leaves on stdout as one JSON object, never as a pickle: once it has parsed a hostile file
the helper is not trusted, so the server checks every field of the answer (the ``decode_*`` functions below) before
it builds the :mod:`core.files.documents` types, a ``pandas.DataFrame`` or a picture from it.

An answer is ``{"result": ...}``, ``{"error": "...", "kind": "table" | "document"}`` (the file is not readable:
the reader's plain-words reason) or ``{"failure": "memory" | "damaged"}`` (the reader broke down).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import io
import json
import math
import os
import sys
from typing import Any

MAX_HEADER_BYTES = 4096
MAX_NESTING = 20
THUMBNAIL_WIDTH_PX = 1200
THUMBNAIL_MAX_PIXELS = 1200 * 3600
OPS = ("table", "workbook", "document", "slides", "pdf", "image")


# -- values and tables as JSON ----------------------------------------------------------------------------------


def json_value(value: Any, depth: int = 0) -> Any:
    """A cell's value as a JSON value: numbers, text, ``None`` for missing values, lists and objects for nested data.

    Dates and times become ISO 8601 text, infinities ``"inf"``/``"-inf"``, anything else its ``str()``.
    """
    import numpy as np
    import pandas as pd

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (list, tuple, np.ndarray, dict)):
        if depth >= MAX_NESTING:
            return str(value)
        if isinstance(value, dict):
            return {str(key): json_value(item, depth + 1) for key, item in value.items()}
        return [json_value(item, depth + 1) for item in list(value)]
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else ("inf" if number > 0 else "-inf")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def encode_frame(frame: Any) -> dict[str, Any]:
    """A DataFrame as JSON: ``columns``, ``dtypes``, ``rows`` of JSON values and ``index``.

    ``index`` is ``None`` for the plain 0, 1, 2...; ``truncated`` and ``total_rows`` are the marks
    :func:`core.files.archive.load_table` sets.
    """
    import pandas as pd

    index = frame.index
    plain = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
    return {
        "columns": [name if isinstance(name, (str, int)) else str(name) for name in frame.columns],
        "dtypes": [str(dtype) for dtype in frame.dtypes],
        "rows": [[json_value(cell) for cell in row] for row in frame.itertuples(index=False, name=None)],
        "index": None if plain else [json_value(label) for label in index],
        "truncated": bool(frame.attrs.get("truncated", False)),
        "total_rows": frame.attrs.get("total_rows"),
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- the readers ------------------------------------------------------------------------------------------------


def _table(request: dict[str, Any], data: bytes) -> dict[str, Any]:
    from core.files.archive import classify, extension, load_table

    name = str(request["name"])
    if extension(name) == ".json":
        kind = classify(name, len(data), data)  # a Plotly figure, a table or just text
        if kind != "table":
            return {"kind": kind}
    return {"kind": "table", "table": encode_frame(load_table(name, data))}


def _workbook(request: dict[str, Any], data: bytes) -> dict[str, Any]:
    from core.files.documents import read_workbook

    book = read_workbook(data, int(request.get("sheet", 0)))
    sheet = book.sheet
    return {
        "sheet_names": book.sheet_names,
        "total_sheets": book.total_sheets,
        "sheet": {
            "name": sheet.name,
            "table": encode_frame(sheet.frame),
            "total_rows": sheet.total_rows,
            "truncated": sheet.truncated,
        },
    }


def _document(request: dict[str, Any], data: bytes) -> dict[str, Any]:
    from core.files.documents import read_document

    preview = read_document(data)
    blocks = [{"kind": b.kind, "text": b.text, "level": b.level, "rows": b.rows} for b in preview.blocks]
    return {"blocks": blocks, "truncated": preview.truncated}


def _slides(request: dict[str, Any], data: bytes) -> dict[str, Any]:
    from core.files.documents import read_slides

    preview = read_slides(data)
    slides = [
        {
            "number": slide.number,
            "title": slide.title,
            "texts": slide.texts,
            "pictures": [{"mime_type": p.mime_type, "data": _b64(p.data)} for p in slide.pictures],
            "hidden_pictures": slide.hidden_pictures,
        }
        for slide in preview.slides
    ]
    return {"slides": slides, "total_slides": preview.total_slides}


def _pdf(request: dict[str, Any], data: bytes) -> dict[str, Any]:
    from core.files.pdf_preview import render_pdf_preview

    page = render_pdf_preview(data, int(request.get("page", 0)))
    return {"pages": page.pages, "index": page.index, "png": _b64(page.png) if page.png else None}


def _image(request: dict[str, Any], data: bytes) -> dict[str, Any]:
    """A reduced copy of a picture: at most :data:`THUMBNAIL_WIDTH_PX` wide, JPEG (PNG when it has transparency)."""
    from PIL import Image

    from core.files.documents import DocumentPreviewError, first_line

    try:  # PIL refuses pictures of over about 180 million pixels (DecompressionBombError)
        opened = Image.open(io.BytesIO(data))
        opened.draft("RGB", (THUMBNAIL_WIDTH_PX, THUMBNAIL_WIDTH_PX * 3))  # JPEG: decode at a smaller scale
        opened.thumbnail((THUMBNAIL_WIDTH_PX, THUMBNAIL_MAX_PIXELS // THUMBNAIL_WIDTH_PX))
        alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
        reduced = opened.convert("RGBA" if alpha else "RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise DocumentPreviewError(f"it could not be read as a picture: {first_line(error)}") from error
    buffer = io.BytesIO()
    reduced.save(buffer, format="PNG" if alpha else "JPEG", quality=85)
    return {"mime_type": "image/png" if alpha else "image/jpeg", "data": _b64(buffer.getvalue())}


_READERS = {
    "table": _table,
    "workbook": _workbook,
    "document": _document,
    "slides": _slides,
    "pdf": _pdf,
    "image": _image,
}


def near_memory_limit() -> bool:
    """Whether this process's address space came within 10 % of its limit (a reader's error then means memory)."""
    import resource

    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return False
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            peak = next(line for line in status if line.startswith("VmPeak:"))
    except (OSError, StopIteration):
        return False
    return int(peak.split()[1]) * 1024 > 0.9 * limit


def answer(request: dict[str, Any], data: bytes) -> dict[str, Any]:
    """What the helper answers to one request (also callable in a test, without a process).

    Args:
        request: The request line: ``op`` (one of :data:`OPS`), ``name``, and ``sheet`` or ``page`` (from 0).
        data: The file's bytes.

    Returns:
        ``{"result": ...}``, ``{"error": ..., "kind": ...}`` or ``{"failure": ...}`` (see the module's text).
        A reader that fails near the memory limit (libxml2, say, reports a failed allocation as a syntax error)
        gives ``{"failure": "memory"}``.

    """
    from core.errors import TablePreviewError
    from core.files.documents import DocumentPreviewError, first_line

    try:
        return {"result": _READERS[str(request["op"])](request, data)}
    except MemoryError:
        return {"failure": "memory"}
    except Exception as error:
        if near_memory_limit():
            return {"failure": "memory"}
        if isinstance(error, DocumentPreviewError):
            return {"error": str(error), "kind": "document"}
        if isinstance(error, TablePreviewError):
            return {"error": str(error), "kind": "table"}
        return {"failure": "damaged", "detail": first_line(error)}  # any reader's own breakdown


def _warm() -> None:
    """Load every reader's library and run the readers once on tiny inputs before the file arrives.

    A waiting helper then answers at once: a first ``read_csv``, a first Word or PDF page costs 10 to 40 ms of
    set-up in a fresh process.
    """
    import docx
    import openpyxl
    import pptx
    import pyarrow.parquet  # noqa: F401
    import pypdfium2
    from PIL import Image  # noqa: F401

    from core.files.archive import load_table

    load_table("warm.csv", b"a,b\n1,x\n")
    load_table("warm.json", b'[{"a": 1}]')
    buffer = io.BytesIO()
    openpyxl.Workbook().save(buffer)
    _workbook({"sheet": 0}, buffer.getvalue())
    buffer = io.BytesIO()
    docx.Document().save(buffer)
    _document({}, buffer.getvalue())
    buffer = io.BytesIO()
    pptx.Presentation().save(buffer)
    _slides({}, buffer.getvalue())
    document = pypdfium2.PdfDocument.new()
    document.new_page(595, 842).close()
    buffer = io.BytesIO()
    document.save(buffer)
    document.close()
    _pdf({"page": 0}, buffer.getvalue())


def _read_exactly(stream: Any, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = stream.read(missing)
        if not chunk:
            break
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def main() -> int:
    """Serve one request from stdin and write the answer to stdout (limits are set before this runs).

    Returns:
        The exit status: 0 after an answer or when stdin closes before a request (an idle helper sent away). The
        caller should end the process at once with it (``os._exit``): the server does not wait for a tidy exit.

    """
    answer_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to stderr: it cannot garble the answer
    with contextlib.suppress(Exception):  # only a head start: the request is read all the same
        _warm()
    header = sys.stdin.buffer.readline(MAX_HEADER_BYTES)
    if not header:
        return 0
    request = json.loads(header)
    if not isinstance(request, dict) or request.get("op") not in OPS or not isinstance(request.get("size"), int):
        return 2
    try:
        data = _read_exactly(sys.stdin.buffer, request["size"])
        result = answer(request, data)
        text = json.dumps(result, allow_nan=False)
    except MemoryError:
        text = json.dumps({"failure": "memory"})
    answer_out.write(text.encode("ascii") + b"\n")  # one line: JSON text holds no raw newline
    answer_out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
