"""Office files as the side panel previews them: a workbook sheet by sheet, a document's text, slides.

No Streamlit here: ``components/previews.py`` draws what these functions return (PDF pages come from
``core/files/pdf_preview.py``). Every reader looks at the first part of a file only (one sheet's first rows, the first
paragraphs or slides), so a large file previews as fast as a small one, and each result says what was left out.
The bytes are untrusted: Office files are ZIP archives whose unpacked size is checked before any XML is parsed, and
the server never calls these readers itself: the preview helper process (``core/files/preview_worker.py``, with
memory, CPU and time limits) does, and sends the result back as JSON.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core.errors import TablePreviewError

MAX_SHEETS = 50
SHEET_ROWS = 500
MAX_BLOCKS = 300
MAX_DOCUMENT_CHARS = 50_000
TABLE_ROWS = 50
MAX_SLIDES = 30
PICTURES_PER_SLIDE = 4
MAX_PICTURE_BYTES = 5 * 1024 * 1024
MAX_PICTURES_BYTES = 8 * 1024 * 1024
"""All the pictures of a presentation's preview together (one picture may be placed on every slide)."""
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
"""An Office file whose parts unpack to more than this is not previewed (a ZIP bomb would exhaust memory)."""
SHOWN_PICTURE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
DOCUMENT_KINDS = {".docx": "document", ".pptx": "slides", ".pdf": "pdf"}

_HEADING = re.compile(r"^(?:heading|überschrift|titre)\s*(\d)$", re.IGNORECASE)


class DocumentPreviewError(TablePreviewError):
    """An Office or PDF file could not be read for a preview (the message says why, in plain words)."""


@dataclass
class Sheet:
    """The first rows of one worksheet.

    Attributes:
        name: The sheet's name (untrusted text).
        frame: Its first :data:`SHEET_ROWS` rows, the first row as column names.
        total_rows: The row count the workbook declares (``None`` when it declares none).
        truncated: Whether rows were left out.

    """

    name: str
    frame: pd.DataFrame
    total_rows: int | None
    truncated: bool


@dataclass
class WorkbookPreview:
    """One sheet of a workbook and the names of its first sheets (``total_sheets`` says how many it has)."""

    sheet_names: list[str]
    total_sheets: int
    sheet: Sheet


@dataclass
class Block:
    """A piece of a Word document: a heading (``level`` 0 for the title), a paragraph or a table.

    A table's ``rows`` start with its header row (unique names) and all have the same length.
    """

    kind: str
    text: str = ""
    level: int = 0
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class DocumentPreview:
    """The first blocks of a Word document; ``truncated`` when more followed."""

    blocks: list[Block]
    truncated: bool


@dataclass
class Picture:
    """A picture on a slide, with its MIME type."""

    data: bytes
    mime_type: str


@dataclass
class Slide:
    """One slide: its title, its other texts, the pictures a browser shows and how many others were left out."""

    number: int
    title: str
    texts: list[str]
    pictures: list[Picture]
    hidden_pictures: int = 0


@dataclass
class SlidesPreview:
    """The first slides of a presentation (``total_slides`` says how many it has)."""

    slides: list[Slide]
    total_slides: int


def document_kind(name: str) -> str | None:
    """``"document"``, ``"slides"`` or ``"pdf"`` for a ``.docx``, ``.pptx`` or ``.pdf`` name, else ``None``."""
    lowered = name.lower()
    return next((kind for suffix, kind in DOCUMENT_KINDS.items() if lowered.endswith(suffix)), None)


def _open_office_zip(data: bytes, what: str) -> None:
    """Refuse bytes that are not a ZIP or that unpack to more than :data:`MAX_UNPACKED_BYTES`."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise DocumentPreviewError(f"it is not {what}") from error
    if unpacked > MAX_UNPACKED_BYTES:
        limit = MAX_UNPACKED_BYTES // (1024 * 1024)
        raise DocumentPreviewError(
            f"its parts unpack to {unpacked / 1024**2:,.0f} MB (the preview limit is {limit} MB)"
        )


def first_line(error: Exception) -> str:
    """The first line of an error's message, at most 200 characters (what a preview's warning quotes)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def _guarded(what: str, read: Any, *args: Any) -> Any:
    try:
        return read(*args)
    except DocumentPreviewError:
        raise
    except Exception as error:  # each library raises its own errors for bad bytes
        raise DocumentPreviewError(f"it could not be read as {what}: {first_line(error)}") from error


# -- workbooks --------------------------------------------------------------------------------------------


def _sheet(worksheet: Any, rows: int) -> Sheet:
    values = [list(row) for row in worksheet.iter_rows(max_row=rows + 2, values_only=True)]
    header, body = (values[0], values[1:]) if values else ([], [])
    names = [str(cell) if cell is not None else f"column {number + 1}" for number, cell in enumerate(header)]
    width = max([len(names), *(len(row) for row in body)])
    names += [f"column {number + 1}" for number in range(len(names), width)]
    frame = pd.DataFrame([row + [None] * (width - len(row)) for row in body[:rows]], columns=_unique(names))
    declared = worksheet.max_row if isinstance(worksheet.max_row, int) else None
    total = declared - 1 if declared else None
    return Sheet(str(worksheet.title), frame, total, len(body) > rows)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def read_workbook(data: bytes, sheet: int = 0, *, rows: int = SHEET_ROWS) -> WorkbookPreview:
    """The first rows of one sheet of an ``.xlsx`` workbook (streamed: later rows and other sheets are not parsed).

    Args:
        data: The workbook's bytes.
        sheet: Which sheet, counted from 0 among the first :data:`MAX_SHEETS`.
        rows: Most rows read (after the sheet's header row).

    Returns:
        The sheet, and the names of the first :data:`MAX_SHEETS` sheets to choose from.

    Raises:
        DocumentPreviewError: When the bytes are not a readable workbook (or it has no such sheet), saying why.

    """
    _open_office_zip(data, "an Excel workbook")

    def read() -> WorkbookPreview:
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            names = [str(name) for name in book.sheetnames]
            if not 0 <= sheet < min(len(names), MAX_SHEETS):
                raise DocumentPreviewError(f"it has no sheet {sheet + 1} among its first {MAX_SHEETS}")
            return WorkbookPreview(names[:MAX_SHEETS], len(names), _sheet(book.worksheets[sheet], rows))
        finally:
            book.close()

    return _guarded("an Excel workbook", read)  # type: ignore[no-any-return]


# -- Word documents -------------------------------------------------------------------------------------


def _paragraph_block(paragraph: Any) -> Block | None:
    text = paragraph.text.strip()
    if not text:
        return None
    style = str(getattr(paragraph.style, "name", "") or "")
    if style.lower() == "title":
        return Block("heading", text, 0)
    heading = _HEADING.match(style)
    if heading:
        return Block("heading", text, int(heading.group(1)))
    if style.lower().startswith("list"):
        return Block("paragraph", f"• {text}")
    return Block("paragraph", text)


def _table_block(table: Any) -> Block:
    rows = [[cell.text.strip() for cell in row.cells] for row in list(table.rows)[: TABLE_ROWS + 1]]
    width = max((len(row) for row in rows), default=0)
    rows = [row + [""] * (width - len(row)) for row in rows]
    if rows:
        rows[0] = _unique([name or f"column {number + 1}" for number, name in enumerate(rows[0])])
    return Block("table", rows=rows)


def _document_blocks(document: Any) -> Iterator[Block]:
    for item in document.iter_inner_content():
        block = _table_block(item) if hasattr(item, "rows") else _paragraph_block(item)
        if block is not None:
            yield block


def read_document(data: bytes) -> DocumentPreview:
    """The headings, paragraphs and tables of a ``.docx`` document, in order, up to a size limit.

    Args:
        data: The document's bytes.

    Returns:
        At most :data:`MAX_BLOCKS` blocks and about :data:`MAX_DOCUMENT_CHARS` characters of text.

    Raises:
        DocumentPreviewError: When the bytes are not a readable Word document, saying why.

    """
    _open_office_zip(data, "a Word document")

    def read() -> DocumentPreview:
        import docx

        blocks: list[Block] = []
        chars = 0
        for block in _document_blocks(docx.Document(io.BytesIO(data))):
            if len(blocks) >= MAX_BLOCKS or chars > MAX_DOCUMENT_CHARS:
                return DocumentPreview(blocks, truncated=True)
            blocks.append(block)
            chars += len(block.text) + sum(len(cell) for row in block.rows for cell in row)
        return DocumentPreview(blocks, truncated=False)

    return _guarded("a Word document", read)  # type: ignore[no-any-return]


# -- PowerPoint presentations ---------------------------------------------------------------------------


def _shapes(shapes: Any) -> Iterator[Any]:
    """Every shape, with the shapes inside groups."""
    for shape in shapes:
        inner = getattr(shape, "shapes", None)
        if inner is not None:
            yield from _shapes(inner)
        else:
            yield shape


def _picture(shape: Any) -> Picture | None:
    try:
        image = shape.image
    except (AttributeError, ValueError, KeyError):
        return None
    if image.content_type not in SHOWN_PICTURE_TYPES or len(image.blob) > MAX_PICTURE_BYTES:
        return None
    return Picture(image.blob, image.content_type)


def _slide(number: int, slide: Any) -> Slide:
    title_shape = slide.shapes.title
    title = title_shape.text_frame.text.strip() if title_shape is not None and title_shape.has_text_frame else ""
    texts: list[str] = []
    pictures: list[Picture] = []
    hidden = 0
    for shape in _shapes(slide.shapes):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        if getattr(shape, "has_text_frame", False) and shape.text_frame.text.strip():
            texts.append(shape.text_frame.text.strip())
        elif hasattr(shape, "image"):
            picture = _picture(shape) if len(pictures) < PICTURES_PER_SLIDE else None
            if picture is None:
                hidden += 1
            else:
                pictures.append(picture)
    return Slide(number, title, texts, pictures, hidden)


def _keep_pictures_within(slides: list[Slide], budget: int) -> None:
    """Count the pictures past ``budget`` bytes (all slides together) as hidden instead of showing them."""
    for slide in slides:
        kept = []
        for picture in slide.pictures:
            budget -= len(picture.data)
            if budget >= 0:
                kept.append(picture)
        slide.hidden_pictures += len(slide.pictures) - len(kept)
        slide.pictures = kept


def read_slides(data: bytes, *, max_slides: int = MAX_SLIDES) -> SlidesPreview:
    """The titles, texts and pictures of the first slides of a ``.pptx`` presentation.

    Args:
        data: The presentation's bytes.
        max_slides: Most slides read.

    Returns:
        The slides, numbered from 1. Pictures in formats a browser cannot show (EMF, WMF, TIFF), beyond
        :data:`PICTURES_PER_SLIDE`, over :data:`MAX_PICTURE_BYTES`, or past :data:`MAX_PICTURES_BYTES` for the
        whole preview are counted, not returned.

    Raises:
        DocumentPreviewError: When the bytes are not a readable presentation, saying why.

    """
    _open_office_zip(data, "a PowerPoint presentation")

    def read() -> SlidesPreview:
        import pptx

        slides = pptx.Presentation(io.BytesIO(data)).slides
        shown = [_slide(number, slide) for number, slide in enumerate(slides, start=1) if number <= max_slides]
        _keep_pictures_within(shown, MAX_PICTURES_BYTES)
        return SlidesPreview(shown, len(slides))

    return _guarded("a PowerPoint presentation", read)  # type: ignore[no-any-return]
