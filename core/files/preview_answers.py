"""The answers of the preview helper (``core/files/preview_worker.py``) back into the server's types.

The helper is not trusted once it has parsed a hostile file, so every field of its JSON answer is checked here
(type, length, count, picture type) before a ``pandas.DataFrame``, a :mod:`core.files.documents` type or a
:class:`~core.files.pdf_preview.PdfPage` is built from it; anything else raises :class:`BadAnswer`.
"""

from __future__ import annotations

import base64
import contextlib
import re
from typing import Any

from core.files.archive import PREVIEW_ROWS
from core.files.documents import (
    MAX_BLOCKS,
    MAX_SHEETS,
    MAX_SLIDES,
    PICTURES_PER_SLIDE,
    SHEET_ROWS,
    SHOWN_PICTURE_TYPES,
    Block,
    DocumentPreview,
    Picture,
    Sheet,
    Slide,
    SlidesPreview,
    WorkbookPreview,
)
from core.files.pdf_preview import PdfPage

_DTYPES = re.compile(r"(u?int(8|16|32|64)|float(32|64)|bool|datetime64\[(ns|us|ms|s)\])")
MAX_TABLE_ROWS = max(PREVIEW_ROWS, SHEET_ROWS)


class BadAnswer(ValueError):
    """The helper's answer does not have the shape of the answer asked for."""


def _get(value: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    item = value.get(key) if isinstance(value, dict) else None
    if not isinstance(item, kind) or (
        isinstance(item, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
    ):
        raise BadAnswer(f"{key!r} is missing or of the wrong type")
    return item


def _texts(value: Any, key: str) -> list[str]:
    items = _get(value, key, list)
    if not all(isinstance(item, str) for item in items):
        raise BadAnswer(f"{key!r} holds something other than text")
    return items


def _bytes(value: Any, key: str) -> bytes:
    try:
        return base64.b64decode(_get(value, key, str), validate=True)
    except ValueError as error:
        raise BadAnswer(f"{key!r} is not base64") from error


def decode_frame(value: Any) -> Any:
    """The DataFrame :func:`encode_frame` described, with its simple column types (numbers, booleans, times) back."""
    import pandas as pd

    columns = _get(value, "columns", list)
    rows = _get(value, "rows", list)
    dtypes = _texts(value, "dtypes")
    index = value.get("index")
    total = value.get("total_rows")
    if (
        len(rows) > MAX_TABLE_ROWS
        or len(dtypes) != len(columns)
        or any(not isinstance(row, list) or len(row) != len(columns) for row in rows)
    ):
        raise BadAnswer("the table's rows do not match its columns")
    if not all(isinstance(name, (str, int)) for name in columns) or not (total is None or isinstance(total, int)):
        raise BadAnswer("a column name or the row count is of the wrong type")
    frame = pd.DataFrame(rows, columns=columns)
    for number, dtype in enumerate(dtypes):
        if _DTYPES.fullmatch(dtype) and str(frame.dtypes.iloc[number]) != dtype:
            with contextlib.suppress(ValueError, TypeError, OverflowError):  # else shown as the values it came as
                frame.isetitem(number, frame.iloc[:, number].astype(dtype))
    if index is not None:
        if not isinstance(index, list) or len(index) != len(rows):
            raise BadAnswer("the table's index does not match its rows")
        frame.index = pd.Index([label if isinstance(label, (str, int, float)) else str(label) for label in index])
    frame.attrs["truncated"] = _get(value, "truncated", bool)
    frame.attrs["total_rows"] = total
    return frame


def decode_table(value: Any) -> tuple[str, Any]:
    """``(kind, frame)``: ``"table"`` and its DataFrame, or ``"plotly"``/``"text"`` and ``None`` for other JSON."""
    kind = _get(value, "kind", str)
    if kind == "table":
        return kind, decode_frame(_get(value, "table", dict))
    if kind in ("plotly", "text"):
        return kind, None
    raise BadAnswer(f"unknown kind {kind[:20]!r}")


def decode_workbook(value: Any) -> WorkbookPreview:
    """The :class:`~core.files.documents.WorkbookPreview` of a ``workbook`` answer."""
    sheet = _get(value, "sheet", dict)
    total_rows = sheet.get("total_rows")
    if not (total_rows is None or isinstance(total_rows, int)):
        raise BadAnswer("'total_rows' is of the wrong type")
    return WorkbookPreview(
        _texts(value, "sheet_names")[:MAX_SHEETS],
        _get(value, "total_sheets", int),
        Sheet(
            _get(sheet, "name", str),
            decode_frame(_get(sheet, "table", dict)),
            total_rows,
            _get(sheet, "truncated", bool),
        ),
    )


def _block(value: Any) -> Block:
    rows = _get(value, "rows", list)
    if not all(isinstance(row, list) and all(isinstance(cell, str) for cell in row) for row in rows):
        raise BadAnswer("a table block holds something other than rows of text")
    if len({len(row) for row in rows}) > 1:
        raise BadAnswer("a table block's rows differ in length")
    kind = _get(value, "kind", str)
    if kind not in ("heading", "paragraph", "table"):
        raise BadAnswer(f"unknown block kind {kind[:20]!r}")
    return Block(kind, _get(value, "text", str), _get(value, "level", int), rows)


def decode_document(value: Any) -> DocumentPreview:
    """The :class:`~core.files.documents.DocumentPreview` of a ``document`` answer."""
    blocks = _get(value, "blocks", list)
    if len(blocks) > MAX_BLOCKS:
        raise BadAnswer("too many blocks")
    return DocumentPreview([_block(block) for block in blocks], _get(value, "truncated", bool))


def decode_picture(value: Any) -> Picture:
    """A :class:`~core.files.documents.Picture` of a type a browser shows (from a slide or a reduced image)."""
    mime_type = _get(value, "mime_type", str)
    if mime_type not in SHOWN_PICTURE_TYPES:
        raise BadAnswer("a picture of a type that is not shown")
    return Picture(_bytes(value, "data"), mime_type)


def decode_slides(value: Any) -> SlidesPreview:
    """The :class:`~core.files.documents.SlidesPreview` of a ``slides`` answer."""
    slides = []
    for slide in _get(value, "slides", list)[:MAX_SLIDES]:
        pictures = [decode_picture(picture) for picture in _get(slide, "pictures", list)[:PICTURES_PER_SLIDE]]
        slides.append(
            Slide(
                _get(slide, "number", int),
                _get(slide, "title", str),
                _texts(slide, "texts"),
                pictures,
                _get(slide, "hidden_pictures", int),
            )
        )
    return SlidesPreview(slides, _get(value, "total_slides", int))


def decode_pdf(value: Any) -> PdfPage:
    """The :class:`~core.files.pdf_preview.PdfPage` of a ``pdf`` answer (its image must be a PNG)."""
    pages, index = _get(value, "pages", int), _get(value, "index", int)
    png = _bytes(value, "png") if value.get("png") is not None else None
    if png is not None and not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise BadAnswer("the page is not a PNG")
    return PdfPage(pages, index, png)
