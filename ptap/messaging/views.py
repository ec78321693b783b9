"""Messaging pages: conversation list and threads (readable without JavaScript)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("messaging", __name__)
