"""render_pdf: a PDF/A with embedded fonts, and no resource fetched from outside ptap/static."""

from __future__ import annotations

import re
import socket
import zlib

import pytest
from jinja2 import ChoiceLoader, DictLoader

from ptap.core import pdf as core_pdf
from ptap.core.pdf import STATIC_ROOT, LocalStaticFetcher, RefusedResource, render_pdf

HOSTILE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Essai</title>
<link rel="stylesheet" href="css/pdf.css">
<link rel="stylesheet" href="https://example.com/evil.css">
<style>@import url("http://example.com/import.css");
body { background: url("http://example.com/bg.png"); }</style></head>
<body><h1>Historique des accès de {{ name }}</h1>
<img src="http://example.com/x.png" alt="pixel">
<img src="file:///etc/passwd" alt="fichier local">
<iframe src="http://example.com/"></iframe></body></html>"""


def inflated(pdf: bytes) -> bytes:
    """The PDF with every Flate stream decompressed (object streams hide the dictionaries)."""
    parts = [pdf]
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        try:
            parts.append(zlib.decompress(raw))
        except zlib.error:
            continue
    return b"\n".join(parts)


@pytest.fixture
def templates(app):
    app.jinja_env.loader = ChoiceLoader(
        [DictLoader({"pdf/hostile.html": HOSTILE}), app.jinja_env.loader]
    )


@pytest.fixture
def no_network(monkeypatch):
    """Fail loudly on any attempt to resolve a name or open a connection."""
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


@pytest.fixture
def fetched(monkeypatch):
    """Record every URL the fetcher is asked for."""
    urls: list[str] = []
    original = LocalStaticFetcher.fetch

    def spy(self, url, headers=None):
        urls.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(LocalStaticFetcher, "fetch", spy)
    return urls


def test_render_pdf_refuses_remote_resources_without_network(app, templates, no_network, fetched):
    pdf = render_pdf("pdf/hostile.html", {"name": "DUPONT"})
    assert pdf.startswith(b"%PDF-")
    assert no_network == []
    assert any(url.startswith("http://example.com/") for url in fetched)  # asked, refused
    assert any(url.endswith("/static/css/pdf.css") for url in fetched)  # local: served


def test_render_pdf_embeds_fonts_and_declares_pdfa(app, templates):
    content = inflated(render_pdf("pdf/hostile.html", {"name": "DUPONT"}))
    assert b"/FontFile" in content
    assert b"pdfaid:part" in content  # XMP metadata of a PDF/A
    assert b"/OutputIntent" in content


def test_render_pdf_escapes_the_context(app, templates, fetched):
    # Autoescape is on: text from the database cannot add markup, hence no extra request.
    core_pdf.render_pdf("pdf/hostile.html", {"name": '<img src="http://example.com/y">'})
    assert "http://example.com/y" not in fetched


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/x.png",
        "https://example.com/x.css",
        "ftp://example.com/x",
        "data:text/css,body{}",
        "file:///etc/passwd",
        "file://example.com" + str(STATIC_ROOT / "css" / "pdf.css"),
        (STATIC_ROOT / "css").as_uri() + "/../../__init__.py",
        (STATIC_ROOT / "css").as_uri() + "/%2e%2e/%2e%2e/__init__.py",
        (STATIC_ROOT / "css" / "missing.css").as_uri(),
    ],
)
def test_fetcher_refuses_anything_but_local_static_files(url):
    with pytest.raises(RefusedResource):
        LocalStaticFetcher().fetch(url)


def test_fetcher_serves_a_static_file():
    path = STATIC_ROOT / "css" / "pdf.css"
    response = LocalStaticFetcher().fetch(path.as_uri())
    assert response.read() == path.read_bytes()
    assert response.content_type == "text/css"
    response.close()
