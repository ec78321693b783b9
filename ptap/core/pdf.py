"""Render PDF documents from templates/pdf/ with WeasyPrint, never fetching anything remote.

Templates get plain data (dicts, dataclasses), as any page does. Stylesheets and images are
resolved against ptap/static: the URL fetcher serves files under that folder and refuses
everything else (http, https, ftp, data, other local files), as WeasyPrint's security notes
advise for documents built from user-entered text. Fonts come from fontconfig (DejaVu is
installed with the system packages) and are embedded in the PDF, which is PDF/A-3b.
"""

from __future__ import annotations

import gc
import mimetypes
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import weasyprint
from flask import current_app
from weasyprint import HTML
from weasyprint.css import ColorProfile
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

STATIC_ROOT = Path(__file__).resolve().parent.parent / "static"
#: Archival variant: fonts embedded, colours described, metadata in XMP.
PDF_VARIANT = "pdf/a-3b"
#: The sRGB profile WeasyPrint ships, declared as the document's output intent (PDF/A needs one).
SRGB_PROFILE = Path(weasyprint.__file__).parent / "pdf" / "sRGB2014.icc"
OUTPUT_INTENT = "ptap-srgb"


class RefusedResource(ValueError):
    """A document asked for a resource outside the local static folder."""


class LocalStaticFetcher(URLFetcher):
    """Serve `file:` URLs under one folder; refuse any other URL, without opening a socket."""

    def __init__(self, root: Path = STATIC_ROOT) -> None:
        super().__init__(allowed_protocols=("file",), allow_redirects=False, timeout=1)
        self.root = root.resolve()

    def local_path(self, url: str) -> Path | None:
        """Return the file a URL names when it lies under the root folder, else None."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            return None
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return path

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
        """Return the local static file `url` names; raise RefusedResource for anything else."""
        path = self.local_path(url)
        if path is None:
            raise RefusedResource(f"resource refused (only local static files): {url[:200]}")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(
            path.as_uri(), body=path.read_bytes(), headers={"Content-Type": mime}
        )


def _color_profiles() -> dict[str, ColorProfile]:
    # Given explicitly: WeasyPrint's own "srgb" intent leaves the profile file open, which
    # raises a ResourceWarning (an error under the test settings).
    with SRGB_PROFILE.open("rb") as icc:
        profile = ColorProfile(
            BytesIO(icc.read()), SRGB_PROFILE.name, "relative-colorimetric", (["r"], ["g"], ["b"])
        )
    return {OUTPUT_INTENT: profile}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of one render.

    WeasyPrint allocates a few hundred thousand short-lived objects per document, and every
    full collection also walks the whole process (a Flask app holds about 200,000 objects).
    On a five-page plan the collector took about a fifth of the render, for 1.4 MiB more peak
    memory when paused (docs/performance.md). The garbage left is collected afterwards, as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:  # a render that started with GC off (a nested or parallel one) leaves it
            gc.enable()


def render_pdf(template: str, context: Mapping[str, Any], *, variant: str = PDF_VARIANT) -> bytes:
    """Render `templates/<template>` with plain-data `context` into PDF/A bytes (`variant`:
    "pdf/a-3b" by default; the DMP's unstructured documents use "pdf/a-1b")."""
    # Straight from the Jinja environment: no request context processors (navigation, CSRF),
    # so jobs can render too, and nothing but `context` reaches the template.
    html = current_app.jinja_env.get_template(template).render(**context)
    fetcher = LocalStaticFetcher()
    with gc_paused():
        document = HTML(string=html, base_url=STATIC_ROOT.as_uri() + "/", url_fetcher=fetcher)
        pdf = document.write_pdf(
            font_config=FontConfiguration(),
            color_profiles=_color_profiles(),
            output_intent=OUTPUT_INTENT,
            pdf_variant=variant,
            pdf_tags=True,
        )
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf without target returns bytes
        raise TypeError("WeasyPrint returned no PDF bytes")
    return pdf
