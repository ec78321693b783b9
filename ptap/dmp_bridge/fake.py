"""FakeDmpTransport: an in-memory DMP for tests and development, with scripted failures."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ptap.dmp_bridge.ports import (
    Confidentiality,
    DmpError,
    DmpPatient,
    DmpReceipt,
    DmpRejected,
    DmpUnavailable,
    DocumentSearch,
    PreparedRequest,
    ProvideAndRegister,
    RemoteDocument,
    RequestContext,
    RetrievedDocument,
)


@dataclass
class FakeDocument:
    """What the fake DMP holds for one uniqueId."""

    unique_id: str
    entry_uuid: str
    patient_ins: str
    status: str = "Approved"
    confidentiality: tuple[str, ...] = ("normal",)
    #: What ITI-18 shows of the entry: patientId (CX), hash (SHA-1 hex) and size of the CDA.
    extra: dict[str, str] = field(default_factory=dict)
    #: What ITI-43 returns (documents seeded with ``add_document``; filings keep none).
    content: bytes = b""
    mime_type: str = "text/xml"


def _cx(context: RequestContext, patient_cx: Callable[[DmpPatient], str]) -> str:
    try:
        return patient_cx(context.patient)
    except ValueError:  # no valid INS: the builder refuses such a document anyway
        return ""


@dataclass
class FakeDmpTransport:
    """Records what it receives; ``fail_next`` scripts errors, ``lose_next`` lost responses."""

    documents: dict[str, FakeDocument] = field(default_factory=dict)
    received: list[PreparedRequest] = field(default_factory=list)
    operations: list[tuple[str, str, str]] = field(default_factory=list)
    #: The contexts of the consultations (ITI-18 lists, ITI-43), as the VIHF would carry them.
    consultations: list[RequestContext] = field(default_factory=list)
    #: Errors raised by the next sends, in order.
    failures: deque[DmpError] = field(default_factory=deque)
    #: Number of next sends that store the document and then fail as if the answer was lost.
    lost_responses: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: dict[str, tuple[str, str, dict[str, str]]] = field(default_factory=dict)

    def fail_next(self, *errors: DmpError) -> None:
        """Make the next sends raise these errors."""
        self.failures.extend(errors)

    def prepare_submission(
        self, payload: ProvideAndRegister, context: RequestContext
    ) -> PreparedRequest:
        """Serialise the payload inline (no SOAP envelope: nothing leaves the process)."""
        from ptap.dmp_bridge.xds import patient_cx, provide_and_register_xml

        message_id = f"urn:uuid:{uuid.uuid4()}"
        cda = payload.attachments[0].content if payload.attachments else b""
        extra = {
            "patient_id": _cx(context, patient_cx),
            "hash": hashlib.sha1(cda).hexdigest(),  # noqa: S324 - the XDS hash slot is SHA-1
            "size": str(len(cda)),
        }
        with self._lock:
            self._pending[message_id] = (payload.document_oid, context.patient.ins or "", extra)
        return PreparedRequest(
            body=provide_and_register_xml(payload, inline=True),
            content_type="application/soap+xml; charset=UTF-8",
            action="urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
            message_id=message_id,
        )

    def send_submission(self, prepared: PreparedRequest) -> DmpReceipt:
        """Store the document, unless a scripted failure says otherwise."""
        with self._lock:
            self.received.append(prepared)
            unique_id, ins, extra = self._pending.pop(prepared.message_id)
            if self.failures:
                raise self.failures.popleft()
            if unique_id in self.documents:
                raise DmpRejected(
                    "Le DMP a refusé le document : identifiant unique déjà enregistré.",
                    code="XDSDuplicateUniqueIdInRegistry",
                )
            entry_uuid = f"urn:uuid:{uuid.uuid4()}"
            self.documents[unique_id] = FakeDocument(unique_id, entry_uuid, ins, extra=extra)
            if self.lost_responses:
                self.lost_responses -= 1
                raise DmpUnavailable("Le DMP ne répond pas (réponse perdue).", code="timeout")
        return DmpReceipt(status="Success")

    def find_document(self, context: RequestContext, unique_id: str) -> RemoteDocument | None:
        """Look a document up by uniqueId."""
        with self._lock:
            doc = self.documents.get(unique_id)
        if doc is None:
            return None
        return RemoteDocument(
            unique_id, doc.entry_uuid, doc.status, doc.confidentiality, dict(doc.extra)
        )

    def add_document(
        self,
        patient_ins: str,
        *,
        title: str,
        content: bytes,
        mime_type: str,
        type_code: str = "11490-0",
        type_display: str = "Lettre de liaison à la sortie d'un établissement de soins",
        creation_time: str = "20261201100000",
        author: str = "Marie Curie",
        confidentiality: tuple[str, ...] = ("N",),
    ) -> str:
        """Seed a document another professional filed (for consultation tests); its uniqueId."""
        unique_id = f"2.25.{uuid.uuid4().int}"
        extra = {
            "title": title,
            "type_code": type_code,
            "type_display": type_display,
            "creation_time": creation_time,
            "author": author,
            "mime_type": mime_type,
            "repository_id": "1.2.250.1.213.1.1.1.1",
            "size": str(len(content)),
        }
        with self._lock:
            self.documents[unique_id] = FakeDocument(
                unique_id,
                f"urn:uuid:{uuid.uuid4()}",
                patient_ins,
                confidentiality=confidentiality,
                extra=extra,
                content=content,
                mime_type=mime_type,
            )
        return unique_id

    def _take_failure(self) -> None:
        with self._lock:
            if self.failures:
                raise self.failures.popleft()

    def list_documents(
        self, context: RequestContext, search: DocumentSearch | None = None
    ) -> list[RemoteDocument]:
        """The documents held for this patient, filtered like the DMP (masked ones only in
        bris de glace)."""
        self.consultations.append(context)
        self._take_failure()
        self.operations.append(("list", context.subject.id_nat, str(context.access_mode)))
        with self._lock:
            docs = [d for d in self.documents.values() if d.patient_ins == context.patient.ins]
        found = []
        for d in docs:
            if "MASQUE_PS" in d.confidentiality and context.access_mode != "bris_de_glace":
                continue
            if search is not None and not _matches(d, search):
                continue
            found.append(
                RemoteDocument(
                    d.unique_id, d.entry_uuid, d.status, d.confidentiality, dict(d.extra)
                )
            )
        return found

    def retrieve_document(
        self, context: RequestContext, unique_id: str, repository_id: str
    ) -> RetrievedDocument:
        """The bytes of a seeded document."""
        self.consultations.append(context)
        self._take_failure()
        self.operations.append(("retrieve", unique_id, str(context.access_mode)))
        with self._lock:
            doc = self.documents.get(unique_id)
        if doc is None or doc.patient_ins != context.patient.ins or not doc.content:
            raise DmpRejected("Le DMP ne renvoie pas ce document.", code="DocumentNotFound")
        return RetrievedDocument(unique_id, doc.mime_type, doc.content)

    def update_visibility(
        self, context: RequestContext, remote: RemoteDocument, codes: tuple[Confidentiality, ...]
    ) -> DmpReceipt:
        """Record new confidentiality codes."""
        with self._lock:
            self.documents[remote.unique_id].confidentiality = tuple(codes)
            self.operations.append(("visibility", remote.unique_id, ",".join(codes)))
        return DmpReceipt(status="Success")

    def set_availability(
        self, context: RequestContext, remote: RemoteDocument, status: str
    ) -> DmpReceipt:
        """Archive or delete a document."""
        with self._lock:
            self.documents[remote.unique_id].status = status
            self.operations.append(("availability", remote.unique_id, status))
        return DmpReceipt(status="Success")


def _matches(doc: FakeDocument, search: DocumentSearch) -> bool:
    extra = doc.extra
    if search.type_codes and extra.get("type_code") not in search.type_codes:
        return False
    day = extra.get("creation_time", "")[:8]
    if search.created_from and day < search.created_from.strftime("%Y%m%d"):
        return False
    if search.created_to and day > search.created_to.strftime("%Y%m%d"):
        return False
    return not search.author or search.author.lower() in extra.get("author", "").lower()


_shared = FakeDmpTransport()


def shared_fake_transport() -> FakeDmpTransport:
    """The process-wide fake (DMP_TRANSPORT = "fake")."""
    return _shared
