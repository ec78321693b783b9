"""The download responses of meeting documents (PDF and iCalendar), shared by pages and API."""

from __future__ import annotations

from flask import Response

ICS_TYPE = "text/calendar; charset=utf-8"


def _attachment(response: Response, filename: str) -> Response:
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def pdf_response(content: bytes, filename: str) -> Response:
    """A PDF download."""
    return _attachment(Response(content, mimetype="application/pdf"), filename)


def ics_response(content: bytes, filename: str) -> Response:
    """An iCalendar download."""
    return _attachment(Response(content, content_type=ICS_TYPE), filename)
