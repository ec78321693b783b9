"""The simulator's WSGI application: DMP services, fault injection and the control endpoints."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ptap.devtools.dmp_simulator import iti41, registry, seed
from ptap.devtools.dmp_simulator.checks import Refusal, SoapRefusal, SoapRequest, read_request
from ptap.devtools.dmp_simulator.faults import FaultConfig, FaultInjector
from ptap.devtools.dmp_simulator.responses import (
    fault_response,
    query_response,
    registry_response,
    retrieve_response,
    soap_response,
)
from ptap.devtools.dmp_simulator.store import DocumentStore
from ptap.dmp_bridge.soap import ITI18_ACTION, ITI41_ACTION, ITI43_ACTION, ITI57_ACTION
from ptap.dmp_bridge.xdsquery import status_tail

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "/si-dmp-server/v2/services"
_ACTIONS = {
    "repository": {ITI41_ACTION, ITI43_ACTION},
    "registry": {ITI18_ACTION, ITI57_ACTION},
}


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False, indent=1), status, mimetype="application/json"
    )


class ConnectionDropped(ConnectionResetError):
    """Raised to make the server drop the connection without answering."""


class Simulator:
    """A WSGI app speaking the DMP's SOAP/MTOM interface, with faults on demand."""

    def __init__(
        self,
        *,
        prefix: str = DEFAULT_PREFIX,
        seed: int | None = None,
        store_path: str | Path | None = None,
        faults: FaultConfig | None = None,
        mtom_responses: bool = True,
        seed_examples: bool = False,
    ) -> None:
        #: Store example documents for each patient on the first FindDocuments (seed.py).
        self.seed_examples = seed_examples
        self.prefix = prefix.rstrip("/")
        self.store = DocumentStore(store_path)
        self.faults = FaultInjector(faults, seed=seed)
        self.mtom_responses = mtom_responses
        #: Set on shutdown: wakes the requests held by latency or the timeout fault.
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self.url_map = Map(
            [
                Rule(f"{self.prefix}/repository", endpoint="repository", methods=["POST"]),
                Rule(f"{self.prefix}/registry", endpoint="registry", methods=["POST"]),
                Rule("/_control/faults", endpoint="faults", methods=["GET", "POST"]),
                Rule("/_control/stats", endpoint="stats", methods=["GET"]),
                Rule("/_control/reset", endpoint="reset", methods=["POST"]),
                Rule("/_control/documents", endpoint="documents", methods=["GET"]),
                Rule("/_control/health", endpoint="health", methods=["GET"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            endpoint, _ = self.url_map.bind_to_environ(environ).match()
            response = getattr(self, f"on_{endpoint}")(request)
        except (NotFound, MethodNotAllowed) as exc:
            response = exc.get_response(environ)
        except HTTPException as exc:  # pragma: no cover - werkzeug's own errors
            response = exc.get_response(environ)
        return response(environ, start_response)

    # -- DMP services ---------------------------------------------------------------------

    def on_repository(self, request: Request) -> Response:
        """ITI-41."""
        return self._service(request, "repository")

    def on_registry(self, request: Request) -> Response:
        """ITI-18 and ITI-57."""
        return self._service(request, "registry")

    def _count(self, counter: Counter[str], key: str) -> None:
        with self._lock:
            counter[key] += 1

    def _service(self, request: Request, service: str) -> Response:
        data = request.get_data()  # read it all first, whatever happens next
        self._count(self.requests, service)
        config = self.faults.config
        if config.latency_ms:
            self.stopping.wait(config.latency_ms / 1000)
        mode = self.faults.pick(service)
        if mode == "timeout":
            self.stopping.wait(config.timeout_seconds)
            return Response("Gateway Timeout (simulated)", 504, mimetype="text/plain")
        if mode == "http_500":
            return Response("Internal Server Error (simulated)", 500, mimetype="text/plain")
        if mode == "reset":
            self._drop(request)
        if mode == "soap_fault":
            return fault_response(config.soap_fault_code, config.soap_fault_reason, "")
        if mode == "registry_error":
            error = [(config.registry_error_code, "Erreur simulée par le simulateur", "")]
            if b"AdhocQueryRequest" in data:
                return soap_response(
                    ITI18_ACTION + "Response", "", query_response(errors=error), mtom=False
                )
            action = ITI57_ACTION if service == "registry" else ITI41_ACTION
            return soap_response(action + "Response", "", registry_response(error), mtom=False)
        response = self._process(service, data, request.headers.get("Content-Type", ""))
        if mode == "lost_response":
            if config.lost_response_mode == "reset":
                self._drop(request)
            return Response("Internal Server Error (simulated)", 500, mimetype="text/plain")
        return response

    def _drop(self, request: Request) -> None:
        """Close the connection abruptly (RST): the client gets no answer at all."""
        sock = request.environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # Shut it down here: the server would otherwise keep the HTTP/1.1 connection
            # open, waiting for a next request, and the client would only see a timeout.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionDropped("connection dropped by the simulator")

    def _process(self, service: str, data: bytes, content_type: str) -> Response:
        try:
            soap = read_request(
                data, content_type, actions=_ACTIONS[service], now=datetime.now(UTC)
            )
        except SoapRefusal as exc:
            self._count(self.refusals, exc.subcode)
            return fault_response("Sender", exc.reason, exc.subcode)
        if soap.action == ITI43_ACTION:
            return self._retrieve(soap)
        try:
            objects = None
            if soap.action == ITI18_ACTION and self.seed_examples:
                patient = soap.vihf.get(registry.RESOURCE_ID, [""])[0]
                if patient:
                    seed.seed_patient(self.store, patient)
            if soap.action == ITI41_ACTION:
                package, documents = iti41.read_submission(soap)
                iti41.store_submission(self.store, package, documents)
            elif soap.action == ITI18_ACTION:
                objects = registry.stored_query(self.store, soap)
            else:
                registry.update_document_set(self.store, soap)
            body = query_response(objects) if objects is not None else registry_response()
        except Refusal as exc:
            self._count(self.refusals, exc.code)
            error = [(exc.code, exc.message, exc.location)]
            body = query_response(errors=error) if soap.action == ITI18_ACTION else None
            body = body if body is not None else registry_response(error)
        except Exception:
            log.exception("simulator failure")
            return fault_response("Receiver", "Erreur interne du simulateur", "", soap.message_id)
        return soap_response(
            soap.action + "Response",
            soap.message_id,
            body,
            mtom=soap.mtom and self.mtom_responses,
        )

    def _retrieve(self, soap: SoapRequest) -> Response:
        try:
            found = registry.retrieve(self.store, soap)
            documents = [
                (registry.REPOSITORY_ID, e.unique_id, e.mime_type, e.content) for e in found
            ]
            body, parts = retrieve_response(documents)
        except Refusal as exc:
            self._count(self.refusals, exc.code)
            body, parts = retrieve_response((), [(exc.code, exc.message, exc.location)])
        return soap_response(
            ITI43_ACTION + "Response", soap.message_id, body, mtom=True, attachments=parts
        )

    # -- control ------------------------------------------------------------------------

    def on_faults(self, request: Request) -> Response:
        """Show (GET) or replace (POST) the fault configuration."""
        if request.method == "POST":
            try:
                config = FaultConfig.from_json(request.get_json(force=True, silent=False) or {})
            except (ValueError, TypeError) as exc:
                return _json({"error": str(exc)}, 400)
            self.faults.configure(config)
        return _json(self.faults.config.to_json())

    def stats(self) -> dict[str, Any]:
        """Counters: documents, submissions per uniqueId, duplicates, faults, refusals."""
        with self.store.lock, self._lock:
            current = [e for e in self.store.entries.values() if not e.superseded]
            return {
                "documents_stored": len(current),
                "documents_by_status": dict(Counter(status_tail(e.status) for e in current)),
                "submissions_total": sum(self.store.submissions.values()),
                "submissions": dict(self.store.submissions),
                "duplicate_attempts": self.store.duplicate_requests["total"],
                "duplicates": dict(self.store.duplicates),
                "faults_injected": dict(self.faults.injected),
                "faults_total": sum(self.faults.injected.values()),
                "requests": dict(self.requests),
                "refusals": dict(self.refusals),
            }

    def on_stats(self, request: Request) -> Response:
        """Show the counters."""
        return _json(self.stats())

    def reset(self) -> None:
        """Forget documents, counters and faults (the random generator is re-seeded)."""
        self.store.clear()
        self.faults.reset()
        with self._lock:
            self.requests.clear()
            self.refusals.clear()

    def on_reset(self, request: Request) -> Response:
        """Forget everything."""
        self.reset()
        return _json({"reset": True})

    def on_documents(self, request: Request) -> Response:
        """List every stored entry (all versions)."""
        with self.store.lock:
            documents = [
                {
                    "unique_id": e.unique_id,
                    "entry_uuid": e.entry_uuid,
                    "lid": e.lid,
                    "version": e.version,
                    "status": status_tail(e.status),
                    "patient_id": e.patient_id,
                    "confidentiality": e.confidentiality,
                    "size": len(e.content),
                    "superseded": e.superseded,
                }
                for e in self.store.entries.values()
            ]
        return _json(documents)

    def on_health(self, request: Request) -> Response:
        """Say the simulator is up."""
        return _json({"ok": True})

    def close(self) -> None:
        """Wake held requests and close the store."""
        self.stopping.set()
        self.store.close()
