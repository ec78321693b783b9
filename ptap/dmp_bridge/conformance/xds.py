"""Structural checks of the XDS.b metadata of an ITI-41 request, as the French DMP requires.

Required metadata and scheme UUIDs: SPEC-NOTES §1.4 (SubmissionSet) and §1.5 (DocumentEntry),
from the ANS "Mapping VIHF / XDS" and the PDSM4DMP logical models. XSD validity is checked
separately (:mod:`.xsd`); here we check what the XSD cannot: presence of the metadata.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from lxml import etree

from .findings import Finding

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
_R = "{" + RIM + "}"
_SOURCE = "XDS metadata"

SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"

#: DocumentEntry classifications (SPEC-NOTES §1.5).
ENTRY_CLASSIFICATIONS = {
    "author": "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d",
    "classCode": "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
    "typeCode": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
    "formatCode": "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
    "healthcareFacilityTypeCode": "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
    "practiceSettingCode": "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
    "confidentialityCode": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
}
#: DocumentEntry external identifiers.
ENTRY_IDENTIFIERS = {
    "patientId": "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
    "uniqueId": "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
}
ENTRY_SLOTS = (
    "creationTime",
    "languageCode",
    "sourcePatientId",
    "hash",
    "size",
    "serviceStartTime",
)
#: SubmissionSet classifications and external identifiers (SPEC-NOTES §1.4).
SET_CLASSIFICATIONS = {
    "author": "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d",
    "contentTypeCode": "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500",
}
SET_IDENTIFIERS = {
    "sourceId": "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
    "uniqueId": "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
    "patientId": "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
}
SET_SLOTS = ("submissionTime",)
_AUTHOR_SLOTS = ("authorPerson", "authorInstitution")


class _Metadata:
    """Index of the registry objects of one SubmitObjectsRequest."""

    def __init__(self, request: etree._Element) -> None:
        self.entries = list(request.iter(_R + "ExtrinsicObject"))
        self.classifications: dict[str, list[etree._Element]] = defaultdict(list)
        self.identifiers: dict[str, list[etree._Element]] = defaultdict(list)
        for element in request.iter(_R + "Classification"):
            self.classifications[_owner(element, "classifiedObject")].append(element)
        for element in request.iter(_R + "ExternalIdentifier"):
            self.identifiers[_owner(element, "registryObject")].append(element)
        set_ids = {
            c.get("classifiedObject", "")
            for c in request.iter(_R + "Classification")
            if c.get("classificationNode") == SUBMISSION_SET_NODE
        }
        self.sets = [p for p in request.iter(_R + "RegistryPackage") if p.get("id") in set_ids]
        self.associations = list(request.iter(_R + "Association"))
        self.documents = list(request.iter("{" + XDSB + "}Document"))


def _owner(element: etree._Element, attribute: str) -> str:
    """Return the id of the object a nested or free-standing classification applies to."""
    parent = element.getparent()
    if parent is not None and parent.tag in (_R + "ExtrinsicObject", _R + "RegistryPackage"):
        return parent.get("id", "")
    return element.get(attribute, "")


def _slot_values(element: etree._Element, name: str) -> list[str]:
    return [
        (value.text or "").strip()
        for slot in element.findall(_R + "Slot")
        if slot.get("name") == name
        for value in slot.iter(_R + "Value")
    ]


def _finding(kind: str, check: str, object_id: str, message: str) -> Finding:
    return Finding(
        schematron=_SOURCE,
        pattern_id=kind,
        assert_id=check,
        role="error",
        message=message,
        location=f"{kind} {object_id}",
    )


def _check_object(
    kind: str,
    element: etree._Element,
    meta: _Metadata,
    classifications: dict[str, str],
    identifiers: dict[str, str],
    slots: Iterable[str],
) -> list[Finding]:
    object_id = element.get("id", "")
    findings = []
    owned = meta.classifications.get(object_id, [])
    for name, scheme in classifications.items():
        matching = [c for c in owned if c.get("classificationScheme") == scheme]
        if not matching:
            findings.append(
                _finding(kind, name, object_id, f"{kind} {object_id} lacks {name} ({scheme})")
            )
        elif name == "author":
            if not any(_slot_values(c, s) for c in matching for s in _AUTHOR_SLOTS):
                message = f"{kind} {object_id} author has no authorPerson nor authorInstitution"
                findings.append(_finding(kind, name, object_id, message))
        else:
            for coded in matching:
                if not coded.get("nodeRepresentation") or not _slot_values(coded, "codingScheme"):
                    message = f"{kind} {object_id} {name} lacks a code or its codingScheme slot"
                    findings.append(_finding(kind, name, object_id, message))
    owned_ids = meta.identifiers.get(object_id, [])
    for name, scheme in identifiers.items():
        values = [i.get("value", "") for i in owned_ids if i.get("identificationScheme") == scheme]
        if not any(values):
            message = f"{kind} {object_id} lacks {name} external identifier ({scheme})"
            findings.append(_finding(kind, name, object_id, message))
    for slot in slots:
        if not any(_slot_values(element, slot)):
            findings.append(_finding(kind, slot, object_id, f"{kind} {object_id} lacks {slot}"))
    return findings


def check_submission(request: etree._Element) -> list[Finding]:
    """Check the XDS metadata of an ITI-41 ``ProvideAndRegisterDocumentSetRequest``."""
    meta = _Metadata(request)
    findings: list[Finding] = []
    if len(meta.sets) != 1:
        message = f"expected exactly one SubmissionSet, found {len(meta.sets)}"
        findings.append(_finding("SubmissionSet", "count", "-", message))
    if not meta.entries:
        message = "the submission holds no DocumentEntry (ExtrinsicObject)"
        findings.append(_finding("DocumentEntry", "count", "-", message))
    for package in meta.sets:
        findings += _check_object(
            "SubmissionSet", package, meta, SET_CLASSIFICATIONS, SET_IDENTIFIERS, SET_SLOTS
        )
    set_ids = {p.get("id", "") for p in meta.sets}
    members = {
        a.get("targetObject", "")
        for a in meta.associations
        if a.get("associationType") == HAS_MEMBER and a.get("sourceObject") in set_ids
    }
    for entry in meta.entries:
        entry_id = entry.get("id", "")
        findings += _check_object(
            "DocumentEntry",
            entry,
            meta,
            ENTRY_CLASSIFICATIONS,
            ENTRY_IDENTIFIERS,
            ENTRY_SLOTS,
        )
        if not entry.get("mimeType"):
            findings.append(
                _finding(
                    "DocumentEntry",
                    "mimeType",
                    entry_id,
                    f"DocumentEntry {entry_id} lacks mimeType",
                )
            )
        if entry_id not in members:
            message = (
                f"DocumentEntry {entry_id} has no HasMember association from the SubmissionSet"
            )
            findings.append(_finding("DocumentEntry", "HasMember", entry_id, message))
    findings += _check_documents(meta)
    return findings


def _check_documents(meta: _Metadata) -> list[Finding]:
    entry_ids = {e.get("id", "") for e in meta.entries}
    document_ids = {d.get("id", "") for d in meta.documents}
    findings = [
        _finding("Document", "reference", d, f"Document {d} matches no ExtrinsicObject id")
        for d in sorted(document_ids - entry_ids)
    ]
    findings += [
        _finding("DocumentEntry", "Document", e, f"DocumentEntry {e} has no Document element")
        for e in sorted(entry_ids - document_ids)
    ]
    return findings
