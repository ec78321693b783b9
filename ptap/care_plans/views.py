"""Care-plan pages: the plan in the four HAS parts, versions and comparison, tasks."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("care_plans", __name__)
