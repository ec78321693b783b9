"""Helpers shared by form views."""

from __future__ import annotations

from flask import flash
from flask_wtf import FlaskForm

from ptap.core.errors import DomainError


def attach_error(form: FlaskForm, error: DomainError) -> None:
    """Show a service error next to the field it names, or as a page message."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")
