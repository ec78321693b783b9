"""Gunicorn settings for a PTAP web process: `gunicorn -c python:ptap.gunicorn_conf`.

One worker per process (Socket.IO sessions live in one process; several processes sit behind a
sticky balancer), gthread for concurrency, PTAP's own access log (gunicorn's stays off), and a
control socket per process: gunicorn's default (`$XDG_RUNTIME_DIR/gunicorn.ctl` or
`~/.gunicorn/gunicorn.ctl`) is shared by every process of the user, and the second process
takes it over from the first. This file is deployment glue: it reads the process environment.
"""

from __future__ import annotations

import os
import tempfile

#: PTAP_GUNICORN_BIND (host:port) differs per process; the control socket is named after it.
bind = os.environ.get("PTAP_GUNICORN_BIND", "127.0.0.1:8001")
wsgi_app = "ptap:create_app()"
worker_class = "gthread"
workers = 1
threads = int(os.environ.get("PTAP_GUNICORN_THREADS", "50"))
# A worker silent this long is restarted; PDF rendering runs in jobs, never this long.
timeout = 60
# On stop or reload, open WebSocket and long-polling connections never "finish": wait this long
# for ordinary requests, then close; clients reconnect through the balancer and catch up through
# the API. Keep systemd's TimeoutStopSec above it (docs/deploy/ptap-web@.service).
graceful_timeout = int(os.environ.get("PTAP_GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
accesslog = None
# systemd's RuntimeDirectory= sets RUNTIME_DIRECTORY (e.g. /run/ptap).
_runtime = os.environ.get("RUNTIME_DIRECTORY") or tempfile.gettempdir()
control_socket = os.environ.get("PTAP_GUNICORN_CONTROL_SOCKET") or os.path.join(
    _runtime, "ptap-gunicorn-" + bind.rsplit(":", 1)[-1].replace("/", "_") + ".ctl"
)

# Gunicorn's own lines (start, workers, signals) follow PTAP's format: JSON in production.
_log_format = os.environ.get("PTAP_LOG_FORMAT") or (
    "json" if os.environ.get("PTAP_ENV") == "production" else "text"
)
_JSON_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "ptap.core.logs.JsonFormatter"}},
    "handlers": {
        "json": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False}},
    "root": {"level": "WARNING", "handlers": []},
}
# gunicorn's default ({}) keeps its own text format.
logconfig_dict = _JSON_LOGGING if _log_format == "json" else {}


def post_worker_init(worker: object) -> None:
    """Once the worker has loaded the application: take everything loaded so far (about
    200,000 objects that live as long as the process) out of the cyclic GC's full passes,
    which otherwise stop every thread for 100+ ms (docs/performance.md, as `ptap run` does)."""
    import gc

    gc.collect()
    gc.freeze()


def worker_exit(server: object, worker: object) -> None:
    """On a worker's stop: write what the write-behind buffers still hold (token last-use
    times, audit events of socket joins; ptap.core.write_behind)."""
    from ptap.core.write_behind import flush_all

    flush_all()


def child_exit(server: object, worker: object) -> None:
    """With PROMETHEUS_MULTIPROC_DIR (several workers per process; PTAP runs one): drop a dead
    worker's live gauges from the shared files so /metrics stops adding them up
    (docs/operations.md)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(getattr(worker, "pid", 0))
