"""A DMP simulator: the DMP's SOAP 1.2/MTOM services, faults on demand (tests, dev, benchmarks).

Services (prefix ``/si-dmp-server/v2/services``, like the DMP's test platform):

* ``POST {prefix}/repository``: ITI-41 Provide and Register (MTOM or inline base64);
* ``POST {prefix}/registry``: ITI-18 GetDocuments/FindDocuments and ITI-57 updates.

Each request is checked as the DMP would: SOAP 1.2 envelope and WS-Addressing Action and
MessageID; the VIHF in ``wsse:Security`` (present, XML-DSig signature valid against the
certificate in its own KeyInfo, validity period, required attributes); the body against the
XDS.b schemas (``conformance.validate_iti41`` for ITI-41 when that package provides it);
DocumentEntry and SubmissionSet metadata; hash and size against the MTOM part; patient
consistency (entries, submission set, VIHF resource-id). Envelope and VIHF refusals are SOAP
Sender faults; content refusals are Failure RegistryResponses (XDSRegistryMetadataError,
XDSDuplicateUniqueIdInRegistry, XDSNonIdenticalHash...). RPLC deprecates the replaced entry;
ITI-57 creates metadata versions and changes availability (Archived, Deleted). Documents are
kept in memory, and in SQLite with ``store_path`` (survives restarts).

``serve(host="127.0.0.1", port=8089, **options)`` and ``start_in_thread(host, port=0,
**options) -> (base_url, stop)`` take these options (the CLI ``ptap dmp-simulator`` maps
``--option-name`` to each; ``python -m ptap.devtools.dmp_simulator --help`` does the same):

================== ============ ==========================================================
option             default      meaning
================== ============ ==========================================================
prefix             see above    URL prefix of the two services
seed               None         seed of the fault generator (same seed, same faults)
store_path         None         SQLite file keeping documents and counters across restarts
mtom_responses     True         answer MTOM requests with an MTOM response
verbose            False        log every request (off: they cost at 20+ requests/s)
fault_modes        ()           among http_500, timeout, soap_fault, registry_error, reset,
                                lost_response (a tuple or a comma-separated string)
failure_rate       1.0          probability that a request gets one of ``fault_modes``
latency_ms         0            delay added to every service request
fault_services     both         "repository" and/or "registry"
fault_count        None         inject at most this many faults
timeout_seconds    30           how long the timeout mode holds a request
soap_fault_code    Receiver     Receiver (transient) or Sender (permanent)
registry_error_code XDSRegistryBusy  code of the registry_error mode
lost_response_mode http_500     after storing: answer 500 (http_500) or drop (reset)
================== ============ ==========================================================

Control endpoints (JSON; no authentication: bind to loopback):

* ``POST /_control/faults`` ``{"modes": [...], "failure_rate": 0.5, "latency_ms": 0,
  "services": ["repository"], "count": 1, "timeout_seconds": 30, "soap_fault_code":
  "Receiver", "soap_fault_reason": "...", "registry_error_code": "XDSRegistryBusy",
  "lost_response_mode": "http_500"}`` replaces the fault configuration (``{}`` clears it);
  ``GET /_control/faults`` shows it;
* ``GET /_control/stats``: documents_stored, documents_by_status, submissions (per uniqueId),
  submissions_total, duplicate_attempts, duplicates (per uniqueId), faults_injected,
  faults_total, requests (per service), refusals (per code);
* ``POST /_control/reset``: forget documents, counters and faults;
* ``GET /_control/documents``: every stored entry; ``GET /_control/health``.
"""

from ptap.devtools.dmp_simulator.app import DEFAULT_PREFIX, Simulator
from ptap.devtools.dmp_simulator.faults import MODES, FaultConfig
from ptap.devtools.dmp_simulator.server import (
    RunningSimulator,
    build_simulator,
    serve,
    start_in_thread,
)

__all__ = [
    "DEFAULT_PREFIX",
    "MODES",
    "FaultConfig",
    "RunningSimulator",
    "Simulator",
    "build_simulator",
    "serve",
    "start_in_thread",
]
