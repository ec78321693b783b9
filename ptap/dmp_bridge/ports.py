"""The DMP bridge's boundary: plain data in, plain data out, and the transport protocol.

Other domains describe a document with these frozen dataclasses; the bridge never imports
them (it imports only ``ptap.core``). Builders (``cda``, ``xds``), the transport (``soap``,
``fake``) and the outbox (``services``) all speak these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol


class DocumentKind(StrEnum):
    """What the platform files into the DMP (codes in ``codes.py``)."""

    PPCS = "ppcs"
    REFERRAL_LETTER = "referral_letter"
    MEETING_REPORT = "meeting_report"
    #: Compte rendu de consultation ou de visite (a home assessment report).
    VISIT_REPORT = "visit_report"


class Confidentiality(StrEnum):
    """DMP visibility of a document: the CDA code is always N; the rest are XDS extras."""

    NORMAL = "normal"
    #: Hidden from other professionals (MASQUE_PS).
    MASKED_FROM_PROFESSIONALS = "masked_from_professionals"
    #: Not visible to the patient until a professional has told them (INVISIBLE_PATIENT).
    HIDDEN_FROM_PATIENT = "hidden_from_patient"
    #: Not visible to the legal representatives (INVISIBLE_REPRESENTANTS_LEGAUX).
    HIDDEN_FROM_REPRESENTATIVES = "hidden_from_representatives"


class Operation(StrEnum):
    """What an outbox row asks of the DMP."""

    FILE = "file"  # ITI-41, new document or RPLC replacement
    UPDATE_VISIBILITY = "update_visibility"  # ITI-57, new confidentiality codes
    ARCHIVE = "archive"  # ITI-57 UpdateAvailabilityStatus → Archived
    DELETE = "delete"  # ITI-57 UpdateAvailabilityStatus → Deleted


@dataclass(frozen=True)
class DmpPatient:
    """A patient as the DMP sees them, with what the gates need."""

    patient_id: int
    #: INS matricule, 15 characters (NIR or NIA with its key); None when unknown.
    ins: str | None
    #: OID of the INS: 1.2.250.1.213.1.4.8 NIR, .9 NIA, .10/.11 test identities.
    ins_oid: str | None
    #: Identity status after the RNIV: only "qualified" may be sent.
    qualified: bool
    sharing_consent: bool
    dmp_opposition: bool
    birth_name: str
    #: Birth first names in order, separated by spaces (INS format).
    first_names: str
    birth_year: int
    birth_month: int | None
    birth_day: int | None
    sex: str  # F, M, I
    #: INSEE code of the birthplace (99xxx abroad).
    birthplace_code: str
    used_name: str = ""
    used_first_name: str = ""
    address: str = ""
    postal_code: str = ""
    city: str = ""


@dataclass(frozen=True)
class DmpOrganisation:
    """The structure on whose behalf documents are filed (custodian, author institution)."""

    name: str
    #: Struct_IdNat: "1" + FINESS (or "3" + SIRET).
    id_nat: str
    #: healthcareFacilityTypeCode (JDV_J61/J02), SA57 for a DAC.
    facility_type_code: str = "SA57"
    facility_type_display: str = "Structure de coopération avec mission de coordination de soins"
    #: practiceSettingCode (JDV_J62/J04).
    practice_setting_code: str = "AMBULATOIRE"
    practice_setting_display: str = "Ambulatoire"
    telecom: str = ""
    street: str = ""
    postal_code: str = ""
    city: str = ""


@dataclass(frozen=True)
class DmpAuthor:
    """A professional as author or legal authenticator."""

    #: PS_IdNat: "8" + RPPS, or "3" + FINESS + "/" + local id without a national id.
    id_nat: str
    family_name: str
    given_name: str
    #: Profession key of PTAP (accounts.Profession value), mapped by codes.author_codes().
    profession: str
    #: Physician specialty code (TRE_R38 SM.. code) when known.
    specialty: str = ""
    #: Role in the document (JDV_J47 functionCode), e.g. PCP for the GP, 330 coordinator.
    function_code: str = ""


@dataclass(frozen=True)
class DmpDocument:
    """Everything needed to build the CDA and its XDS metadata, except the ids of the filing."""

    kind: DocumentKind
    patient: DmpPatient
    title: str
    #: The rendered document (PDF/A) embedded in the CDA as an N1 unstructured body.
    pdf: bytes
    author: DmpAuthor
    legal_authenticator: DmpAuthor
    organisation: DmpOrganisation
    #: When the document was produced (CDA effectiveTime, XDS creationTime).
    created_at: datetime
    #: When the legal authenticator validated it.
    authenticated_at: datetime
    service_start: date
    service_stop: date | None = None
    confidentiality: tuple[Confidentiality, ...] = (Confidentiality.NORMAL,)
    #: Local identifier of the patient (IPP) in this platform.
    local_patient_id: str = ""
    comments: str = ""
    #: OID qualifying local_patient_id (CDA patientRole/id@root); without it no local id is sent.
    local_patient_oid: str = ""


@dataclass(frozen=True)
class FilingIds:
    """The identifiers of one filing, fixed when the outbox row is written."""

    #: ClinicalDocument/id@root and XDS uniqueId (an OID of ours).
    document_oid: str
    #: ClinicalDocument/setId@root, the same for every version of one document.
    set_oid: str
    version_number: int
    #: uniqueId of the version this one replaces (relatedDocument RPLC), if any.
    replaces_document_oid: str | None = None
    #: entryUUID the DMP holds for the replaced version (XDS RPLC association target).
    replaces_entry_uuid: str | None = None


@dataclass(frozen=True)
class Attachment:
    """One document of an ITI-41 request, sent as an MTOM part."""

    #: The Document/@id in the request, equal to its ExtrinsicObject/@id (urn:uuid:…).
    entry_id: str
    content: bytes
    mime_type: str = "text/xml"


@dataclass(frozen=True)
class ProvideAndRegister:
    """An ITI-41 payload before it is put in a SOAP envelope."""

    #: The serialized rim/lcm SubmitObjectsRequest element (UTF-8 XML, no XML declaration).
    submit_objects: bytes
    #: The CDA document, then the XAdES signature of the submission set.
    attachments: tuple[Attachment, ...]
    submission_set_oid: str
    document_oid: str


class AccessMode(StrEnum):
    """The VIHF access mode (TRE_R248_ModeAcces, purposeofuse)."""

    NORMAL = "normal"
    #: Emergency access by a professional outside the circle, with a reason.
    BREAK_GLASS = "bris_de_glace"


@dataclass(frozen=True)
class RequestContext:
    """Who asks, on whose behalf, about whom: what the VIHF assertion says."""

    patient: DmpPatient
    #: The human user, or the person responsible for the automated filing.
    subject: DmpAuthor
    organisation: DmpOrganisation
    access_mode: AccessMode = AccessMode.NORMAL
    #: Why the professional broke the glass (sent with the bris_de_glace mode only).
    access_reason: str = ""


@dataclass(frozen=True)
class DocumentSearch:
    """The DMP's FindDocuments filters a professional may set (all optional)."""

    #: typeCode codes (LOINC), e.g. 11490-0 discharge letter, 11502-2 lab report.
    type_codes: tuple[str, ...] = ()
    created_from: date | None = None
    #: Inclusive: documents created on this day are included.
    created_to: date | None = None
    #: Part of the author's name (case-insensitive).
    author: str = ""


@dataclass(frozen=True)
class RetrievedDocument:
    """A document's bytes (ITI-43 answer)."""

    unique_id: str
    mime_type: str
    content: bytes


@dataclass(frozen=True)
class PreparedRequest:
    """The exact HTTP request the transport sends (kept for audits and support)."""

    body: bytes
    content_type: str
    action: str
    message_id: str


@dataclass(frozen=True)
class RegistryError:
    """One RegistryError of an XDS response."""

    code: str
    message: str
    severity: str = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
    location: str = ""


@dataclass(frozen=True)
class DmpReceipt:
    """The DMP's answer to a submission or an update."""

    status: str  # Success | PartialSuccess
    #: entryUUID the DMP assigned to the document, when the response says it.
    entry_uuid: str = ""
    errors: tuple[RegistryError, ...] = ()
    #: Raw response, kept for support.
    response: bytes = b""


@dataclass(frozen=True)
class RemoteDocument:
    """A document the DMP holds (ITI-18 answer)."""

    unique_id: str
    entry_uuid: str
    status: str  # Approved | Deprecated | Archived | Deleted (the URN tail)
    confidentiality_codes: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


class DmpError(Exception):
    """Base of the transport's errors; ``message`` is shown to coordinators (French)."""

    def __init__(self, message: str, *, code: str = "", response: bytes = b"") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.response = response


class DmpRejected(DmpError):
    """Permanent: the DMP refused the request; a person must act before a new attempt."""


class DmpUnavailable(DmpError):
    """Transient: HTTP 5xx, timeout, reset, transient registry error; retried with backoff."""


class DmpTransport(Protocol):
    """Talks to the DMP. The SOAP transport is the only one that reaches the network."""

    def prepare_submission(
        self, payload: ProvideAndRegister, context: RequestContext
    ) -> PreparedRequest:
        """Build the exact ITI-41 request (SOAP 1.2, WS-Addressing, signed VIHF, MTOM)."""
        ...

    def send_submission(self, prepared: PreparedRequest) -> DmpReceipt:
        """Send a prepared ITI-41 request; raise DmpRejected or DmpUnavailable on failure."""
        ...

    def find_document(self, context: RequestContext, unique_id: str) -> RemoteDocument | None:
        """ITI-18 GetDocuments by uniqueId: the DMP's entry for one of our documents, if any."""
        ...

    def list_documents(
        self, context: RequestContext, search: DocumentSearch | None = None
    ) -> list[RemoteDocument]:
        """ITI-18 FindDocuments: the patient's documents the DMP shows us (with filters)."""
        ...

    def retrieve_document(
        self, context: RequestContext, unique_id: str, repository_id: str
    ) -> RetrievedDocument:
        """ITI-43 RetrieveDocumentSet: one document's bytes; DmpRejected when not found."""
        ...

    def update_visibility(
        self, context: RequestContext, remote: RemoteDocument, codes: tuple[Confidentiality, ...]
    ) -> DmpReceipt:
        """ITI-57: new metadata version carrying these confidentiality codes."""
        ...

    def set_availability(
        self, context: RequestContext, remote: RemoteDocument, status: str
    ) -> DmpReceipt:
        """ITI-57 UpdateAvailabilityStatus: status is "Archived" or "Deleted"."""
        ...
