"""Logging for every process: JSON lines in production, readable text elsewhere.

`create_app` calls `configure_logging` (web processes, `ptap scheduler`, every CLI command).
Each request gets an id (the caller's `X-Request-ID` when it is sane, else a new one), echoed in
the `X-Request-ID` response header and carried by every log record written while it runs; one
`ptap.access` line per request gives method, path, status, duration and that id.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request

access_log = logging.getLogger("ptap.access")

#: A caller's request id is kept only if it looks like an id (no spaces, quotes or newlines
#: that would forge log lines), else a new one is drawn.
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}$")
#: Attributes of every LogRecord; anything else was passed with `extra=` and goes into JSON.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_HANDLER_MARK = "_ptap_handler"
HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
#: Paths whose next segment is a secret (a link's token): it never reaches the logs.
SECRET_PATH_PREFIXES = ("/espace/invitation/", "/activate/", "/calendar/")
_SECRET_PATH_RE = re.compile(
    "^(" + "|".join(re.escape(p) for p in SECRET_PATH_PREFIXES) + r")[^/]+"
)


def loggable_path(path: str) -> str:
    """Return `path` with the secret segment of a link (invitation, activation, calendar feed)
    replaced by "[redacted]", for the access and error logs."""
    return _SECRET_PATH_RE.sub(r"\1[redacted]", path)


class RequestIdFilter(logging.Filter):
    """Give every record a request_id: the current request's, or "-" outside requests."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


def configure_logging(app: Flask) -> None:
    """Install the process's log handler once, set levels and the per-request id and access log."""
    level = str(app.config["LOG_LEVEL"]).upper()
    logging.getLogger("ptap").setLevel(level)
    root = logging.getLogger()
    # Under pytest (ENV testing) the capture plugins own the handlers: install none.
    if app.config["ENV"] != "testing" and not any(
        getattr(h, _HANDLER_MARK, False) for h in root.handlers
    ):
        handler = logging.StreamHandler(sys.stderr)
        setattr(handler, _HANDLER_MARK, True)
        handler.addFilter(RequestIdFilter())
        if app.config["LOG_FORMAT"] == "json":
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        root.addHandler(handler)
        # Libraries say only what matters (WeasyPrint and Alembic chatter at INFO); PTAP's own
        # loggers follow LOG_LEVEL. Werkzeug's request lines would duplicate ptap.access.
        root.setLevel(logging.WARNING)
        logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Registered before every other hook, so the id exists even when a later hook answers.
    app.before_request(_start_request)
    app.after_request(_finish_request)


#: Outside requests: the id of the request that queued the outbox row a job is handling.
_carried_request_id: ContextVar[str | None] = ContextVar("ptap_carried_request_id", default=None)


def current_request_id() -> str | None:
    """Return the current request's id; in a job, the id of the request whose row it handles."""
    if not has_request_context():
        return _carried_request_id.get()
    return g.get("request_id")


def request_id_default() -> str:
    """Column default of outbox rows: the id of the request (or job) that queued them."""
    return current_request_id() or ""


@contextmanager
def carrying_request_id(request_id: str | None) -> Iterator[None]:
    """Log, while a job handles a row, with the id of the request that queued that row."""
    token = _carried_request_id.set(request_id or None)
    try:
        yield
    finally:
        _carried_request_id.reset(token)


def _start_request() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if REQUEST_ID_RE.match(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers["X-Request-ID"] = request_id
    duration_ms = round(
        (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000, 1
    )
    # The balancer polls the health endpoints every few seconds: their successes go to DEBUG.
    quiet = request.path in HEALTH_PATHS and response.status_code == 200
    access_log.log(
        logging.DEBUG if quiet else logging.INFO,
        "%s %s %s %.1f ms request_id=%s",
        request.method,
        loggable_path(request.path),
        response.status_code,
        duration_ms,
        request_id,
        extra={
            "method": request.method,
            "path": loggable_path(request.path),
            "status": response.status_code,
            "duration_ms": duration_ms,
            "request_id": request_id,
        },
    )
    return response
