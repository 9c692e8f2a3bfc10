"""PDF pages as images for previews: the page count and one page at a time, rendered by PDFium (pypdfium2).

No Streamlit here: ``components/previews.py`` draws the page with a page selector over the first
:data:`PDF_PAGES` pages. The bytes are untrusted, so the server never calls these functions itself: the preview
helper process (``core/files/preview_worker.py``, with memory, CPU and time limits) does, and sends the page back as
a PNG. A page is rendered at a bounded pixel size whatever size it claims, and PDFium (which is not thread-safe, not
even across documents) is only called under one process-wide lock, with every document, page and bitmap closed
before the lock is let go.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any

from core.files.documents import DocumentPreviewError, first_line

PDF_PAGES = 20
PDF_WIDTH_PX = 900
PDF_MAX_PIXELS = 900 * 2400

_PDFIUM_LOCK = threading.Lock()


@dataclass
class PdfPage:
    """One page of a PDF as a preview shows it.

    Attributes:
        pages: How many pages the PDF has.
        index: Which page ``png`` shows, counted from 0.
        png: The page as a PNG image (``None`` when the PDF has no pages).

    """

    pages: int
    index: int
    png: bytes | None


def _open_pdf(data: bytes) -> Any:
    import pypdfium2

    try:
        return pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as error:
        raise DocumentPreviewError(f"it could not be read as a PDF: {first_line(error)}") from error


def pdf_page_count(data: bytes) -> int:
    """The number of pages of a PDF.

    Raises:
        DocumentPreviewError: When the bytes are not a readable PDF (or it is encrypted), saying why.

    """
    with _PDFIUM_LOCK:
        document = _open_pdf(data)
        try:
            return len(document)
        finally:
            document.close()


def _scale(width: float, height: float, max_width: int) -> float:
    """The render scale (pixels per point) that fits the page in ``max_width`` and :data:`PDF_MAX_PIXELS`."""
    width, height = max(width, 1.0), max(height, 1.0)
    return min(max_width / width, (PDF_MAX_PIXELS / (width * height)) ** 0.5, 3.0)


def _render(document: Any, index: int, max_width: int) -> Any:
    """Page ``index`` of an open document as a PIL image (a copy: the bitmap is closed)."""
    page = document[index]
    try:
        width, height = page.get_size()
        bitmap = page.render(scale=_scale(width, height, max_width))
        try:
            return bitmap.to_pil().copy()  # to_pil shares the bitmap's buffer, which close() frees
        finally:
            bitmap.close()
    finally:
        page.close()


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def render_pdf_page(data: bytes, index: int, *, max_width: int = PDF_WIDTH_PX) -> bytes:
    """One page of a PDF as a PNG image at most ``max_width`` pixels wide.

    Args:
        data: The PDF's bytes.
        index: The page, counted from 0.
        max_width: The image's widest width in pixels.

    Returns:
        The PNG's bytes.

    Raises:
        DocumentPreviewError: When the PDF cannot be read or has no such page.

    """
    with _PDFIUM_LOCK:
        document = _open_pdf(data)
        try:
            if not 0 <= index < len(document):
                raise DocumentPreviewError(f"it has no page {index + 1} (it has {len(document)})")
            image = _render(document, index, max_width)
        finally:
            document.close()
    return _png(image)


def render_pdf_preview(data: bytes, index: int) -> PdfPage:
    """The page count and one page among the first :data:`PDF_PAGES`, from one opening of the PDF.

    Args:
        data: The PDF's bytes.
        index: The page wanted, counted from 0; one past the previewable pages gives the last of them.

    Returns:
        The page count and the page rendered (no image when the PDF has no pages).

    Raises:
        DocumentPreviewError: When the bytes are not a readable PDF (or it is encrypted), saying why.

    """
    with _PDFIUM_LOCK:
        document = _open_pdf(data)
        try:
            pages = len(document)
            if pages == 0:
                return PdfPage(0, 0, None)
            index = max(0, min(index, pages - 1, PDF_PAGES - 1))
            image = _render(document, index, PDF_WIDTH_PX)
        finally:
            document.close()
    return PdfPage(pages, index, _png(image))
