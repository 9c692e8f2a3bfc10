"""Office and PDF files made by the libraries the sandbox offers (fpdf2, openpyxl, python-docx, python-pptx)."""

from __future__ import annotations

import io

import pandas as pd
from PIL import Image


def make_pdf(pages: int, *, width: float = 210, height: float = 297) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format=(width, height))
    pdf.set_font("helvetica", size=14)
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.cell(text=f"Page {number}")
    return bytes(pdf.output())


def make_workbook(sheets: int, rows: int) -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for number in range(sheets):
            frame = pd.DataFrame({"row": range(rows), "sheet": [f"sheet {number}"] * rows})
            frame.to_excel(writer, sheet_name=f"S{number}", index=False)
    return buffer.getvalue()


def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Quarterly report", 0)
    document.add_heading("Sales", 1)
    document.add_paragraph("Revenue grew **12%** <b>this</b> quarter.")
    document.add_paragraph("North", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for row, values in zip(table.rows, [("region", "region"), ("north", "42")], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_heading("Outlook", 2)
    document.add_paragraph("Steady.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def png_bytes(color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="PNG")
    return buffer.getvalue()


def make_pptx(slides: int = 2) -> bytes:
    import pptx
    from pptx.util import Inches

    presentation = pptx.Presentation()
    for number in range(1, slides + 1):
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = f"Slide title {number}"
        slide.placeholders[1].text = f"Point {number}"
        if number == 1:
            slide.shapes.add_picture(io.BytesIO(png_bytes()), Inches(1), Inches(1))
            group = slide.shapes.add_group_shape()
            group.shapes.add_picture(io.BytesIO(png_bytes("blue")), Inches(2), Inches(2))
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()
