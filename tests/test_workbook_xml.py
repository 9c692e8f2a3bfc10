"""Workbooks are parsed without XML entity expansion: openpyxl uses defusedxml (a declared dependency).

openpyxl reads a sheet's rows with ``iterparse``: Python's own parser expands entities (within expat's limits),
defusedxml refuses any. A workbook that declares one must not be previewed.
"""

from __future__ import annotations

import io
import re
import zipfile
from importlib.metadata import requires

import openpyxl
import openpyxl.xml
import pytest
from defusedxml import EntitiesForbidden

from core.files.documents import DocumentPreviewError, read_workbook


def workbook_with_an_entity() -> bytes:
    """A workbook whose sheet declares an XML entity and uses it in a cell."""
    book = openpyxl.Workbook()
    book.active.append(["name"])  # type: ignore[union-attr]
    book.active.append(["plain"])  # type: ignore[union-attr]
    plain = io.BytesIO()
    book.save(plain)
    crafted = io.BytesIO()
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(crafted, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                sheet = data.decode().replace("<t>plain</t>", "<t>&e;</t>")
                data = ('<!DOCTYPE worksheet [<!ENTITY e "expanded">]>' + sheet).encode()
            target.writestr(item, data)
    return crafted.getvalue()


def test_openpyxl_parses_with_defusedxml_which_the_app_declares() -> None:
    assert openpyxl.xml.DEFUSEDXML
    declared = [
        re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0] for requirement in requires("code-interpreter-chat")
    ]
    assert "defusedxml" in declared  # installed because the app asks for it, not by chance


def causes(error: BaseException | None) -> list[type[BaseException]]:
    """The types of an error and of the errors it was raised from or during."""
    found = []
    while error is not None:
        found.append(type(error))
        error = error.__cause__ or error.__context__
    return found


def test_a_workbook_declaring_xml_entities_is_refused() -> None:
    with pytest.raises(DocumentPreviewError, match="could not be read as an Excel workbook") as refused:
        read_workbook(workbook_with_an_entity())
    assert EntitiesForbidden in causes(refused.value)
