"""DMP bridge: files documents into the national shared record through an outbox.

Other domains import only this module: they register how to describe patients and render
documents (``register_*``), and queue filings in their own transaction (``request_filing``).
Everything else (CDA, XDS metadata, SOAP transport, simulator) stays inside the package.
"""

from __future__ import annotations

from ptap.dmp_bridge.ports import (
    Confidentiality,
    DmpAuthor,
    DmpDocument,
    DmpError,
    DmpOrganisation,
    DmpPatient,
    DmpRejected,
    DmpUnavailable,
    DocumentKind,
    Operation,
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

__all__ = [
    "Confidentiality",
    "DmpAuthor",
    "DmpDocument",
    "DmpError",
    "DmpOrganisation",
    "DmpPatient",
    "DmpRejected",
    "DmpUnavailable",
    "DocumentKind",
    "Operation",
    "Requester",
    "cancel_submission",
    "register_document_provider",
    "register_patient_provider",
    "register_requester_provider",
    "release_submission",
    "request_filing",
    "request_operation",
    "retry_submission",
]
