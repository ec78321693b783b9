"""ITI-41 on the simulator side: read, check and store a Provide and Register request."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from ptap.devtools.dmp_simulator.checks import Refusal, SoapRequest, schema_errors
from ptap.devtools.dmp_simulator.store import DocumentStore, StoredEntry
from ptap.dmp_bridge.mtom import XOP_INCLUDE, MtomError, include_target
from ptap.dmp_bridge.xdsquery import (
    DE_CLASS_CODE,
    DE_CONFIDENTIALITY,
    DE_FORMAT_CODE,
    DE_PATIENT_ID,
    DE_TYPE_CODE,
    DE_UNIQUE_ID,
    LCM,
    RIM,
    SS_CONTENT_TYPE,
    SS_PATIENT_ID,
    SS_SOURCE_ID,
    SS_UNIQUE_ID,
    STATUS_APPROVED,
    STATUS_DEPRECATED,
    SUBMISSION_SET_NODE,
    XDSB,
)

RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
#: DocumentEntry classifications IHE requires (R), with their names for error messages.
_REQUIRED_CODES = {
    DE_CLASS_CODE: "classCode",
    DE_TYPE_CODE: "typeCode",
    DE_FORMAT_CODE: "formatCode",
    DE_CONFIDENTIALITY: "confidentialityCode",
    _FACILITY: "healthcareFacilityTypeCode",
    _PRACTICE: "practiceSettingCode",
}
_REQUIRED_SLOTS = ("creationTime", "languageCode", "sourcePatientId")


@dataclass
class IncomingDocument:
    """One DocumentEntry of the request with its bytes."""

    symbolic_id: str
    unique_id: str
    patient_id: str
    metadata: etree._Element
    content: bytes = b""
    replaces: list[str] = field(default_factory=list)


def slot(element: etree._Element, name: str) -> str:
    """The first value of a ``rim:Slot``, or ""."""
    return element.findtext(f"{RIM}Slot[@name='{name}']/{RIM}ValueList/{RIM}Value") or ""


def external_id(element: etree._Element, scheme: str) -> str:
    """The value of an ExternalIdentifier by scheme, or ""."""
    found = element.find(f"{RIM}ExternalIdentifier[@identificationScheme='{scheme}']")
    return found.get("value", "") if found is not None else ""


def codes(element: etree._Element, scheme: str) -> list[str]:
    """The nodeRepresentation of every classification of a scheme."""
    return [
        c.get("nodeRepresentation", "")
        for c in element.findall(f"{RIM}Classification[@classificationScheme='{scheme}']")
    ]


def _contents(request: etree._Element, soap: SoapRequest) -> dict[str, bytes]:
    contents: dict[str, bytes] = {}
    for document in request.iterfind(XDSB + "Document"):
        doc_id = document.get("id", "")
        include = document.find(XOP_INCLUDE)
        try:
            if include is not None:
                part = soap.parts.get(include_target(include))
                if part is None:
                    raise Refusal("XDSMissingDocument", f"Partie MTOM absente pour {doc_id}")
                contents[doc_id] = part.content
            else:
                contents[doc_id] = base64.b64decode(document.text or "", validate=True)
        except (MtomError, binascii.Error) as exc:
            raise Refusal("XDSRepositoryMetadataError", f"Document {doc_id} illisible") from exc
    return contents


def _submission_set(objects: etree._Element) -> etree._Element:
    set_ids = {
        c.get("classifiedObject")
        for c in objects.iterfind(RIM + "Classification")
        if c.get("classificationNode") == SUBMISSION_SET_NODE
    }
    packages = [p for p in objects.iterfind(RIM + "RegistryPackage") if p.get("id") in set_ids]
    if len(packages) != 1:
        raise Refusal("XDSRegistryMetadataError", "Un lot de soumission (SubmissionSet) attendu")
    package = packages[0]
    for scheme, name in (
        (SS_UNIQUE_ID, "uniqueId"),
        (SS_SOURCE_ID, "sourceId"),
        (SS_PATIENT_ID, "patientId"),
    ):
        if not external_id(package, scheme):
            raise Refusal("XDSRegistryMetadataError", f"SubmissionSet.{name} absent")
    if not slot(package, "submissionTime") or not codes(package, SS_CONTENT_TYPE):
        raise Refusal("XDSRegistryMetadataError", "submissionTime ou contentTypeCode absent")
    return package


def _document(entry: etree._Element, contents: dict[str, bytes]) -> IncomingDocument:
    entry_id = entry.get("id", "")
    document = IncomingDocument(
        symbolic_id=entry_id,
        unique_id=external_id(entry, DE_UNIQUE_ID),
        patient_id=external_id(entry, DE_PATIENT_ID),
        metadata=entry,
    )
    missing = [name for name in ("uniqueId", "patientId") if not getattr(document, _attr(name))]
    missing += [name for scheme, name in _REQUIRED_CODES.items() if not codes(entry, scheme)]
    missing += [name for name in _REQUIRED_SLOTS if not slot(entry, name)]
    if not entry.get("mimeType"):
        missing.append("mimeType")
    if missing:
        raise Refusal(
            "XDSRegistryMetadataError", f"{entry_id} : {', '.join(missing)} absent(s)", entry_id
        )
    if entry_id not in contents:
        raise Refusal("XDSMissingDocument", f"Pas de document pour {entry_id}", entry_id)
    document.content = contents[entry_id]
    declared_hash, declared_size = slot(entry, "hash"), slot(entry, "size")
    if declared_hash and declared_hash.lower() != hashlib.sha1(document.content).hexdigest():  # noqa: S324
        raise Refusal("XDSNonIdenticalHash", f"Empreinte SHA-1 différente pour {entry_id}")
    if declared_size and declared_size != str(len(document.content)):
        raise Refusal("XDSNonIdenticalSize", f"Taille différente pour {entry_id}")
    return document


def _attr(name: str) -> str:
    return {"uniqueId": "unique_id", "patientId": "patient_id"}[name]


def read_submission(soap: SoapRequest) -> tuple[etree._Element, list[IncomingDocument]]:
    """Check an ITI-41 body; return its submission set and documents (nothing stored yet)."""
    request = soap.body
    if request.tag != XDSB + "ProvideAndRegisterDocumentSetRequest":
        raise Refusal("XDSRepositoryMetadataError", "ProvideAndRegisterDocumentSetRequest attendu")
    contents = _contents(request, soap)
    errors = schema_errors(request, iti41=True)
    if errors:
        raise Refusal("XDSRegistryMetadataError", "Requête non conforme : " + " | ".join(errors))
    objects = request.find(f"{LCM}SubmitObjectsRequest/{RIM}RegistryObjectList")
    if objects is None:
        raise Refusal("XDSRegistryMetadataError", "RegistryObjectList absent")
    package = _submission_set(objects)
    documents = [_document(e, contents) for e in objects.iterfind(RIM + "ExtrinsicObject")]
    if not documents:
        raise Refusal("XDSRegistryMetadataError", "Aucune fiche (DocumentEntry) dans le lot")
    known = {d.symbolic_id for d in documents}
    orphans = set(contents) - known
    if orphans:
        raise Refusal("XDSMissingDocumentMetadata", f"Document sans fiche : {sorted(orphans)}")
    unique_ids = [d.unique_id for d in documents]
    if len(set(unique_ids)) != len(unique_ids):
        raise Refusal("XDSRegistryDuplicateUniqueIdInMessage", "uniqueId en double dans le lot")
    patient = external_id(package, SS_PATIENT_ID)
    vihf_patient = soap.vihf.get(RESOURCE_ID, [""])[0]
    for document in documents:
        if document.patient_id != patient or patient != vihf_patient:
            raise Refusal(
                "XDSPatientIdDoesNotMatch",
                "patientId différent entre le lot, la fiche et le VIHF",
                document.symbolic_id,
            )
    members = {
        a.get("targetObject")
        for a in objects.iterfind(RIM + "Association")
        if a.get("associationType") == HAS_MEMBER and a.get("sourceObject") == package.get("id")
    }
    by_id = {d.symbolic_id: d for d in documents}
    for document in documents:
        if document.symbolic_id not in members:
            raise Refusal("XDSRegistryMetadataError", f"{document.symbolic_id} hors du lot")
    for association in objects.iterfind(RIM + "Association"):
        if association.get("associationType") == RPLC:
            source = by_id.get(association.get("sourceObject", ""))
            if source is None:
                raise Refusal("XDSRegistryMetadataError", "RPLC : source hors du lot")
            source.replaces.append(association.get("targetObject", ""))
    return package, documents


def _fix_ids(entry: etree._Element, old_id: str, new_id: str, document: IncomingDocument) -> None:
    entry.set("id", new_id)
    for child in entry:
        for attr in ("classifiedObject", "registryObject"):
            if child.get(attr) == old_id:
                child.set(attr, new_id)
    if not slot(entry, "hash") or not slot(entry, "size"):
        # The repository adds hash and size when the source did not (IHE ITI-42).
        anchor = entry.find(RIM + "Slot")
        for name, value in (
            ("size", str(len(document.content))),
            ("hash", hashlib.sha1(document.content).hexdigest()),  # noqa: S324
        ):
            if slot(entry, name):
                continue
            new = etree.Element(RIM + "Slot", name=name)
            etree.SubElement(etree.SubElement(new, RIM + "ValueList"), RIM + "Value").text = value
            if anchor is not None:
                anchor.addprevious(new)
            else:
                entry.insert(0, new)


def store_submission(
    store: DocumentStore, package: etree._Element, documents: list[IncomingDocument]
) -> None:
    """Register the documents atomically; refuse duplicates (counted) and bad replacements."""
    refusal: Refusal | None = None
    with store.transaction():
        duplicates = [d for d in documents if store.by_unique_id(d.unique_id)]
        store.count([d.unique_id for d in documents], {d.unique_id for d in duplicates})
        if duplicates:
            refusal = Refusal(
                "XDSDuplicateUniqueIdInRegistry",
                f"uniqueId déjà enregistré : {duplicates[0].unique_id}",
                duplicates[0].symbolic_id,
            )
        else:
            try:
                _register(store, package, documents)
            except Refusal as exc:  # nothing was saved: checks come before writes
                refusal = exc
    if refusal is not None:
        raise refusal


def _register(
    store: DocumentStore, package: etree._Element, documents: list[IncomingDocument]
) -> None:
    targets: list[StoredEntry] = []
    for document in documents:
        for target_id in document.replaces:
            target = store.entries.get(target_id)
            if target is None or not target.visible:
                raise Refusal("XDSRegistryMetadataError", f"RPLC : fiche inconnue {target_id}")
            if target.status != STATUS_APPROVED:
                raise Refusal("XDSRegistryDeprecatedDocumentError", f"RPLC : {target_id} remplacé")
            if target.patient_id != document.patient_id:
                raise Refusal("XDSPatientIdDoesNotMatch", "RPLC : patient différent")
            targets.append(target)
    planned: list[tuple[IncomingDocument, str]] = []
    for document in documents:
        old_id = document.symbolic_id
        entry_uuid = old_id if old_id.startswith("urn:uuid:") else f"urn:uuid:{uuid.uuid4()}"
        if entry_uuid in store.entries:
            raise Refusal("XDSRegistryMetadataError", f"entryUUID déjà utilisé : {entry_uuid}")
        planned.append((document, entry_uuid))
    set_uid = external_id(package, SS_UNIQUE_ID)
    now = datetime.now(UTC).isoformat()
    for document, entry_uuid in planned:
        old_id = document.symbolic_id
        metadata = document.metadata
        _fix_ids(metadata, old_id, entry_uuid, document)
        store.save(
            StoredEntry(
                entry_uuid=entry_uuid,
                lid=entry_uuid,
                unique_id=document.unique_id,
                patient_id=document.patient_id,
                status=STATUS_APPROVED,
                version=1,
                metadata=etree.tostring(metadata),
                content=document.content,
                mime_type=metadata.get("mimeType", ""),
                submission_set_uid=set_uid,
                stored_at=now,
                confidentiality=codes(metadata, DE_CONFIDENTIALITY),
            )
        )
    for target in targets:
        target.status = STATUS_DEPRECATED
        store.save(target)
