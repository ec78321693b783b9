"""Prometheus metrics of each process (docs/operations.md lists them with their alert rules).

Counters and histograms are module-level prometheus_client objects, updated where things
happen: every request (endpoint, method, status, latency), job runs, deliveries, login
failures. Values read from the database or the process at scrape time (outbox depth and oldest
age, open sockets, lease) come from `ScrapeCollector`, one cheap query per outbox per scrape.

Labels stay bounded: endpoint names (never URLs), job ids, fixed kinds; no user or patient id.
With PROMETHEUS_MULTIPROC_DIR set (prometheus_client reads it from the environment), several
worker processes write their counters to files there and a scrape adds them up.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from ptap.core import clock

REQUESTS = Counter(
    "ptap_http_requests",
    "HTTP requests answered, by Flask endpoint, method and status.",
    ["endpoint", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "ptap_http_request_duration_seconds",
    "Time to answer an HTTP request, by Flask endpoint.",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOB_RUNS = Counter(
    "ptap_job_runs",
    "Scheduled job runs, by job id and outcome (ok, failed, lease_lost).",
    ["job", "outcome"],
)
JOB_SECONDS = Histogram(
    "ptap_job_duration_seconds",
    "Time a scheduled job run took, by job id.",
    ["job"],
    buckets=(0.05, 0.25, 1, 5, 15, 60, 300),
)
DELIVERED = Counter(
    "ptap_messages_delivered",
    "Outbox messages delivered: e-mails handed to the relay (mail), documents filed (dmp).",
    ["kind"],
)
LOGIN_FAILURES = Counter(
    "ptap_login_failures",
    "Refused logins, by step: password, second_factor, throttled (the throttle refused).",
    ["step"],
)

#: Kinds of outbox, each with a function returning (rows waiting, created_at of the oldest).
OUTBOX_PROBES: dict[str, Callable[[], tuple[int, datetime | None]]] = {}
#: Values of this process read at scrape time (open sockets, lease held), by metric name.
PROCESS_PROBES: dict[str, tuple[str, Callable[[], float]]] = {}


def register_outbox(kind: str, probe: Callable[[], tuple[int, datetime | None]]) -> None:
    """Let a domain report its outbox (depth, oldest) at scrape time; core imports no domain."""
    OUTBOX_PROBES[kind] = probe


def register_process_gauge(name: str, doc: str, probe: Callable[[], float]) -> None:
    """Report a value of this process, read at scrape time (e.g. the open sockets)."""
    PROCESS_PROBES[name] = (doc, probe)


class ScrapeCollector(Collector):
    """The values computed when Prometheus scrapes: outbox depth and age, process gauges."""

    def __init__(self, outboxes: bool = True) -> None:
        self.outboxes = outboxes

    def collect(self) -> Iterator[Metric]:
        """Yield the outbox and process gauges (one COUNT/MIN query per outbox kind)."""
        if self.outboxes and OUTBOX_PROBES:
            depth = GaugeMetricFamily(
                "ptap_outbox_depth", "Outbox rows waiting to be delivered.", labels=["kind"]
            )
            age = GaugeMetricFamily(
                "ptap_outbox_oldest_age_seconds",
                "Age of the oldest outbox row waiting to be delivered (0 when none).",
                labels=["kind"],
            )
            now = clock.now()
            for kind, probe in sorted(OUTBOX_PROBES.items()):
                count, oldest = probe()
                depth.add_metric([kind], count)
                age.add_metric([kind], (now - oldest).total_seconds() if oldest else 0.0)
            yield depth
            yield age
        for name, (doc, read) in sorted(PROCESS_PROBES.items()):
            yield GaugeMetricFamily(name, doc, value=read())


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def exposition(outboxes: bool = True) -> bytes:
    """Return this process's metrics in Prometheus's text format."""
    extra = CollectorRegistry(auto_describe=False)
    extra.register(ScrapeCollector(outboxes))
    return generate_latest(_registry()) + generate_latest(extra)


# --- The web side: counting requests, serving /metrics ---------------------------------------


def init_metrics(app: Flask) -> None:
    """Count every request by endpoint and status (registered after the request-id hooks)."""
    from ptap.extensions import socketio

    app.after_request(_count_request)

    def open_sockets() -> float:
        server = getattr(socketio, "server", None)
        return float(len(getattr(getattr(server, "eio", None), "sockets", {}) or {}))

    register_process_gauge(
        "ptap_open_sockets", "Socket.IO connections open in this process.", open_sockets
    )


def _count_request(response: Response) -> Response:
    rule = request.url_rule
    # An unmatched URL counts as "unmatched": a scanner's paths never become label values.
    endpoint = rule.endpoint if rule is not None else "unmatched"
    method = request.method if request.method in _METHODS else "other"
    REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
    started = g.get("request_started")
    if started is not None:
        REQUEST_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
    return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def metrics_response() -> Response | tuple[dict[str, Any], int, dict[str, str]]:
    """Answer /metrics for a scraper presenting METRICS_TOKEN; 404 when no token is set."""
    token = str(current_app.config.get("METRICS_TOKEN") or "")
    if not token:
        return {"error": "not found"}, 404, {}
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
        return {"error": "unauthorized"}, 401, {"WWW-Authenticate": 'Bearer realm="metrics"'}
    return Response(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)


def serve_scheduler_metrics(app: Flask, lease_held: Callable[[], bool]) -> None:
    """Serve the `ptap scheduler` process's metrics on SCHEDULER_METRICS_ADDRESS:PORT (0: off).

    That listener has no token: bind it to a private address the Prometheus server alone
    reaches. It adds `ptap_scheduler_active` (1 on the process holding the lease).
    """
    from prometheus_client import start_http_server

    register_process_gauge(
        "ptap_scheduler_active",
        "1 when this scheduler process holds the lease and runs the jobs, else 0.",
        lambda: float(lease_held()),
    )
    port = int(app.config["SCHEDULER_METRICS_PORT"])
    if not port:
        return
    registry = _registry()
    registry.register(ScrapeCollector(outboxes=False))
    start_http_server(port, str(app.config["SCHEDULER_METRICS_ADDRESS"]), registry=registry)
