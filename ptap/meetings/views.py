"""The meetings blueprint (the meeting pages come with the `meetings` branch; the live
screen's routes are in live_views)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("meetings", __name__)
