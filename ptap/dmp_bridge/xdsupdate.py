"""ITI-57 Update Document Set bodies: visibility (new metadata version) and availability.

Both are ``lcm:SubmitObjectsRequest`` with a submission set of their own (IHE XDS Metadata
Update): a new DocumentEntry version (same ``lid``, ``PreviousVersion`` slot on HasMember)
for the confidentiality codes (TD3.3a/b), an ``UpdateAvailabilityStatus`` association for
delete and archive (TD3.3c/d).
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime

from lxml import etree

from ptap.dmp_bridge import codes as codes_table
from ptap.dmp_bridge import xds
from ptap.dmp_bridge.ports import Confidentiality, RequestContext
from ptap.dmp_bridge.xdsquery import (
    DE_CONFIDENTIALITY,
    LCM,
    LCM_NS,
    RIM,
    RIM_NS,
    SS_AUTHOR,
    SS_CONTENT_TYPE,
    SS_PATIENT_ID,
    SS_SOURCE_ID,
    SS_UNIQUE_ID,
    SUBMISSION_SET_NODE,
)

UPDATE_AVAILABILITY = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
REGISTRY_PACKAGE_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"


def confidentiality_codes(codes: tuple[Confidentiality, ...]) -> list[tuple[str, str, str]]:
    """The XDS codes (code, scheme, display) for a visibility: N first, then DMP extras."""
    return [(c.code, c.system, c.display) for c in codes_table.confidentiality_codes(codes)]


def new_uuid() -> str:
    """A fresh ``urn:uuid:`` registry object id."""
    return f"urn:uuid:{uuid.uuid4()}"


def uuid_oid() -> str:
    """A fresh OID under 2.25 (ITU-T X.667), for submission set uniqueIds of updates."""
    return f"2.25.{uuid.uuid4().int}"


def patient_cx(context: RequestContext) -> str:
    """The patient's INS as an XDS CX (``NIR^^^&OID&ISO^NH``), formatted as in filings."""
    return xds.patient_cx(context.patient)


def _slot(parent: etree._Element, name: str, *values: str) -> etree._Element:
    slot = etree.SubElement(parent, RIM + "Slot", name=name)
    value_list = etree.SubElement(slot, RIM + "ValueList")
    for value in values:
        etree.SubElement(value_list, RIM + "Value").text = value
    return slot


def _localized(parent: etree._Element, text: str) -> None:
    name = etree.SubElement(parent, RIM + "Name")
    etree.SubElement(name, RIM + "LocalizedString", value=text)


def _external_id(parent: etree._Element, scheme: str, value: str, label: str) -> None:
    ext = etree.SubElement(
        parent,
        RIM + "ExternalIdentifier",
        id=new_uuid(),
        identificationScheme=scheme,
        registryObject=parent.get("id", ""),
        value=value,
    )
    _localized(ext, label)


def _submission_set(
    objects: etree._Element,
    context: RequestContext,
    *,
    source_oid: str,
    now: datetime,
    content_type: tuple[str, str, str],
) -> str:
    set_id = "SubmissionSet01"
    package = etree.SubElement(
        objects, RIM + "RegistryPackage", id=set_id, objectType=REGISTRY_PACKAGE_TYPE
    )
    _slot(package, "submissionTime", now.astimezone(UTC).strftime("%Y%m%d%H%M%S"))
    author = etree.SubElement(
        package,
        RIM + "Classification",
        id=new_uuid(),
        classificationScheme=SS_AUTHOR,
        classifiedObject=set_id,
        nodeRepresentation="",
    )
    _slot(author, "authorPerson", xds.xcn(context.subject))
    org = context.organisation
    _slot(author, "authorInstitution", xds.xon(org))
    code, scheme, display = content_type
    content = etree.SubElement(
        package,
        RIM + "Classification",
        id=new_uuid(),
        classificationScheme=SS_CONTENT_TYPE,
        classifiedObject=set_id,
        nodeRepresentation=code,
    )
    _slot(content, "codingScheme", scheme)
    _localized(content, display)
    _external_id(package, SS_UNIQUE_ID, uuid_oid(), "XDSSubmissionSet.uniqueId")
    _external_id(package, SS_SOURCE_ID, source_oid, "XDSSubmissionSet.sourceId")
    _external_id(package, SS_PATIENT_ID, patient_cx(context), "XDSSubmissionSet.patientId")
    etree.SubElement(
        objects,
        RIM + "Classification",
        id=new_uuid(),
        classifiedObject=set_id,
        classificationNode=SUBMISSION_SET_NODE,
    )
    return set_id


def _request() -> tuple[etree._Element, etree._Element]:
    request = etree.Element(LCM + "SubmitObjectsRequest", nsmap={"lcm": LCM_NS, "rim": RIM_NS})
    return request, etree.SubElement(request, RIM + "RegistryObjectList")


#: Default XDSSubmissionSet.contentTypeCode for a DAC: the one filings use (codes.py).
DEFAULT_CONTENT_TYPE = (
    codes_table.CONTENT_TYPE.code,
    codes_table.CONTENT_TYPE.system,
    codes_table.CONTENT_TYPE.display,
)


def availability_update(
    context: RequestContext,
    entry_uuid: str,
    *,
    original_status: str,
    new_status: str,
    source_oid: str,
    now: datetime,
    content_type: tuple[str, str, str] = DEFAULT_CONTENT_TYPE,
) -> etree._Element:
    """SubmitObjectsRequest moving one DocumentEntry from ``original_status`` to ``new_status``."""
    request, objects = _request()
    set_id = _submission_set(
        objects, context, source_oid=source_oid, now=now, content_type=content_type
    )
    association = etree.SubElement(
        objects,
        RIM + "Association",
        id=new_uuid(),
        associationType=UPDATE_AVAILABILITY,
        sourceObject=set_id,
        targetObject=entry_uuid,
    )
    _slot(association, "OriginalStatus", original_status)
    _slot(association, "NewStatus", new_status)
    return request


def metadata_update(
    context: RequestContext,
    current: etree._Element,
    codes: tuple[Confidentiality, ...],
    *,
    source_oid: str,
    now: datetime,
    content_type: tuple[str, str, str] = DEFAULT_CONTENT_TYPE,
) -> etree._Element:
    """SubmitObjectsRequest with a new version of ``current`` carrying these codes."""
    request, objects = _request()
    set_id = _submission_set(
        objects, context, source_oid=source_oid, now=now, content_type=content_type
    )
    entry = copy.deepcopy(current)
    previous_version = "1"
    version_info = entry.find(RIM + "VersionInfo")
    if version_info is not None:
        previous_version = version_info.get("versionName", "1")
        entry.remove(version_info)
    logical_id = entry.get("lid") or entry.get("id", "")
    entry_id = new_uuid()
    entry.set("id", entry_id)
    entry.set("lid", logical_id)
    entry.attrib.pop("status", None)  # the registry sets it
    for old in entry.findall(f"{RIM}Classification[@classificationScheme='{DE_CONFIDENTIALITY}']"):
        entry.remove(old)
    # New versions are new registry objects: their parts get fresh ids too.
    for child in entry:
        if child.tag in {RIM + "Classification", RIM + "ExternalIdentifier"}:
            child.set("id", new_uuid())
            for attr in ("classifiedObject", "registryObject"):
                if child.get(attr) is not None:
                    child.set(attr, entry_id)
    anchor = _first_external_id(entry)
    for code, scheme, display in confidentiality_codes(codes):
        classification = etree.Element(
            RIM + "Classification",
            id=new_uuid(),
            classificationScheme=DE_CONFIDENTIALITY,
            classifiedObject=entry_id,
            nodeRepresentation=code,
        )
        _slot(classification, "codingScheme", scheme)
        _localized(classification, display)
        if anchor is not None:  # rim:ExternalIdentifier must follow the Classifications
            anchor.addprevious(classification)
        else:
            entry.append(classification)
    objects.append(entry)
    member = etree.SubElement(
        objects,
        RIM + "Association",
        id=new_uuid(),
        associationType=HAS_MEMBER,
        sourceObject=set_id,
        targetObject=entry_id,
    )
    _slot(member, "SubmissionSetStatus", "Original")
    _slot(member, "PreviousVersion", previous_version)
    return request


def _first_external_id(entry: etree._Element) -> etree._Element | None:
    return entry.find(RIM + "ExternalIdentifier")
