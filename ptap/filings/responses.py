"""How a document from the DMP (consulted, or a filed copy) is sent to the browser.

A PDF may open in the browser's viewer (inline, strict application/pdf); anything else is an
attachment, XML as application/xml and the rest as application/octet-stream, never a type a
browser renders as a page. Every answer forbids sniffing, caching and active content.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from flask import Response

from ptap import dmp_bridge

#: Letters NFKD does not decompose, spelt out in ASCII file names.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"})


def unicode_filename(title: str, view: dmp_bridge.DocumentView) -> str:
    """A safe file name: letters (any script), digits, dashes; the content's extension."""
    stem = "".join(c if c.isalnum() else "-" for c in title)[:60].strip("-")
    extension = {
        dmp_bridge.ViewKind.PDF: "pdf",
        dmp_bridge.ViewKind.CDA: "xml",
    }.get(view.kind, "xml" if "xml" in view.mime_type else "bin")
    return f"{stem or 'document-dmp'}.{extension}"


def ascii_filename(name: str) -> str:
    """The same name in ASCII (headers travel in ISO-8859-1: « cœur » would not)."""
    name = unicodedata.normalize("NFKD", name.translate(_LIGATURES))
    ascii_name = name.encode("ascii", "ignore").decode()
    stem, _, extension = ascii_name.rpartition(".")
    stem = "".join(c if c.isalnum() else "-" for c in stem).strip("-")
    return f"{stem or 'document-dmp'}.{extension}"


def document_response(title: str, view: dmp_bridge.DocumentView, *, download: bool) -> Response:
    """The document's bytes with a strict type and the safe headers."""
    inline = view.kind == dmp_bridge.ViewKind.PDF and not download
    mime = "application/pdf" if view.kind == dmp_bridge.ViewKind.PDF else view.mime_type
    if not inline and view.kind != dmp_bridge.ViewKind.PDF:
        # Never let a browser render what came from outside as a page.
        mime = "application/xml" if "xml" in mime else "application/octet-stream"
    response = Response(view.content, status=200, mimetype=mime)
    disposition = "inline" if inline else "attachment"
    # ASCII name for every browser, the UTF-8 one in filename* (RFC 6266); both sanitised.
    name = unicode_filename(title, view)
    response.headers["Content-Disposition"] = (
        f'{disposition}; filename="{ascii_filename(name)}"; '
        f"filename*=UTF-8''{quote(name, safe='')}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
