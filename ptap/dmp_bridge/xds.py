"""Build the ITI-41 metadata (ebRIM 3.0 SubmitObjectsRequest) of one DMP filing.

One request holds the CDA DocumentEntry, the XAdES signature of the submission set (an extra
DocumentEntry with its ``signs`` association, as DRIMbox does), the SubmissionSet, the HasMember
associations and, for a new version, the RPLC association (SPEC-NOTES §1.2, §1.4-§1.7).
Slot values use the HL7v2 XCN/XON/CX formats of the ANS mapping (SPEC-NOTES §1.6).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import date, datetime

from lxml import etree

from ptap.dmp_bridge import codes
from ptap.dmp_bridge.codes import Code
from ptap.dmp_bridge.crypto import SigningIdentity
from ptap.dmp_bridge.ebrim import (
    DOCUMENT_ENTRY_TYPE,
    HAS_MEMBER,
    LCM_NS,
    RIM,
    RIM_NS,
    RPLC,
    SIGNS,
    SUBMISSION_SET_NODE,
    XDSB_NS,
    Scheme,
    association,
    author,
    coded,
    external_id,
    localized,
    new_id,
    patient_cx,
    slot,
    source_patient_info,
    submission_set,
    utc_time,
    uuid_oid,
    xcn,
)
from ptap.dmp_bridge.ports import (
    Attachment,
    Confidentiality,
    DmpDocument,
    FilingIds,
    ProvideAndRegister,
)
from ptap.dmp_bridge.xades import sign_submission_set

# Re-exported: the ITI-41 names other modules and the tests know this module by.
__all__ = [
    "HAS_MEMBER",
    "RPLC",
    "SIGNS",
    "SUBMISSION_SET_NODE",
    "Scheme",
    "build_provide_and_register",
    "content_id",
    "patient_cx",
    "provide_and_register_xml",
]

XOP = "http://www.w3.org/2004/08/xop/include"


def _day(value: date) -> str:
    return value.strftime("%Y%m%d")


@dataclass(frozen=True)
class Entry:
    """What differs between the CDA DocumentEntry and the signature's."""

    entry_id: str
    unique_id: str
    content: bytes
    creation_time: str
    service_start: str
    service_stop: str | None
    language: str
    legal_authenticator: str
    title: str
    class_code: Code
    type_code: Code
    format_code: Code
    confidentiality: list[Code]
    event_codes: tuple[Code, ...] = ()
    comments: str = ""
    #: Where the document is, relative to the metadata (XDM media only; ITI-41 sends it inline).
    uri: str = ""


def document_entry(parent: etree._Element, entry: Entry, doc: DmpDocument) -> None:
    """Append the ``rim:ExtrinsicObject`` (XDS DocumentEntry) of ``entry`` to ``parent``."""
    obj = entry.entry_id
    node = etree.SubElement(
        parent, RIM + "ExtrinsicObject", id=obj, mimeType="text/xml", objectType=DOCUMENT_ENTRY_TYPE
    )
    slot(node, "creationTime", entry.creation_time)
    slot(node, "hash", hashlib.sha1(entry.content).hexdigest())  # noqa: S324 - XDS mandates SHA-1
    slot(node, "size", str(len(entry.content)))
    slot(node, "languageCode", entry.language)
    slot(node, "legalAuthenticator", entry.legal_authenticator)
    slot(node, "serviceStartTime", entry.service_start)
    if entry.service_stop:
        slot(node, "serviceStopTime", entry.service_stop)
    slot(node, "sourcePatientId", patient_cx(doc.patient))
    slot(node, "sourcePatientInfo", *source_patient_info(doc.patient))
    if entry.uri:
        slot(node, "URI", entry.uri)
    localized(node, "Name", entry.title)
    if entry.comments:
        localized(node, "Description", entry.comments)
    author_codes = codes.author_codes(doc.author)
    author(node, Scheme.DE_AUTHOR, obj, doc.author, doc.organisation, author_codes)
    coded(node, Scheme.DE_CLASS, obj, entry.class_code)
    for code in entry.confidentiality:
        coded(node, Scheme.DE_CONFIDENTIALITY, obj, code)
    for code in entry.event_codes:
        coded(node, Scheme.DE_EVENT, obj, code)
    coded(node, Scheme.DE_FORMAT, obj, entry.format_code)
    org = doc.organisation
    facility = Code(org.facility_type_code, "1.2.250.1.71.4.2.4", org.facility_type_display)
    coded(node, Scheme.DE_FACILITY, obj, facility)
    setting = Code(org.practice_setting_code, "1.2.250.1.213.1.1.4.9", org.practice_setting_display)
    coded(node, Scheme.DE_PRACTICE, obj, setting)
    coded(node, Scheme.DE_TYPE, obj, entry.type_code)
    external_id(
        node, Scheme.DE_PATIENT_ID, obj, patient_cx(doc.patient), "XDSDocumentEntry.patientId"
    )
    external_id(node, Scheme.DE_UNIQUE_ID, obj, entry.unique_id, "XDSDocumentEntry.uniqueId")


def cda_entry(doc: DmpDocument, ids: FilingIds, cda: bytes) -> Entry:
    """Describe the CDA document of a filing as a DocumentEntry (codes from its kind)."""
    kind_codes = codes.document_codes(doc.kind)
    return Entry(
        entry_id=new_id(),
        unique_id=ids.document_oid,
        content=cda,
        creation_time=utc_time(doc.created_at),
        service_start=_day(doc.service_start),
        service_stop=_day(doc.service_stop) if doc.service_stop else None,
        language="fr-FR",
        legal_authenticator=xcn(doc.legal_authenticator),
        title=doc.title,
        class_code=kind_codes.class_code,
        type_code=kind_codes.type_code,
        format_code=kind_codes.format_code,
        confidentiality=codes.confidentiality_codes(doc.confidentiality),
        comments=doc.comments,
    )


def _signature_entry(doc: DmpDocument, signature: bytes, unique_id: str, now: datetime) -> Entry:
    moment = utc_time(now)
    return Entry(
        entry_id=new_id(),
        unique_id=unique_id,
        content=signature,
        creation_time=moment,
        service_start=moment,
        service_stop=moment,
        language="art",
        legal_authenticator=xcn(doc.author),
        title=codes.SIGNATURE_EVENT.display,
        class_code=codes.SIGNATURE_CLASS,
        type_code=codes.SIGNATURE_TYPE,
        format_code=codes.SIGNATURE_FORMAT,
        # DRIMbox hides the technical signature document from professionals and the patient.
        confidentiality=[
            codes.CONFIDENTIALITY_NORMAL,
            codes.DMP_VISIBILITY[Confidentiality.MASKED_FROM_PROFESSIONALS],
            codes.DMP_VISIBILITY[Confidentiality.HIDDEN_FROM_PATIENT],
        ],
        event_codes=(codes.SIGNATURE_EVENT,),
    )


def build_provide_and_register(
    doc: DmpDocument,
    ids: FilingIds,
    cda: bytes,
    signer: SigningIdentity,
    *,
    source_oid: str,
    submission_set_oid: str,
    now: datetime,
) -> ProvideAndRegister:
    """Return the ITI-41 payload: SubmitObjectsRequest, then the CDA and signature documents.

    :param cda: the document built by :func:`ptap.dmp_bridge.cda.build_cda`, sent as is.
    :param source_oid: the platform's XDS sourceId; ``submission_set_oid``: a new OID.
    :raises ValueError: without INS, or when replacing without the DMP's entryUUID.
    """
    if ids.replaces_document_oid and not ids.replaces_entry_uuid:
        raise ValueError("replacement without the entryUUID of the replaced version (ITI-18 first)")
    if ids.replaces_entry_uuid and not ids.replaces_document_oid:
        raise ValueError("RPLC entryUUID without the replaced uniqueId: the CDA would not say it")
    main = cda_entry(doc, ids, cda)
    signature_oid = uuid_oid()  # UUID-derived OID (ITU-T X.667), as DRIMbox
    signature = sign_submission_set(
        signer,
        submission_set_oid=submission_set_oid,
        document_digests={ids.document_oid: hashlib.sha256(cda).digest()},
        signature_oid=signature_oid,
        now=now,
    )
    signature_entry = _signature_entry(doc, signature, signature_oid, now)
    set_id = new_id()

    request = etree.Element(
        etree.QName(LCM_NS, "SubmitObjectsRequest"), nsmap={"lcm": LCM_NS, "rim": RIM_NS}
    )
    objects = etree.SubElement(request, RIM + "RegistryObjectList")
    document_entry(objects, main, doc)
    document_entry(objects, signature_entry, doc)
    submission_set(
        objects,
        set_id,
        now=now,
        title=doc.title,
        person=doc.author,
        organisation=doc.organisation,
        author_codes=codes.author_codes(doc.author),
        content_type=codes.CONTENT_TYPE,
        unique_id=submission_set_oid,
        source_oid=source_oid,
        patient_id=patient_cx(doc.patient),
    )
    original = ("SubmissionSetStatus", "Original")
    association(objects, HAS_MEMBER, set_id, main.entry_id, original)
    association(objects, HAS_MEMBER, set_id, signature_entry.entry_id, original)
    association(objects, SIGNS, signature_entry.entry_id, set_id)
    if ids.replaces_entry_uuid:
        association(objects, RPLC, main.entry_id, ids.replaces_entry_uuid)
    return ProvideAndRegister(
        submit_objects=etree.tostring(request, encoding="UTF-8", xml_declaration=False),
        attachments=(
            Attachment(entry_id=main.entry_id, content=cda),
            Attachment(entry_id=signature_entry.entry_id, content=signature),
        ),
        submission_set_oid=submission_set_oid,
        document_oid=ids.document_oid,
    )


def content_id(entry_id: str) -> str:
    """Return the MIME Content-ID used for a document in the non-inline form."""
    return entry_id.removeprefix("urn:uuid:") + "@ptap.invalid"


def provide_and_register_xml(payload: ProvideAndRegister, inline: bool = True) -> bytes:
    """Return the ``xdsb:ProvideAndRegisterDocumentSetRequest`` element of a payload.

    Documents are inline base64 (the form XDS.b_DocumentRepository.xsd validates), or with
    ``inline=False`` ``xop:Include`` references to ``cid:`` + :func:`content_id`.
    """
    root = etree.Element(
        etree.QName(XDSB_NS, "ProvideAndRegisterDocumentSetRequest"),
        nsmap={"xdsb": XDSB_NS, "lcm": LCM_NS, "rim": RIM_NS},
    )
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    root.append(etree.fromstring(payload.submit_objects, parser))
    for attachment in payload.attachments:
        document = etree.SubElement(root, etree.QName(XDSB_NS, "Document"), id=attachment.entry_id)
        if inline:
            document.text = base64.b64encode(attachment.content).decode("ascii")
        else:
            etree.SubElement(
                document,
                etree.QName(XOP, "Include"),
                nsmap={"xop": XOP},
                href="cid:" + content_id(attachment.entry_id),
            )
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
