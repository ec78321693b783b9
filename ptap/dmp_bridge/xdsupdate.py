"""ITI-57 Update Document Set bodies: visibility (new metadata version) and availability.

Both are ``lcm:SubmitObjectsRequest`` with a submission set of their own (IHE XDS Metadata
Update): a new DocumentEntry version (same ``lid``, ``PreviousVersion`` slot on HasMember)
for the confidentiality codes (TD3.3a/b), an ``UpdateAvailabilityStatus`` association for
delete and archive (TD3.3c/d).
"""

from __future__ import annotations

import copy
from datetime import datetime

from lxml import etree

from ptap.dmp_bridge import codes as codes_table
from ptap.dmp_bridge.codes import Code
from ptap.dmp_bridge.ebrim import (
    HAS_MEMBER,
    LCM,
    LCM_NS,
    RIM,
    RIM_NS,
    UPDATE_AVAILABILITY,
    Scheme,
    association,
    coded,
    new_id,
    submission_set,
    uuid_oid,
)
from ptap.dmp_bridge.ebrim import patient_cx as _patient_cx
from ptap.dmp_bridge.ports import Confidentiality, RequestContext


def confidentiality_codes(codes: tuple[Confidentiality, ...]) -> list[tuple[str, str, str]]:
    """The XDS codes (code, scheme, display) for a visibility: N first, then DMP extras."""
    return [(c.code, c.system, c.display) for c in codes_table.confidentiality_codes(codes)]


def patient_cx(context: RequestContext) -> str:
    """The patient's INS as an XDS CX (``NIR^^^&OID&ISO^NH``), formatted as in filings."""
    return _patient_cx(context.patient)


def _submission_set(
    objects: etree._Element,
    context: RequestContext,
    *,
    source_oid: str,
    now: datetime,
    content_type: tuple[str, str, str],
) -> str:
    set_id = "SubmissionSet01"
    submission_set(
        objects,
        set_id,
        now=now,
        title=None,
        person=context.subject,
        organisation=context.organisation,
        author_codes=None,
        content_type=Code(*content_type),
        unique_id=uuid_oid(),
        source_oid=source_oid,
        patient_id=patient_cx(context),
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
    association(
        objects,
        UPDATE_AVAILABILITY,
        set_id,
        entry_uuid,
        ("OriginalStatus", original_status),
        ("NewStatus", new_status),
    )
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
    entry_id = new_id()
    entry.set("id", entry_id)
    entry.set("lid", logical_id)
    entry.attrib.pop("status", None)  # the registry sets it
    confidentiality = f"{RIM}Classification[@classificationScheme='{Scheme.DE_CONFIDENTIALITY}']"
    for old in entry.findall(confidentiality):
        entry.remove(old)
    # New versions are new registry objects: their parts get fresh ids too.
    for child in entry:
        if child.tag in {RIM + "Classification", RIM + "ExternalIdentifier"}:
            child.set("id", new_id())
            for attr in ("classifiedObject", "registryObject"):
                if child.get(attr) is not None:
                    child.set(attr, entry_id)
    anchor = _first_external_id(entry)
    for code in codes_table.confidentiality_codes(codes):
        classification = coded(entry, Scheme.DE_CONFIDENTIALITY, entry_id, code)
        if anchor is not None:  # rim:ExternalIdentifier must follow the Classifications
            anchor.addprevious(classification)
        else:
            entry.append(classification)
    objects.append(entry)
    association(
        objects,
        HAS_MEMBER,
        set_id,
        entry_id,
        ("SubmissionSetStatus", "Original"),
        ("PreviousVersion", previous_version),
    )
    return request


def _first_external_id(entry: etree._Element) -> etree._Element | None:
    return entry.find(RIM + "ExternalIdentifier")
