"""PDF pages as images for previews: the page count and one page at a time, rendered by PDFium (pypdfium2).

No Streamlit here: ``components/previews.py`` draws the page with a page selector over the first
:data:`PDF_PAGES` pages. The bytes are untrusted: a page is rendered at a bounded pixel size whatever size it
claims, and PDFium (which is not thread-safe, not even across documents) is only called under one process-wide
lock, with every document, page and bitmap closed before the lock is let go.
"""

from __future__ import annotations

import io
import threading
from typing import Any

from core.files.documents import DocumentPreviewError, first_line

PDF_PAGES = 20
PDF_WIDTH_PX = 900
PDF_MAX_PIXELS = 900 * 2400

_PDFIUM_LOCK = threading.Lock()


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
            page = document[index]
            try:
                width, height = page.get_size()
                bitmap = page.render(scale=_scale(width, height, max_width))
                image = bitmap.to_pil().copy()  # to_pil shares the bitmap's buffer, which close() frees
                bitmap.close()
            finally:
                page.close()
        finally:
            document.close()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
