"""Home page, liveness (/healthz) and readiness (/readyz)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user

from ptap.core.metrics import metrics_response
from ptap.core.policy import public, requires
from ptap.core.readiness import check_readiness
from ptap.core.web import home_page_for

bp = Blueprint("core", __name__)


@bp.get("/")
@requires("home.view")
def home() -> Any:
    landing = home_page_for(current_user)
    if landing is not None:
        return redirect(url_for(landing))
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


@bp.get("/socket.io/", strict_slashes=False)
@public
def socketio_transport() -> Any:
    """Never reached: Flask-SocketIO's middleware answers /socket.io/ before Flask does.

    Each socket event runs in a request context built from the socket's first request, whose
    URL is this one; without a rule matching it, every event stored a NotFound with its
    traceback in the context: a reference cycle per event (frames, request, session) left to
    the cyclic GC, whose full collections stopped the process (issue 18, docs/performance.md).
    """
    abort(404)


@bp.get("/metrics")
@public
def metrics() -> Any:
    """Prometheus metrics of this process, for a scraper sending the METRICS_TOKEN bearer.

    Public to the login guard (a scraper has no session); the token is checked here.
    """
    return metrics_response()
