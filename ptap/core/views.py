"""Home page, liveness (/healthz) and readiness (/readyz)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user

from ptap.core.policy import public, requires
from ptap.core.readiness import check_readiness
from ptap.core.web import HOME_ENDPOINTS

bp = Blueprint("core", __name__)


@bp.get("/")
@requires("home.view")
def home() -> Any:
    endpoint = HOME_ENDPOINTS.get(current_user.role)
    if endpoint is not None:  # e.g. the agency's analysts land on the monitoring page
        return redirect(url_for(endpoint))
    return render_template("core/home.html")


@bp.get("/healthz")
@public
def healthz() -> dict[str, str]:
    """Liveness: the process answers (constant, no database: restarting would not help)."""
    return {"status": "ok"}


@bp.get("/readyz")
@public
def readyz() -> tuple[dict[str, Any], int]:
    """Readiness: 200 when the database, Redis and the scheduler are fine, else 503 naming them.

    `?skip=scheduler` is the load balancer's variant (docs/deploy/haproxy.cfg).
    """
    skip = frozenset(request.args.get("skip", "").split(","))
    readiness = check_readiness(skip)
    if readiness.ready:
        return {"status": "ready", "checks": readiness.checks}, 200
    body: dict[str, Any] = {
        "status": "unavailable",
        "failing": readiness.failing,
        "checks": readiness.checks,
    }
    return body, 503
