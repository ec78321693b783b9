"""Where the bridge gets patients and documents from, without importing other domains.

The producing domains register, at application start, a patient provider and one document
provider per source type (``care_plan_version``, later ``letter`` and ``meeting_report``). The
outbox stores references (``"care_plan_version:42"``); a worker resolves them when it sends, so
the document is rendered in the scheduler process, never in a web request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ptap.dmp_bridge.ports import DmpAuthor, DmpDocument, DmpOrganisation, DmpPatient

PatientProvider = Callable[[int], DmpPatient]
#: Called with the source id and whether to render the PDF (False when the CDA is kept from an
#: earlier attempt and only the metadata is needed).
DocumentProvider = Callable[[int, bool], DmpDocument]


@dataclass(frozen=True)
class Requester:
    """Who a metadata operation is done for (VIHF subject) and on behalf of which structure."""

    subject: DmpAuthor
    organisation: DmpOrganisation


RequesterProvider = Callable[[int | None, int], Requester]

_patients: list[PatientProvider] = []
_documents: dict[str, DocumentProvider] = {}
_requesters: list[RequesterProvider] = []


def register_patient_provider(provider: PatientProvider) -> None:
    """Set the function that describes a patient by id (care teams register it)."""
    _patients[:] = [provider]


def register_requester_provider(provider: RequesterProvider) -> None:
    """Set the function that describes a user (or None: the platform) for a patient's team."""
    _requesters[:] = [provider]


def register_document_provider(source_type: str, provider: DocumentProvider) -> None:
    """Set the function that renders documents of one source type by id."""
    _documents[source_type] = provider


def patient(patient_id: int) -> DmpPatient:
    """Describe a patient as the DMP sees them (fresh: gates read the current state)."""
    if not _patients:
        raise LookupError("no patient provider registered with the DMP bridge")
    return _patients[0](patient_id)


def requester(user_id: int | None, patient_id: int) -> Requester:
    """Describe who asks for an operation about this patient."""
    if not _requesters:
        raise LookupError("no requester provider registered with the DMP bridge")
    return _requesters[0](user_id, patient_id)


def document(source_ref: str, *, render: bool = True) -> DmpDocument:
    """Render the document behind a source reference such as ``care_plan_version:42``."""
    source_type, _, raw_id = source_ref.partition(":")
    provider = _documents.get(source_type)
    if provider is None:
        raise LookupError(f"no document provider registered for {source_type!r}")
    return provider(int(raw_id), render)
