"""Attachment types: office documents accepted when their container proves the type
(OOXML [Content_Types].xml, ODF mimetype), renamed executables, archives and mismatched
names refused with a French message."""

from __future__ import annotations

import io
import zipfile

import pytest

from ptap.core.errors import InvalidInput
from ptap.messaging.attachments import (
    DOCX,
    ODS,
    ODT,
    XLSX,
    AttachmentTooLarge,
    UploadedFile,
    sniff_type,
    store_attachment,
)

WORD_MAIN = DOCX + ".main+xml"
EXCEL_MAIN = XLSX + ".main+xml"


def content_types(part: str, main: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/{part}" ContentType="{main}"/></Types>'
    )


def ooxml(part: str, main: str, *, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types(part, main))
        archive.writestr("_rels/.rels", "<Relationships/>")
        archive.writestr(part, "<document/>")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def odf(
    mimetype: str, *, stored: bool = True, first: bool = True, extra: dict[str, bytes] | None = None
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if not first:
            archive.writestr("content.xml", "<office:document-content/>")
        archive.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED if stored else None)
        if first:
            archive.writestr("content.xml", "<office:document-content/>")
        archive.writestr("META-INF/manifest.xml", "<manifest/>")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _without(name: str, content: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(content))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info in source.infolist():
            if info.filename != name:
                archive.writestr(info, source.read(info.filename))
    return buffer.getvalue()


DOCX_BYTES = ooxml("word/document.xml", WORD_MAIN)
XLSX_BYTES = ooxml("xl/workbook.xml", EXCEL_MAIN)
ODT_BYTES = odf(ODT)
ODS_BYTES = odf(ODS)


@pytest.mark.parametrize(
    ("content", "kind"),
    [(DOCX_BYTES, DOCX), (XLSX_BYTES, XLSX), (ODT_BYTES, ODT), (ODS_BYTES, ODS)],
)
def test_office_documents_are_recognised_by_their_manifest(content, kind):
    assert sniff_type(content) == kind


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"MZ\x90\x00\x03" + b"\x00" * 200, id="windows-executable"),
        pytest.param(b"\x7fELF" + b"\x00" * 200, id="elf"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 200, id="legacy-ole-doc"),
        pytest.param(ooxml("payload.exe", "application/octet-stream"), id="plain-zip"),
        pytest.param(b"PK\x03\x04" + b"\x00" * 100, id="broken-zip"),
        pytest.param(
            ooxml("word/document.xml", "application/vnd.ms-word.document.macroEnabled.main+xml"),
            id="docm",
        ),
        pytest.param(
            ooxml("word/document.xml", WORD_MAIN, extra={"word/vbaProject.bin": b"x"}),
            id="docx-with-macros",
        ),
        pytest.param(
            # the manifest names the main part, but the part is missing
            _without("word/document.xml", DOCX_BYTES),
            id="docx-without-its-document",
        ),
        pytest.param(odf("application/vnd.oasis.opendocument.presentation"), id="odp"),
        pytest.param(odf(ODT, first=False), id="odt-mimetype-not-first"),
        pytest.param(odf(ODT, stored=False), id="odt-mimetype-compressed"),
        pytest.param(
            odf(ODT, extra={"Basic/Standard/Module1.xml": b"<script:module/>"}),
            id="odt-with-basic-macros",
        ),
        pytest.param(
            odf(ODS, extra={"Scripts/python/run.py": b"import os"}), id="ods-with-scripts"
        ),
    ],
)
def test_other_containers_prove_nothing(content):
    assert sniff_type(content) is None


@pytest.fixture
def uploads(app, tmp_path, db):
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    app.config["MESSAGING_ATTACHMENT_KEY_FILE"] = str(tmp_path / "keys" / "attachments.key")
    return app


@pytest.mark.parametrize(
    ("name", "content", "kind", "stored_name"),
    [
        ("Compte rendu.docx", DOCX_BYTES, DOCX, "Compte rendu.docx"),
        ("suivi tension.xlsx", XLSX_BYTES, XLSX, "suivi tension.xlsx"),
        ("courrier.odt", ODT_BYTES, ODT, "courrier.odt"),
        ("tableau.ods", ODS_BYTES, ODS, "tableau.ods"),
        ("sans-extension", DOCX_BYTES, DOCX, "sans-extension.docx"),
    ],
)
def test_office_documents_are_stored_with_their_type(uploads, name, content, kind, stored_name):
    stored = store_attachment(UploadedFile(name, content))
    assert (stored.content_type, stored.filename, stored.size) == (kind, stored_name, len(content))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("setup.docx", b"MZ\x90\x00" + b"\x00" * 64, "Type de fichier refusé pour « setup.docx »"),
        ("archive.xlsx", ooxml("a.txt", "text/plain"), "Type de fichier refusé"),
        ("ancien.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "DOCX, XLSX, ODT, ODS"),
        ("tableau.docx", XLSX_BYTES, "ne correspond pas à son extension (c'est un fichier .xlsx)"),
        ("lettre.xlsx", ODT_BYTES, "ne correspond pas à son extension"),
        ("photo.docx", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "ne correspond pas"),
    ],
)
def test_renamed_or_unknown_files_are_refused_in_french(uploads, name, content, message):
    with pytest.raises(InvalidInput) as refused:
        store_attachment(UploadedFile(name, content))
    assert message in refused.value.message
    assert refused.value.field == "file"


def test_pdf_and_image_names_are_corrected_from_the_content(uploads):
    stored = store_attachment(UploadedFile("photo.jpg", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32))
    assert (stored.content_type, stored.filename) == ("image/png", "photo.png")
    stored = store_attachment(UploadedFile("ordonnance.pdf", DOCX_BYTES))
    assert (stored.content_type, stored.filename) == (DOCX, "ordonnance.docx")


def test_an_office_type_left_out_of_the_configuration_is_refused(uploads):
    uploads.config["MESSAGING_ATTACHMENT_TYPES"] = ["application/pdf"]
    with pytest.raises(InvalidInput, match="Type de fichier refusé"):
        store_attachment(UploadedFile("cr.docx", DOCX_BYTES))


def test_too_large_and_empty_files_are_named(uploads):
    uploads.config["MESSAGING_ATTACHMENT_MAX_MB"] = 0.001
    with pytest.raises(AttachmentTooLarge, match="« gros.pdf » dépasse"):
        store_attachment(UploadedFile("gros.pdf", b"%PDF-" + b"0" * 2000))
    with pytest.raises(InvalidInput, match="« vide.pdf » est vide"):
        store_attachment(UploadedFile("vide.pdf", b""))
