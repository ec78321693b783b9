"""ebRIM 3.0 builders and XDS.b identifiers, shared by ITI-41, ITI-57 and ITI-18.

:mod:`.xds` (Provide and Register), :mod:`.xdsupdate` (Update Document Set) and
:mod:`.xdsquery` (stored queries) build the same registry objects: slots, localized strings,
classifications, external identifiers, submission sets, and the HL7v2 XCN/XON/CX slot values of
the ANS mapping (SPEC-NOTES §1.6). They are written once here.

The conformance validator (:mod:`.conformance.xds`) keeps its own copy of the scheme UUIDs on
purpose: it checks what these builders produce and must not share their mistakes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from lxml import etree

from ptap.dmp_bridge.cda import (
    PS_ID_ROOT,
    STRUCTURE_ID_ROOT,
    birth_date,
    require_ins,
    utc,
    xml_text,
)
from ptap.dmp_bridge.codes import AuthorCodes, Code
from ptap.dmp_bridge.ports import DmpAuthor, DmpOrganisation, DmpPatient

RIM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
QUERY_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
RS_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
XDSB_NS = "urn:ihe:iti:xds-b:2007"
RIM = "{" + RIM_NS + "}"
LCM = "{" + LCM_NS + "}"
QUERY = "{" + QUERY_NS + "}"
RS = "{" + RS_NS + "}"
XDSB = "{" + XDSB_NS + "}"

DOCUMENT_ENTRY_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
REGISTRY_PACKAGE_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
UPDATE_AVAILABILITY = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
#: rim:Value and rim:LocalizedString maximum lengths (rim.xsd LongName, FreeFormText).
LONG_NAME, FREE_TEXT = 256, 1024


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


# -- HL7v2 slot values (ANS mapping) ------------------------------------------------------------

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


def utc_time(moment: datetime) -> str:
    """Format an instant as an XDS DTM in UTC (``YYYYMMDDhhmmss``); naive means UTC."""
    return utc(moment).strftime("%Y%m%d%H%M%S")


# -- registry objects ---------------------------------------------------------------------------


def new_id() -> str:
    """Return a fresh ``urn:uuid:`` registry object id."""
    return f"urn:uuid:{uuid.uuid4()}"


def uuid_oid() -> str:
    """Return a fresh OID under 2.25 (ITU-T X.667), derived from a random UUID."""
    return f"2.25.{uuid.uuid4().int}"


def slot(parent: etree._Element, name: str, *values: str) -> etree._Element:
    """Append ``rim:Slot`` ``name`` with one ``rim:Value`` per value.

    :raises ValueError: for a value longer than rim.xsd allows (the registry would refuse it).
    """
    node = etree.SubElement(parent, RIM + "Slot", name=name)
    value_list = etree.SubElement(node, RIM + "ValueList")
    for value in values:
        if len(value) > LONG_NAME:
            raise ValueError(f"XDS slot {name} longer than {LONG_NAME} characters: {value[:40]}…")
        etree.SubElement(value_list, RIM + "Value").text = value
    return node


def localized(parent: etree._Element, tag: str, text: str) -> None:
    """Append ``rim:<tag>`` (Name, Description) holding one ``rim:LocalizedString``."""
    etree.SubElement(etree.SubElement(parent, RIM + tag), RIM + "LocalizedString").set(
        "value", xml_text(text)[:FREE_TEXT]
    )


def classification(
    parent: etree._Element, scheme: str, object_id: str, node: str
) -> etree._Element:
    """Append a ``rim:Classification`` of ``object_id`` in ``scheme`` (``node``: the code)."""
    return etree.SubElement(
        parent,
        RIM + "Classification",
        id=new_id(),
        classificationScheme=scheme,
        classifiedObject=object_id,
        nodeRepresentation=node,
    )


def coded(parent: etree._Element, scheme: str, object_id: str, code: Code) -> etree._Element:
    """Append a coded classification: the code, its ``codingScheme`` slot and its label."""
    node = classification(parent, scheme, object_id, code.code)
    slot(node, "codingScheme", code.system)
    localized(node, "Name", code.display)
    return node


def author(
    parent: etree._Element,
    scheme: str,
    object_id: str,
    person: DmpAuthor,
    organisation: DmpOrganisation,
    author_codes: AuthorCodes | None = None,
) -> None:
    """Append an author classification: person (XCN), institution (XON), role and specialty."""
    node = classification(parent, scheme, object_id, "")
    slot(node, "authorPerson", xcn(person))
    slot(node, "authorInstitution", xon(organisation))
    if author_codes is None:
        return
    if author_codes.function is not None:
        slot(node, "authorRole", hl7(author_codes.function.display))
    slot(node, "authorSpecialty", author_codes.specialty.hl7v2())


def external_id(
    parent: etree._Element, scheme: str, object_id: str, value: str, label: str
) -> None:
    """Append a ``rim:ExternalIdentifier`` (uniqueId, patientId, sourceId) of ``object_id``."""
    node = etree.SubElement(
        parent,
        RIM + "ExternalIdentifier",
        id=new_id(),
        identificationScheme=scheme,
        registryObject=object_id,
        value=value,
    )
    localized(node, "Name", label)


def submission_set(
    objects: etree._Element,
    set_id: str,
    *,
    now: datetime,
    title: str | None,
    person: DmpAuthor,
    organisation: DmpOrganisation,
    author_codes: AuthorCodes | None,
    content_type: Code,
    unique_id: str,
    source_oid: str,
    patient_id: str,
) -> None:
    """Append the ``rim:RegistryPackage`` of a submission set and its classification node."""
    node = etree.SubElement(
        objects, RIM + "RegistryPackage", id=set_id, objectType=REGISTRY_PACKAGE_TYPE
    )
    slot(node, "submissionTime", utc_time(now))
    if title is not None:
        localized(node, "Name", title)
    author(node, Scheme.SS_AUTHOR, set_id, person, organisation, author_codes)
    coded(node, Scheme.SS_CONTENT_TYPE, set_id, content_type)
    external_id(node, Scheme.SS_UNIQUE_ID, set_id, unique_id, "XDSSubmissionSet.uniqueId")
    external_id(node, Scheme.SS_SOURCE_ID, set_id, source_oid, "XDSSubmissionSet.sourceId")
    external_id(node, Scheme.SS_PATIENT_ID, set_id, patient_id, "XDSSubmissionSet.patientId")
    etree.SubElement(
        objects,
        RIM + "Classification",
        id=new_id(),
        classifiedObject=set_id,
        classificationNode=SUBMISSION_SET_NODE,
    )


def association(
    objects: etree._Element, kind: str, source: str, target: str, *slots: tuple[str, str]
) -> etree._Element:
    """Append a ``rim:Association`` of ``kind`` from ``source`` to ``target`` with its slots."""
    node = etree.SubElement(
        objects,
        RIM + "Association",
        id=new_id(),
        associationType=kind,
        sourceObject=source,
        targetObject=target,
    )
    for name, value in slots:
        slot(node, name, value)
    return node
