"""Run the simulator: in the foreground (``serve``) or in a background thread (tests)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ptap.devtools.dmp_simulator.app import DEFAULT_PREFIX, Simulator
from ptap.devtools.dmp_simulator.faults import FaultConfig

_FAULT_OPTIONS = {
    "fault_modes": "modes",
    "failure_rate": "failure_rate",
    "latency_ms": "latency_ms",
    "fault_services": "services",
    "fault_count": "count",
    "timeout_seconds": "timeout_seconds",
    "soap_fault_code": "soap_fault_code",
    "registry_error_code": "registry_error_code",
    "lost_response_mode": "lost_response_mode",
}


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without one log line per request (they cost at 20+ requests/s)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class _LoggingHandler(WSGIRequestHandler):
    """Werkzeug's handler, logging every request."""


def build_simulator(
    *,
    prefix: str = DEFAULT_PREFIX,
    seed: int | None = None,
    store_path: str | Path | None = None,
    mtom_responses: bool = True,
    seed_examples: bool = False,
    **fault_options: Any,
) -> Simulator:
    """Create the WSGI app from ``serve``'s options (see the package docstring)."""
    unknown = set(fault_options) - set(_FAULT_OPTIONS)
    if unknown:
        raise TypeError(f"unknown simulator option(s): {', '.join(sorted(unknown))}")
    values = {_FAULT_OPTIONS[k]: v for k, v in fault_options.items() if v is not None and v != ()}
    for key in ("modes", "services"):
        if isinstance(values.get(key), str):
            values[key] = tuple(m for m in values[key].split(",") if m)
        elif key in values:
            values[key] = tuple(values[key])
    config = FaultConfig(**values)
    config.validate()
    return Simulator(
        prefix=prefix,
        seed=seed,
        store_path=store_path,
        faults=config,
        mtom_responses=mtom_responses,
        seed_examples=seed_examples,
    )


def _server(host: str, port: int, simulator: Simulator, *, verbose: bool = False) -> BaseWSGIServer:
    handler = _LoggingHandler if verbose else _QuietHandler
    return make_server(host, port, simulator, threaded=True, request_handler=handler)


def serve(
    host: str = "127.0.0.1", port: int = 8089, *, verbose: bool = False, **options: Any
) -> None:
    """Serve the simulator until interrupted (threaded; one thread per connection)."""
    simulator = build_simulator(**options)
    server = _server(host, port, simulator, verbose=verbose)
    print(f"DMP simulator: http://{host}:{server.port}{simulator.prefix}/{{repository,registry}}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.close()
        server.server_close()


class RunningSimulator:
    """Stops a simulator started by :func:`start_in_thread` when called."""

    def __init__(self, server: BaseWSGIServer, simulator: Simulator, thread: threading.Thread):
        self.server = server
        self.simulator = simulator
        self.thread = thread
        self.root_url = f"http://{server.host}:{server.port}"
        self.base_url = self.root_url + simulator.prefix
        self.control_url = self.root_url + "/_control"

    def __call__(self) -> None:
        self.simulator.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.simulator.close()


def start_in_thread(
    host: str = "127.0.0.1", port: int = 0, **options: Any
) -> tuple[str, RunningSimulator]:
    """Start the simulator in a daemon thread; return (base_url, stop).

    ``base_url`` is what SoapDmpTransport takes (``http://host:port/si-dmp-server/v2/services``);
    ``stop`` is callable and also exposes ``.simulator`` and ``.control_url``.
    """
    verbose = bool(options.pop("verbose", False))
    simulator = build_simulator(**options)
    server = _server(host, port, simulator, verbose=verbose)
    thread = threading.Thread(target=server.serve_forever, name="dmp-simulator", daemon=True)
    thread.start()
    running = RunningSimulator(server, simulator, thread)
    return running.base_url, running
