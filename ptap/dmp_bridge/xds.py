"""Build the ITI-41 metadata (ebRIM 3.0 SubmitObjectsRequest) of one DMP filing.

One request holds the CDA DocumentEntry, the XAdES signature of the submission set (an extra
DocumentEntry with its ``signs`` association, as DRIMbox does), the SubmissionSet, the HasMember
associations and, for a new version, the RPLC association (SPEC-NOTES §1.2, §1.4-§1.7).
Slot values use the HL7v2 XCN/XON/CX formats of the ANS mapping (SPEC-NOTES §1.6).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from lxml import etree

from ptap.dmp_bridge import codes
from ptap.dmp_bridge.cda import (
    PS_ID_ROOT,
    STRUCTURE_ID_ROOT,
    birth_date,
    require_ins,
    utc,
    xml_text,
)
from ptap.dmp_bridge.codes import Code
from ptap.dmp_bridge.crypto import SigningIdentity
from ptap.dmp_bridge.ports import (
    Attachment,
    Confidentiality,
    DmpAuthor,
    DmpDocument,
    DmpOrganisation,
    DmpPatient,
    FilingIds,
    ProvideAndRegister,
)
from ptap.dmp_bridge.xades import sign_submission_set

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"
_R = "{" + RIM + "}"

DOCUMENT_ENTRY_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
REGISTRY_PACKAGE_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
#: rim:Value and rim:LocalizedString maximum lengths (rim.xsd LongName, FreeFormText).
_LONG_NAME, _FREE_TEXT = 256, 1024


class Scheme:
    """Classification and external identifier scheme UUIDs of XDS.b (IHE ITI TF-3 4.2.5)."""

    DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
    DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
    DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
    DE_EVENT = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
    DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
    DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
    DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
    DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
    DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
    DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
    SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
    SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
    SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
    SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
    SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"


_HL7_ESCAPES = str.maketrans(
    {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}
)


def hl7(value: str) -> str:
    """Escape HL7v2 delimiters in a component value (``^`` → ``\\S\\``...)."""
    return xml_text(value).translate(_HL7_ESCAPES)


def xcn(person: DmpAuthor) -> str:
    """Format a professional as XCN: PS_IdNat (type IDNPS, or EI for ``3…/local`` ids)."""
    id_type = "EI" if "/" in person.id_nat else "IDNPS"
    return (
        f"{hl7(person.id_nat)}^{hl7(person.family_name)}^{hl7(person.given_name)}"
        f"^^^^^^&{PS_ID_ROOT}&ISO^D^^^{id_type}"
    )


def xon(org: DmpOrganisation) -> str:
    """Format a structure as XON with its Struct_IdNat."""
    return f"{hl7(org.name)}^^^^^&{STRUCTURE_ID_ROOT}&ISO^IDNST^^^{hl7(org.id_nat)}"


def patient_cx(patient: DmpPatient) -> str:
    """Format the patient's INS as CX (``<INS>^^^&<OID>&ISO^NH``)."""
    ins, oid = require_ins(patient)
    return f"{hl7(ins)}^^^&{oid}&ISO^NH"


def source_patient_info(patient: DmpPatient) -> list[str]:
    """Return the PID-5 (birth name), PID-7 (birth date) and PID-8 (sex) values."""
    first = patient.first_names.split()
    given = first[0] if first else patient.first_names
    sex = patient.sex.upper() if patient.sex.upper() in ("F", "M") else "U"
    return [
        f"PID-5|{hl7(patient.birth_name)}^{hl7(given)}^^^^^L",
        f"PID-7|{birth_date(patient)}",
        f"PID-8|{sex}",
    ]


def _utc_time(moment: datetime) -> str:
    return utc(moment).strftime("%Y%m%d%H%M%S")


def _day(value: date) -> str:
    return value.strftime("%Y%m%d")


def _new_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    value_list = etree.SubElement(
        etree.SubElement(parent, _R + "Slot", name=name), _R + "ValueList"
    )
    for value in values:
        if len(value) > _LONG_NAME:
            raise ValueError(f"XDS slot {name} longer than {_LONG_NAME} characters: {value[:40]}…")
        etree.SubElement(value_list, _R + "Value").text = value


def _localized(parent: etree._Element, tag: str, text: str) -> None:
    etree.SubElement(etree.SubElement(parent, _R + tag), _R + "LocalizedString").set(
        "value", xml_text(text)[:_FREE_TEXT]
    )


def _classification(
    parent: etree._Element, scheme: str, object_id: str, node: str
) -> etree._Element:
    return etree.SubElement(
        parent,
        _R + "Classification",
        id=_new_id(),
        classificationScheme=scheme,
        classifiedObject=object_id,
        nodeRepresentation=node,
    )


def _coded(parent: etree._Element, scheme: str, object_id: str, code: Code) -> None:
    node = _classification(parent, scheme, object_id, code.code)
    _slot(node, "codingScheme", code.system)
    _localized(node, "Name", code.display)


def _author(parent: etree._Element, scheme: str, object_id: str, doc: DmpDocument) -> None:
    author_codes = codes.author_codes(doc.author)
    node = _classification(parent, scheme, object_id, "")
    _slot(node, "authorPerson", xcn(doc.author))
    _slot(node, "authorInstitution", xon(doc.organisation))
    if author_codes.function is not None:
        _slot(node, "authorRole", hl7(author_codes.function.display))
    _slot(node, "authorSpecialty", author_codes.specialty.hl7v2())


def _external_id(
    parent: etree._Element, scheme: str, object_id: str, value: str, label: str
) -> None:
    node = etree.SubElement(
        parent,
        _R + "ExternalIdentifier",
        id=_new_id(),
        identificationScheme=scheme,
        registryObject=object_id,
        value=value,
    )
    _localized(node, "Name", label)


@dataclass(frozen=True)
class _Entry:
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


def _document_entry(parent: etree._Element, entry: _Entry, doc: DmpDocument) -> None:
    obj = entry.entry_id
    node = etree.SubElement(
        parent, _R + "ExtrinsicObject", id=obj, mimeType="text/xml", objectType=DOCUMENT_ENTRY_TYPE
    )
    _slot(node, "creationTime", entry.creation_time)
    _slot(node, "hash", hashlib.sha1(entry.content).hexdigest())  # noqa: S324 - XDS mandates SHA-1
    _slot(node, "size", str(len(entry.content)))
    _slot(node, "languageCode", entry.language)
    _slot(node, "legalAuthenticator", entry.legal_authenticator)
    _slot(node, "serviceStartTime", entry.service_start)
    if entry.service_stop:
        _slot(node, "serviceStopTime", entry.service_stop)
    _slot(node, "sourcePatientId", patient_cx(doc.patient))
    _slot(node, "sourcePatientInfo", *source_patient_info(doc.patient))
    _localized(node, "Name", entry.title)
    if entry.comments:
        _localized(node, "Description", entry.comments)
    _author(node, Scheme.DE_AUTHOR, obj, doc)
    _coded(node, Scheme.DE_CLASS, obj, entry.class_code)
    for code in entry.confidentiality:
        _coded(node, Scheme.DE_CONFIDENTIALITY, obj, code)
    for code in entry.event_codes:
        _coded(node, Scheme.DE_EVENT, obj, code)
    _coded(node, Scheme.DE_FORMAT, obj, entry.format_code)
    org = doc.organisation
    facility = Code(org.facility_type_code, "1.2.250.1.71.4.2.4", org.facility_type_display)
    _coded(node, Scheme.DE_FACILITY, obj, facility)
    setting = Code(org.practice_setting_code, "1.2.250.1.213.1.1.4.9", org.practice_setting_display)
    _coded(node, Scheme.DE_PRACTICE, obj, setting)
    _coded(node, Scheme.DE_TYPE, obj, entry.type_code)
    _external_id(
        node, Scheme.DE_PATIENT_ID, obj, patient_cx(doc.patient), "XDSDocumentEntry.patientId"
    )
    _external_id(node, Scheme.DE_UNIQUE_ID, obj, entry.unique_id, "XDSDocumentEntry.uniqueId")


def _submission_set(
    parent: etree._Element,
    set_id: str,
    doc: DmpDocument,
    *,
    source_oid: str,
    unique_id: str,
    now: datetime,
) -> None:
    node = etree.SubElement(
        parent, _R + "RegistryPackage", id=set_id, objectType=REGISTRY_PACKAGE_TYPE
    )
    _slot(node, "submissionTime", _utc_time(now))
    _localized(node, "Name", doc.title)
    _author(node, Scheme.SS_AUTHOR, set_id, doc)
    _coded(node, Scheme.SS_CONTENT_TYPE, set_id, codes.CONTENT_TYPE)
    _external_id(node, Scheme.SS_UNIQUE_ID, set_id, unique_id, "XDSSubmissionSet.uniqueId")
    _external_id(node, Scheme.SS_SOURCE_ID, set_id, source_oid, "XDSSubmissionSet.sourceId")
    _external_id(
        node, Scheme.SS_PATIENT_ID, set_id, patient_cx(doc.patient), "XDSSubmissionSet.patientId"
    )
    etree.SubElement(
        parent,
        _R + "Classification",
        id=_new_id(),
        classifiedObject=set_id,
        classificationNode=SUBMISSION_SET_NODE,
    )


def _association(
    parent: etree._Element, kind: str, source: str, target: str, *, member: bool
) -> None:
    node = etree.SubElement(
        parent,
        _R + "Association",
        id=_new_id(),
        associationType=kind,
        sourceObject=source,
        targetObject=target,
    )
    if member:
        _slot(node, "SubmissionSetStatus", "Original")


def _cda_entry(doc: DmpDocument, ids: FilingIds, cda: bytes) -> _Entry:
    kind_codes = codes.document_codes(doc.kind)
    return _Entry(
        entry_id=_new_id(),
        unique_id=ids.document_oid,
        content=cda,
        creation_time=_utc_time(doc.created_at),
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


def _signature_entry(doc: DmpDocument, signature: bytes, unique_id: str, now: datetime) -> _Entry:
    moment = _utc_time(now)
    return _Entry(
        entry_id=_new_id(),
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
    cda_entry = _cda_entry(doc, ids, cda)
    signature_oid = f"2.25.{uuid.uuid4().int}"  # UUID-derived OID (ITU-T X.667), as DRIMbox
    signature = sign_submission_set(
        signer,
        submission_set_oid=submission_set_oid,
        document_digests={ids.document_oid: hashlib.sha256(cda).digest()},
        signature_oid=signature_oid,
        now=now,
    )
    signature_entry = _signature_entry(doc, signature, signature_oid, now)
    set_id = _new_id()

    request = etree.Element(
        etree.QName(LCM, "SubmitObjectsRequest"), nsmap={"lcm": LCM, "rim": RIM}
    )
    objects = etree.SubElement(request, _R + "RegistryObjectList")
    _document_entry(objects, cda_entry, doc)
    _document_entry(objects, signature_entry, doc)
    _submission_set(
        objects, set_id, doc, source_oid=source_oid, unique_id=submission_set_oid, now=now
    )
    _association(objects, HAS_MEMBER, set_id, cda_entry.entry_id, member=True)
    _association(objects, HAS_MEMBER, set_id, signature_entry.entry_id, member=True)
    _association(objects, SIGNS, signature_entry.entry_id, set_id, member=False)
    if ids.replaces_entry_uuid:
        _association(objects, RPLC, cda_entry.entry_id, ids.replaces_entry_uuid, member=False)
    return ProvideAndRegister(
        submit_objects=etree.tostring(request, encoding="UTF-8", xml_declaration=False),
        attachments=(
            Attachment(entry_id=cda_entry.entry_id, content=cda),
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
        etree.QName(XDSB, "ProvideAndRegisterDocumentSetRequest"),
        nsmap={"xdsb": XDSB, "lcm": LCM, "rim": RIM},
    )
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    root.append(etree.fromstring(payload.submit_objects, parser))
    for attachment in payload.attachments:
        document = etree.SubElement(root, etree.QName(XDSB, "Document"), id=attachment.entry_id)
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
