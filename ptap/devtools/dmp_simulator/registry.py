"""ITI-18 (stored queries) and ITI-57 (metadata and availability updates) on the simulator."""

from __future__ import annotations

import uuid
from dataclasses import replace

from lxml import etree

from ptap.devtools.dmp_simulator.checks import Refusal, SoapRequest, schema_errors
from ptap.devtools.dmp_simulator.iti41 import (
    HAS_MEMBER,
    RESOURCE_ID,
    codes,
    external_id,
    slot,
)
from ptap.devtools.dmp_simulator.store import DocumentStore, StoredEntry
from ptap.dmp_bridge.xdsquery import (
    DE_AUTHOR,
    DE_CONFIDENTIALITY,
    DE_PATIENT_ID,
    DE_TYPE_CODE,
    DE_UNIQUE_ID,
    FIND_DOCUMENTS,
    GET_DOCUMENTS,
    LCM,
    QUERY,
    RIM,
    SS_PATIENT_ID,
    SS_UNIQUE_ID,
    STATUS_DEPRECATED,
    STATUS_URNS,
    XDSB,
    parse_sql_list,
)

#: The simulator's repositoryUniqueId (ITI-43 requests name it; seed.py uses it too).
REPOSITORY_ID = "1.2.250.1.213.1.1.1.1"
UPDATE_AVAILABILITY = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
_PLACE_BEFORE = {RIM + "Classification", RIM + "ExternalIdentifier", RIM + "ContentVersionInfo"}


def served_metadata(entry: StoredEntry) -> etree._Element:
    """The ExtrinsicObject as the registry returns it: id, lid, status and version set."""
    element = etree.fromstring(entry.metadata)
    element.set("id", entry.entry_uuid)
    element.set("lid", entry.lid)
    element.set("status", entry.status)
    for old in element.findall(RIM + "VersionInfo"):
        element.remove(old)
    version = etree.Element(RIM + "VersionInfo", versionName=str(entry.version))
    anchor = next((child for child in element if child.tag in _PLACE_BEFORE), None)
    if anchor is not None:
        anchor.addprevious(version)
    else:
        element.append(version)
    if not slot(element, "repositoryUniqueId"):
        # The repository fills it in when a document is stored (ITI-41 does not send it).
        holder = etree.Element(RIM + "Slot", name="repositoryUniqueId")
        etree.SubElement(
            etree.SubElement(holder, RIM + "ValueList"), RIM + "Value"
        ).text = REPOSITORY_ID
        element.insert(0, holder)
    return element


def _params(query: etree._Element) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for slot_el in query.iterfind(RIM + "Slot"):
        values = params.setdefault(slot_el.get("name", ""), [])
        for value in slot_el.iterfind(f"{RIM}ValueList/{RIM}Value"):
            values.extend(parse_sql_list(value.text or ""))
    return params


def _check_schema(element: etree._Element) -> None:
    errors = schema_errors(element)
    if errors:
        raise Refusal("XDSRegistryMetadataError", "Requête non conforme : " + " | ".join(errors))


def stored_query(store: DocumentStore, soap: SoapRequest) -> list[etree._Element]:
    """Answer GetDocuments / FindDocuments for the VIHF's patient (LeafClass or ObjectRef)."""
    request = soap.body
    if request.tag != QUERY + "AdhocQueryRequest":
        raise Refusal("XDSRegistryError", "AdhocQueryRequest attendu")
    _check_schema(request)
    query = request.find(RIM + "AdhocQuery")
    option = request.find(QUERY + "ResponseOption")
    return_type = option.get("returnType", "ObjectRef") if option is not None else "ObjectRef"
    if query is None:
        raise Refusal("XDSRegistryError", "AdhocQuery absent")
    params = _params(query)
    patient = soap.vihf.get(RESOURCE_ID, [""])[0]
    with store.lock:
        if query.get("id") == GET_DOCUMENTS:
            wanted_unique = set(params.get("$XDSDocumentEntryUniqueId", []))
            wanted_uuid = set(params.get("$XDSDocumentEntryEntryUUID", []))
            if not wanted_unique and not wanted_uuid:
                raise Refusal("XDSStoredQueryParamNumber", "uniqueId ou entryUUID attendu")
            found = [
                e
                for e in store.visible()
                if (e.unique_id in wanted_unique or e.entry_uuid in wanted_uuid)
                and e.patient_id == patient
            ]
        elif query.get("id") == FIND_DOCUMENTS:
            patients = params.get("$XDSDocumentEntryPatientId", [])
            statuses = set(params.get("$XDSDocumentEntryStatus", []))
            if len(patients) != 1 or not statuses:
                raise Refusal("XDSStoredQueryParamNumber", "patientId et status attendus")
            if patients[0] != patient:
                raise Refusal("XDSPatientIdDoesNotMatch", "Patient différent de celui du VIHF")
            break_glass = check_consultation(soap)
            found = [
                e
                for e in store.visible()
                if e.patient_id == patient
                and e.status in statuses
                and consultable(e, break_glass)
                and matches_filters(e, params)
            ]
        else:
            raise Refusal("XDSUnknownStoredQuery", f"Requête inconnue : {query.get('id')}")
        found.sort(key=lambda e: e.stored_at)
        if return_type == "LeafClass":
            return [served_metadata(e) for e in found]
        return [etree.Element(RIM + "ObjectRef", id=e.entry_uuid) for e in found]


PURPOSE_OF_USE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
BREAK_GLASS_REASON = "Motif_Bris_De_Glace"
SUBJECT_ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
#: First VIHF roles of professionals who may consult (TRE_G15 professions, the "99" actors).
_NOT_PROFESSIONALS = {"SECRETARIAT_MEDICAL", ""}


def check_consultation(soap: SoapRequest) -> bool:
    """The DMP's consultation rules: a real professional (PS_IdNat 8 + RPPS, a health
    professional's role) in normal or bris-de-glace mode (with its reason). Returns whether
    the access is a bris de glace."""
    subject = soap.vihf.get("NameID", [""])[0]
    roles = soap.vihf.get(SUBJECT_ROLE, [])
    if not subject.startswith("8") or not roles or roles[0] in _NOT_PROFESSIONALS:
        raise Refusal(
            "DMPAccessDenied",
            "Consultation réservée à un professionnel de santé identifié (RPPS) dans le VIHF",
        )
    mode = (soap.vihf.get(PURPOSE_OF_USE) or ["normal"])[0]
    if mode not in {"normal", "bris_de_glace"}:
        raise Refusal("DMPAccessDenied", f"Mode d'accès non géré : {mode}")
    if mode == "bris_de_glace" and not any(soap.vihf.get(BREAK_GLASS_REASON, [])):
        raise Refusal("DMPAccessDenied", "Accès en bris de glace sans motif")
    return mode == "bris_de_glace"


def consultable(entry: StoredEntry, break_glass: bool) -> bool:
    """Documents masked to professionals are shown only in bris de glace."""
    return break_glass or "MASQUE_PS" not in entry.confidentiality


def _classification_codes(element: etree._Element, scheme: str) -> list[str]:
    return codes(element, scheme)


def matches_filters(entry: StoredEntry, params: dict[str, list[str]]) -> bool:
    """FindDocuments' optional filters: typeCode, creationTime from/to, authorPerson."""
    metadata = etree.fromstring(entry.metadata)
    wanted_types = {v.split("^", 1)[0] for v in params.get("$XDSDocumentEntryTypeCode", [])}
    if wanted_types and not wanted_types & set(_classification_codes(metadata, DE_TYPE_CODE)):
        return False
    created = slot(metadata, "creationTime")
    start = (params.get("$XDSDocumentEntryCreationTimeFrom") or [""])[0]
    end = (params.get("$XDSDocumentEntryCreationTimeTo") or [""])[0]
    # XDS times are prefixes of YYYYMMDDhhmmss: compare at the shorter precision.
    if start and created and created.ljust(14, "0") < start.ljust(14, "0"):
        return False
    if end and created and created.ljust(14, "0") >= end.ljust(14, "0"):
        return False
    patterns = params.get("$XDSDocumentEntryAuthorPerson", [])
    if patterns:
        authors = " ".join(
            slot(c, "authorPerson").replace("^", " ").lower()
            for c in metadata.iterfind(f"{RIM}Classification[@classificationScheme='{DE_AUTHOR}']")
        )
        return any(p.strip("%").lower() in authors for p in patterns)
    return True


def retrieve(store: DocumentStore, soap: SoapRequest) -> list[StoredEntry]:
    """ITI-43: the requested documents of the VIHF's patient that the professional may see."""
    request = soap.body
    if request.tag != XDSB + "RetrieveDocumentSetRequest":
        raise Refusal("XDSRepositoryError", "RetrieveDocumentSetRequest attendu")
    break_glass = check_consultation(soap)
    patient = soap.vihf.get(RESOURCE_ID, [""])[0]
    wanted = [
        (d.findtext(XDSB + "DocumentUniqueId") or "").strip()
        for d in request.iterfind(XDSB + "DocumentRequest")
    ]
    if not wanted:
        raise Refusal("XDSRepositoryError", "DocumentRequest absent")
    with store.lock:
        found = [
            e
            for e in store.visible()
            if e.unique_id in wanted and e.patient_id == patient and consultable(e, break_glass)
        ]
    if not found:
        raise Refusal("XDSDocumentUniqueIdError", "Document inconnu pour ce patient")
    return found


def update_document_set(store: DocumentStore, soap: SoapRequest) -> None:
    """Apply an ITI-57 request: availability status changes and metadata versions."""
    request = soap.body
    if request.tag != LCM + "SubmitObjectsRequest":
        raise Refusal("XDSMetadataUpdateOperationError", "SubmitObjectsRequest attendu")
    _check_schema(request)
    objects = request.find(RIM + "RegistryObjectList")
    if objects is None:
        raise Refusal("XDSRegistryMetadataError", "RegistryObjectList absent")
    package = objects.find(RIM + "RegistryPackage")
    if package is None or not external_id(package, SS_UNIQUE_ID):
        raise Refusal("XDSRegistryMetadataError", "Lot de soumission absent ou sans uniqueId")
    patient = soap.vihf.get(RESOURCE_ID, [""])[0]
    if external_id(package, SS_PATIENT_ID) != patient:
        raise Refusal("XDSPatientIdDoesNotMatch", "Patient du lot différent de celui du VIHF")
    status_changes = [
        a
        for a in objects.iterfind(RIM + "Association")
        if a.get("associationType") == UPDATE_AVAILABILITY
    ]
    versions = [e for e in objects.iterfind(RIM + "ExtrinsicObject") if e.get("lid")]
    if not status_changes and not versions:
        raise Refusal("XDSMetadataUpdateOperationError", "Aucune mise à jour reconnue")
    with store.transaction():
        # Check everything first, then write: a refused request changes nothing.
        plans = [_plan_status(store, a, patient) for a in status_changes]
        plans += [_plan_version(store, objects, e, patient) for e in versions]
        for plan in plans:
            for entry in plan:
                store.save(entry)


def _current(store: DocumentStore, entry_uuid: str, patient: str) -> StoredEntry:
    entry = store.entries.get(entry_uuid)
    if entry is None or not entry.visible:
        raise Refusal("XDSMetadataUpdateError", f"Fiche inconnue ou périmée : {entry_uuid}")
    if entry.patient_id != patient:
        raise Refusal("XDSPatientIdDoesNotMatch", "Fiche d'un autre patient")
    return entry


def _plan_status(
    store: DocumentStore, association: etree._Element, patient: str
) -> list[StoredEntry]:
    entry = _current(store, association.get("targetObject", ""), patient)
    original, new = slot(association, "OriginalStatus"), slot(association, "NewStatus")
    if original != entry.status:
        raise Refusal("XDSMetadataUpdateError", f"Statut actuel {entry.status}, pas {original}")
    if new not in STATUS_URNS.values():
        raise Refusal("XDSMetadataUpdateError", f"Nouveau statut inconnu : {new}")
    return [replace(entry, status=new)]


def _plan_version(
    store: DocumentStore, objects: etree._Element, element: etree._Element, patient: str
) -> list[StoredEntry]:
    current = store.latest(element.get("lid", ""))
    if current is None or not current.visible:
        raise Refusal("XDSMetadataUpdateError", f"Fiche logique inconnue : {element.get('lid')}")
    member = next(
        (
            a
            for a in objects.iterfind(RIM + "Association")
            if a.get("associationType") == HAS_MEMBER and a.get("targetObject") == element.get("id")
        ),
        None,
    )
    previous = slot(member, "PreviousVersion") if member is not None else ""
    if previous != str(current.version):
        raise Refusal(
            "XDSMetadataVersionError", f"Version précédente {previous!r} ≠ {current.version}"
        )
    if external_id(element, DE_UNIQUE_ID) != current.unique_id:
        raise Refusal("XDSMetadataUpdateError", "Le uniqueId ne peut pas changer")
    if external_id(element, DE_PATIENT_ID) != current.patient_id or current.patient_id != patient:
        raise Refusal("XDSPatientIdDoesNotMatch", "Patient différent")
    new_id = element.get("id", "")
    if not new_id.startswith("urn:uuid:") or new_id in store.entries:
        new_id = f"urn:uuid:{uuid.uuid4()}"
    new = StoredEntry(
        entry_uuid=new_id,
        lid=current.lid,
        unique_id=current.unique_id,
        patient_id=current.patient_id,
        status=current.status,
        version=current.version + 1,
        metadata=etree.tostring(element),
        content=current.content,
        mime_type=current.mime_type,
        submission_set_uid=current.submission_set_uid,
        stored_at=current.stored_at,
        confidentiality=codes(element, DE_CONFIDENTIALITY),
    )
    return [replace(current, superseded=True, status=STATUS_DEPRECATED), new]
