"""Home page and health check."""

from __future__ import annotations

from flask import Blueprint, render_template

from ptap.core.policy import public, requires

bp = Blueprint("core", __name__)


@bp.get("/")
@requires("home.view")
def home() -> str:
    return render_template("core/home.html")


@bp.get("/healthz")
@public
def healthz() -> dict[str, str]:
    return {"status": "ok"}
