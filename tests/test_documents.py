"""Office and PDF previews (core/files/documents.py) on files made by the libraries the sandbox offers.

The readers are called here in the test's process; the side panel calls them through the preview helper process
(core/files/preview_host.py), and the last tests check that the helper gives the same previews.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from PIL import Image

from core.files import documents, pdf_preview, preview_host
from core.files.archive import classify
from core.files.documents import DocumentPreviewError
from tests.office_files import make_docx, make_pdf, make_pptx, make_workbook, png_bytes


def test_office_and_pdf_names_have_their_own_kinds() -> None:
    assert classify("report.docx", 100) == "document"
    assert classify("deck.PPTX", 100) == "slides"
    assert classify("paper.pdf", 100) == "pdf"
    assert classify("book.xlsx", 100) == "table"
    assert classify("huge.pdf", 10 * 1024**3) == "binary"


def bytes_read(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many bytes of each member of a ZIP (an Office file) are read from now on, by name."""
    counts: dict[str, int] = {}
    open_member = zipfile.ZipFile.open

    def counted(archive: zipfile.ZipFile, name: str | zipfile.ZipInfo, *args: Any, **kwargs: Any) -> Any:
        member = open_member(archive, name, *args, **kwargs)
        key = name if isinstance(name, str) else name.filename
        for method in ("read", "read1"):
            reader = getattr(member, method)

            def read(size: int = -1, reader: Callable[[int], bytes] = reader) -> bytes:
                data = reader(size)
                counts[key] = counts.get(key, 0) + len(data)
                return data

            setattr(member, method, read)
        return member

    monkeypatch.setattr(zipfile.ZipFile, "open", counted)
    return counts


def test_workbook_reads_only_the_chosen_sheet_and_its_first_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = documents.SHEET_ROWS * 10
    data = make_workbook(sheets=3, rows=rows)
    sizes = {info.filename: info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist()}
    read = bytes_read(monkeypatch)
    preview = documents.read_workbook(data, 2)
    assert preview.sheet_names == ["S0", "S1", "S2"] and preview.total_sheets == 3
    sheet = preview.sheet
    assert sheet.name == "S2" and list(sheet.frame.columns) == ["row", "sheet"]
    assert len(sheet.frame) == documents.SHEET_ROWS and sheet.truncated
    assert sheet.total_rows == rows
    assert sheet.frame["sheet"].iloc[0] == "sheet 2"
    # What was read, not only what is shown: the other sheets barely opened (openpyxl peeks at their first
    # block for the dimensions), the chosen one only as far as its first rows.
    sheets = {name: size for name, size in sizes.items() if name.startswith("xl/worksheets/sheet")}
    assert len(sheets) == 3
    for name in ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"):
        assert read.get(name, 0) <= sheets[name] // 20, (name, read.get(name), sheets[name])
    assert 0 < read["xl/worksheets/sheet3.xml"] <= sheets["xl/worksheets/sheet3.xml"] // 4, read
    with pytest.raises(DocumentPreviewError, match="no sheet 4"):
        documents.read_workbook(data, 3)


def test_workbook_offers_only_its_first_sheets() -> None:
    preview = documents.read_workbook(make_workbook(sheets=documents.MAX_SHEETS + 2, rows=1))
    assert len(preview.sheet_names) == documents.MAX_SHEETS
    assert preview.total_sheets == documents.MAX_SHEETS + 2


def test_document_keeps_headings_paragraphs_and_tables_in_order() -> None:
    preview = documents.read_document(make_docx())
    shown = [(block.kind, block.level, block.text) for block in preview.blocks if block.kind != "table"]
    assert shown == [
        ("heading", 0, "Quarterly report"),
        ("heading", 1, "Sales"),
        ("paragraph", 0, "Revenue grew **12%** <b>this</b> quarter."),
        ("paragraph", 0, "• North"),
        ("heading", 2, "Outlook"),
        ("paragraph", 0, "Steady."),
    ]
    (table,) = [block for block in preview.blocks if block.kind == "table"]
    assert table.rows == [["region", "region (2)"], ["north", "42"]]
    assert [block.kind for block in preview.blocks].index("table") == 4
    assert not preview.truncated


def test_long_document_is_cut() -> None:
    import docx

    document = docx.Document()
    for number in range(documents.MAX_BLOCKS + 20):
        document.add_paragraph(f"paragraph {number}")
    buffer = io.BytesIO()
    document.save(buffer)
    preview = documents.read_document(buffer.getvalue())
    assert len(preview.blocks) == documents.MAX_BLOCKS and preview.truncated


def test_slides_have_titles_texts_and_pictures_also_in_groups() -> None:
    preview = documents.read_slides(make_pptx(slides=2))
    assert preview.total_slides == 2
    first, second = preview.slides
    assert (first.number, first.title, first.texts) == (1, "Slide title 1", ["Point 1"])
    assert [Image.open(io.BytesIO(p.data)).getpixel((0, 0)) for p in first.pictures] == [(255, 0, 0), (0, 0, 255)]
    assert {p.mime_type for p in first.pictures} == {"image/png"}
    assert (second.title, second.texts, second.pictures) == ("Slide title 2", ["Point 2"], [])


def test_many_slides_preview_the_first() -> None:
    preview = documents.read_slides(make_pptx(slides=documents.MAX_SLIDES + 3))
    assert len(preview.slides) == documents.MAX_SLIDES and preview.total_slides == documents.MAX_SLIDES + 3


def test_pdf_pages_render_as_bounded_images() -> None:
    data = make_pdf(3)
    assert pdf_preview.pdf_page_count(data) == 3
    image = Image.open(io.BytesIO(pdf_preview.render_pdf_page(data, 2)))
    assert image.format == "PNG" and image.width == pdf_preview.PDF_WIDTH_PX
    with pytest.raises(DocumentPreviewError, match="no page 4"):
        pdf_preview.render_pdf_page(data, 3)


def test_a_huge_pdf_page_renders_within_the_pixel_budget() -> None:
    data = make_pdf(1, width=200, height=5000)  # a very tall page (millimetres)
    image = Image.open(io.BytesIO(pdf_preview.render_pdf_page(data, 0)))
    assert image.width * image.height <= pdf_preview.PDF_MAX_PIXELS * 1.01


@pytest.mark.parametrize(
    ("reader", "data", "reason"),
    [
        (documents.read_workbook, b"not a workbook", "not an Excel workbook"),
        (documents.read_document, b"PK\x03\x04 broken", "not a Word document"),
        (documents.read_slides, b"", "not a PowerPoint presentation"),
        (pdf_preview.pdf_page_count, b"%PDF-1.7 garbage", "could not be read as a PDF"),
        (documents.read_document, make_pdf(1), "not a Word document"),
    ],
)
def test_bad_bytes_say_why(reader: object, data: bytes, reason: str) -> None:
    with pytest.raises(DocumentPreviewError, match=reason):
        reader(data)  # type: ignore[operator]


def test_a_zip_that_is_not_a_document_says_so() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(DocumentPreviewError, match="could not be read as a Word document"):
        documents.read_document(buffer.getvalue())


def test_office_zip_bombs_are_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    import docx

    monkeypatch.setattr(documents, "MAX_UNPACKED_BYTES", 2**20)  # the real 256 MB takes 12 s to pack here
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"<" + b"a" * (documents.MAX_UNPACKED_BYTES + 1))
    monkeypatch.setattr(docx, "Document", lambda *args: pytest.fail("the bomb reached the parser"))
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda *args: pytest.fail("the bomb was unpacked"))
    with pytest.raises(DocumentPreviewError, match="unpack to 1 MB"):
        documents.read_document(buffer.getvalue())


def test_the_pictures_of_a_presentation_share_one_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "MAX_PICTURES_BYTES", len(png_bytes()))  # room for one of slide 1's two
    first = documents.read_slides(make_pptx(slides=1)).slides[0]
    assert (len(first.pictures), first.hidden_pictures) == (1, 1)


def test_pdf_preview_renders_a_previewable_page_from_one_opening(monkeypatch: pytest.MonkeyPatch) -> None:
    import pypdfium2

    opened: list[int] = []
    loaded: list[int] = []
    open_document, get_page = pypdfium2.PdfDocument.__init__, pypdfium2.PdfDocument.get_page

    def counted_open(document: Any, *args: Any, **kwargs: Any) -> None:
        opened.append(1)
        open_document(document, *args, **kwargs)

    def counted_page(document: Any, index: int) -> Any:
        loaded.append(index)
        return get_page(document, index)

    data = make_pdf(pdf_preview.PDF_PAGES + 5)
    monkeypatch.setattr(pypdfium2.PdfDocument, "__init__", counted_open)
    monkeypatch.setattr(pypdfium2.PdfDocument, "get_page", counted_page)
    page = pdf_preview.render_pdf_preview(data, 99)
    assert (len(opened), loaded) == (1, [pdf_preview.PDF_PAGES - 1])  # one opening, one page read
    assert (page.pages, page.index) == (pdf_preview.PDF_PAGES + 5, pdf_preview.PDF_PAGES - 1)
    assert page.png is not None and Image.open(io.BytesIO(page.png)).format == "PNG"


def test_the_helper_previews_office_files_and_pdfs_as_the_readers_do() -> None:
    docx_data, pptx_data, pdf_data, book = make_docx(), make_pptx(), make_pdf(3), make_workbook(sheets=3, rows=4)
    assert preview_host.read_document(docx_data) == documents.read_document(docx_data)
    assert preview_host.read_slides(pptx_data) == documents.read_slides(pptx_data)
    page = preview_host.read_pdf_page(pdf_data, 2)
    assert (page.pages, page.index, page.png) == (3, 2, pdf_preview.render_pdf_page(pdf_data, 2))
    helper, local = preview_host.read_workbook(book, 1), documents.read_workbook(book, 1)
    assert (helper.sheet_names, helper.total_sheets) == (local.sheet_names, local.total_sheets)
    assert (helper.sheet.name, helper.sheet.total_rows, helper.sheet.truncated) == ("S1", 4, False)
    pd.testing.assert_frame_equal(helper.sheet.frame, local.sheet.frame)


@pytest.mark.parametrize(
    ("read", "data", "reason"),
    [
        (lambda data: preview_host.read_workbook(data, 3), make_workbook(sheets=3, rows=1), "no sheet 4"),
        (preview_host.read_document, b"PK\x03\x04 broken", "not a Word document"),
        (lambda data: preview_host.read_pdf_page(data, 0), b"%PDF-1.7 garbage", "could not be read as a PDF"),
    ],
)
def test_the_helper_says_why_bad_bytes_cannot_be_read(read: object, data: bytes, reason: str) -> None:
    with pytest.raises(DocumentPreviewError, match=reason) as raised:
        read(data)  # type: ignore[operator]
    assert not isinstance(raised.value, preview_host.PreviewFailed)  # the reader's reason, not a breakdown
