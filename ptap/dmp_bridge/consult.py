"""Consulting the patient's DMP: list (ITI-18 FindDocuments) and open (ITI-43) documents.

The calling domain decides who may consult and audits it; the bridge applies the DMP's own
gates (INS, opposition, consent), builds the VIHF for the real professional (normal or
bris-de-glace mode), keeps answers a short while in memory (never in the database) and turns
a retrieved document into what a browser may show: a PDF, a CDA's narrative as safe HTML, or
a download.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from flask import current_app
from lxml import etree

from ptap.dmp_bridge import runtime, sources
from ptap.dmp_bridge.ports import (
    AccessMode,
    DmpPatient,
    DmpRejected,
    DocumentSearch,
    RemoteDocument,
    RequestContext,
    RetrievedDocument,
)

NO_INS = (
    "Le patient n'a pas d'INS enregistrée : son DMP ne peut pas être consulté. Récupérez son "
    "INS (téléservice INSi) depuis son identité."
)
OPPOSITION = (
    "Le patient s'est opposé à l'accès des professionnels à son DMP : il ne peut pas être "
    "consulté depuis PTAP."
)
NO_CONSENT = (
    "Le consentement du patient au partage de ses informations n'est pas enregistré : "
    "recueillez-le avant de consulter son DMP."
)
#: DMP confidentiality codes (JDV_J58).
MASKED = "MASQUE_PS"
HIDDEN_FROM_PATIENT = "INVISIBLE_PATIENT"
HIDDEN_FROM_REPRESENTATIVES = "INVISIBLE_REPRESENTANTS_LEGAUX"
HL7 = "{urn:hl7-org:v3}"
MAX_CACHE_SECONDS = 300


class DmpConsultRefused(Exception):
    """The DMP may not be consulted for this patient now; ``message`` says why (French)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def consult_blocking_reason(patient: DmpPatient) -> str | None:
    """Say why this patient's DMP may not be consulted, or None."""
    if not patient.ins or not patient.ins_oid:
        return NO_INS
    if patient.dmp_opposition:
        return OPPOSITION
    if not patient.sharing_consent:
        return NO_CONSENT
    return None


# --- a small in-memory cache (per process; entries live minutes) ---------------------------


class _TtlCache:
    """Entries that expire, at most `max_entries` of them and `max_bytes` in all (the sizes
    given to put: documents are megabytes); the oldest go first."""

    def __init__(self, max_entries: int = 256, max_bytes: int = 32 * 1024 * 1024) -> None:
        self._lock = threading.Lock()
        self._data: dict[tuple[object, ...], tuple[float, object, int]] = {}
        self._max = max_entries
        self.max_bytes = max_bytes
        self._bytes = 0

    def get(self, key: tuple[object, ...]) -> object | None:
        now = time.monotonic()
        with self._lock:
            found = self._data.get(key)
            if found is None:
                return None
            if found[0] <= now:
                self._drop(key)
                return None
            return found[1]

    def _drop(self, key: tuple[object, ...]) -> None:
        self._bytes -= self._data.pop(key)[2]

    def put(self, key: tuple[object, ...], value: object, seconds: float, size: int = 0) -> None:
        if seconds <= 0 or size > self.max_bytes:
            return
        now = time.monotonic()
        with self._lock:
            if key in self._data:
                self._drop(key)
            if len(self._data) >= self._max or self._bytes + size > self.max_bytes:
                for k in [k for k, (exp, _, _) in self._data.items() if exp <= now]:
                    self._drop(k)
                while self._data and (
                    len(self._data) >= self._max or self._bytes + size > self.max_bytes
                ):
                    self._drop(next(iter(self._data)))
            self._data[key] = (now + seconds, value, size)
            self._bytes += size

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0


_cache = _TtlCache()


def clear_cache() -> None:
    """Forget every cached answer (tests, and after a patient's opposition changes)."""
    _cache.clear()


def _cache_seconds() -> float:
    return min(float(current_app.config.get("DMP_CONSULT_CACHE_SECONDS", 120)), MAX_CACHE_SECONDS)


# --- consultation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Consultation:
    """Who consults whose DMP, and how (the VIHF's subject and access mode)."""

    user_id: int
    patient_id: int
    mode: AccessMode = AccessMode.NORMAL
    reason: str = ""


def _context(consultation: Consultation) -> RequestContext:
    patient = sources.patient(consultation.patient_id)
    reason = consult_blocking_reason(patient)
    if reason is not None:
        raise DmpConsultRefused(reason)
    requester = sources.requester(consultation.user_id, consultation.patient_id)
    if not requester.subject.id_nat.startswith("8"):
        raise DmpConsultRefused(
            "Seul un professionnel identifié par son RPPS peut consulter le DMP."
        )
    return RequestContext(
        patient=patient,
        subject=requester.subject,
        organisation=requester.organisation,
        access_mode=consultation.mode,
        access_reason=consultation.reason if consultation.mode == AccessMode.BREAK_GLASS else "",
    )


def _key(consultation: Consultation, *rest: object) -> tuple[object, ...]:
    return (consultation.user_id, consultation.patient_id, str(consultation.mode), *rest)


def list_dmp_documents(
    consultation: Consultation, search: DocumentSearch | None = None
) -> list[RemoteDocument]:
    """ITI-18 FindDocuments for a professional (gates first); cached a short while.

    Raises DmpConsultRefused, or DmpError (DmpUnavailable/DmpRejected) with a French message.
    """
    context = _context(consultation)
    # The INS in the key: after an identity correction, never the wrong person's list.
    key = _key(consultation, "list", context.patient.ins_oid, context.patient.ins, search)
    cached = _cache.get(key)
    if isinstance(cached, list):
        return cached
    found = runtime.transport().list_documents(context, search)
    # Deleted entries never show; masked ones only come back when the DMP allows it.
    found = [d for d in found if d.status != "Deleted"]
    _cache.put(key, found, _cache_seconds(), size=1024 * len(found))
    return found


def retrieve_dmp_document(
    consultation: Consultation, unique_id: str, repository_id: str = ""
) -> tuple[RemoteDocument, RetrievedDocument]:
    """Find the entry among the patient's documents, then ITI-43 it; cached a short while.

    A uniqueId the DMP does not list for this patient and this professional is refused
    (DmpRejected DocumentNotFound) without asking the repository.
    """
    entries = {d.unique_id: d for d in list_dmp_documents(consultation)}
    entry = entries.get(unique_id)
    if entry is None:
        raise DmpRejected(
            "Ce document ne figure pas (ou plus) dans le DMP du patient.", code="DocumentNotFound"
        )
    key = _key(consultation, "doc", unique_id)
    cached = _cache.get(key)
    if isinstance(cached, RetrievedDocument):
        return entry, cached
    context = _context(consultation)
    repository = repository_id or entry.extra.get("repository_id", "")
    document = runtime.transport().retrieve_document(context, unique_id, repository)
    _cache.put(key, document, _cache_seconds(), size=len(document.content))
    return entry, document


# --- showing a document --------------------------------------------------------------------


class ViewKind(StrEnum):
    PDF = "pdf"
    CDA = "cda"
    DOWNLOAD = "download"


@dataclass(frozen=True)
class DocumentView:
    """What the browser gets: PDF bytes, the CDA narrative as safe HTML, or a download."""

    kind: ViewKind
    mime_type: str
    content: bytes
    #: For CDA: the narrative rendered by the viewer stylesheet (escaped, no attributes).
    html: str = ""
    title: str = ""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


_xslt_lock = threading.Lock()
_xslt: etree.XSLT | None = None


def _stylesheet() -> etree.XSLT:
    global _xslt
    with _xslt_lock:
        if _xslt is None:
            path = Path(__file__).with_name("cda_view.xsl")
            xsl = etree.parse(str(path), parser=_parser())
            _xslt = etree.XSLT(xsl, access_control=etree.XSLTAccessControl.DENY_ALL)
        return _xslt


def render_cda_narrative(cda: etree._Element) -> str:
    """The CDA's narrative blocks as HTML: titles, paragraphs, lists, tables, text escaped."""
    result = _stylesheet()(cda)
    return str(result).strip()


def cda_narrative_text(content: bytes) -> str:
    """The plain text of a structured CDA's narrative (section titles and texts), for search;
    empty for anything else (a PDF, a CDA wrapping a PDF, malformed XML)."""
    try:
        root = etree.fromstring(content, parser=_parser())
    except etree.XMLSyntaxError:
        return ""
    if root.tag != HL7 + "ClinicalDocument":
        return ""
    parts: list[str] = []
    for section in root.iter(f"{HL7}section"):
        for child in (section.find(f"{HL7}title"), section.find(f"{HL7}text")):
            if child is not None:
                text = " ".join("".join(child.itertext()).split())
                if text:
                    parts.append(text)
    return "\n".join(parts)


def _embedded_pdf(cda: etree._Element) -> bytes | None:
    text = cda.find(f"{HL7}component/{HL7}nonXMLBody/{HL7}text")
    if text is None or text.get("mediaType") != "application/pdf":
        return None
    try:
        return base64.b64decode("".join((text.text or "").split()), validate=True)
    except ValueError:
        return None


def document_view(document: RetrievedDocument) -> DocumentView:
    """Decide how a retrieved document is shown; anything not understood is a download."""
    mime = document.mime_type.split(";")[0].strip().lower()
    content = document.content
    if mime == "application/pdf" or content.startswith(b"%PDF-"):
        return DocumentView(ViewKind.PDF, "application/pdf", content)
    if mime in {"text/xml", "application/xml", "application/hl7-v3+xml"}:
        try:
            root = etree.fromstring(content, parser=_parser())
        except etree.XMLSyntaxError:
            return DocumentView(ViewKind.DOWNLOAD, mime, content)
        if root.tag == HL7 + "ClinicalDocument":
            pdf = _embedded_pdf(root)
            if pdf is not None and pdf.startswith(b"%PDF-"):
                return DocumentView(ViewKind.PDF, "application/pdf", pdf)
            if root.find(f"{HL7}component/{HL7}structuredBody") is not None:
                return DocumentView(
                    ViewKind.CDA,
                    mime,
                    content,
                    html=render_cda_narrative(root),
                    title=(root.findtext(f"{HL7}title") or "").strip(),
                )
    return DocumentView(ViewKind.DOWNLOAD, mime or "application/octet-stream", content)
