"""DMP bridge: files documents into the national shared record through an outbox.

Other domains import only this module (an import-linter contract in pyproject.toml says so):
they register how to describe patients and render documents (``register_*``), queue filings in
their own transaction (``request_filing``), package a document for MSSanté
(``build_xdm_zip``), act on outbox rows (``retry_submission``...) and read them
(``find_submission``, ``list_attempts``...). The outbox models are exported as well, as
types and for the reads that join them with other domains' tables (``ptap.filings.queries``).
Everything else (CDA, XDS metadata, SOAP transport, outbox worker) stays inside the package;
the DMP simulator is a development tool in ``ptap.devtools``.
"""

from __future__ import annotations

from ptap.dmp_bridge.consult import (
    Consultation,
    DmpConsultRefused,
    DocumentView,
    ViewKind,
    cda_narrative_text,
    clear_cache,
    document_view,
    list_dmp_documents,
    retrieve_dmp_document,
)
from ptap.dmp_bridge.models import (
    STATUS_LABELS,
    AttemptOutcome,
    DmpAttempt,
    DmpDocumentSet,
    DmpPayload,
    DmpSubmission,
    SubmissionStatus,
)
from ptap.dmp_bridge.ports import (
    AccessMode,
    Confidentiality,
    DmpAuthor,
    DmpDocument,
    DmpError,
    DmpOrganisation,
    DmpPatient,
    DmpRejected,
    DmpUnavailable,
    DocumentKind,
    DocumentSearch,
    Operation,
    RemoteDocument,
    RetrievedDocument,
)
from ptap.dmp_bridge.queries import (
    PayloadInfo,
    count_by_status,
    find_submission,
    get_payload,
    has_open_work,
    list_attempts,
    payload_info,
)
from ptap.dmp_bridge.services import (
    cancel_submission,
    release_submission,
    request_filing,
    request_operation,
    retry_submission,
)
from ptap.dmp_bridge.sources import (
    Requester,
    register_document_provider,
    register_patient_provider,
    register_requester_provider,
)
from ptap.dmp_bridge.tasks import send_pending_submissions
from ptap.dmp_bridge.xdm import build_xdm_zip

__all__ = [
    "AccessMode",
    "Consultation",
    "DmpConsultRefused",
    "DocumentSearch",
    "DocumentView",
    "RemoteDocument",
    "RetrievedDocument",
    "ViewKind",
    "clear_cache",
    "cda_narrative_text",
    "document_view",
    "list_dmp_documents",
    "retrieve_dmp_document",
    "STATUS_LABELS",
    "AttemptOutcome",
    "Confidentiality",
    "DmpAttempt",
    "DmpAuthor",
    "DmpDocument",
    "DmpDocumentSet",
    "DmpError",
    "DmpOrganisation",
    "DmpPatient",
    "DmpPayload",
    "DmpRejected",
    "DmpSubmission",
    "DmpUnavailable",
    "DocumentKind",
    "Operation",
    "PayloadInfo",
    "Requester",
    "SubmissionStatus",
    "build_xdm_zip",
    "cancel_submission",
    "count_by_status",
    "find_submission",
    "get_payload",
    "has_open_work",
    "list_attempts",
    "payload_info",
    "register_document_provider",
    "register_patient_provider",
    "register_requester_provider",
    "release_submission",
    "request_filing",
    "request_operation",
    "retry_submission",
    "send_pending_submissions",
]
