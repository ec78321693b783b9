"""ITI-18 stored queries and XDS response reading (RegistryResponse, AdhocQueryResponse).

The namespaces and XDS identifiers come from :mod:`.ebrim`; the transport and the simulator
import them from here as well.
"""

from __future__ import annotations

from datetime import date, timedelta

from lxml import etree

from ptap.dmp_bridge.ebrim import (
    DOCUMENT_ENTRY_TYPE,
    LCM,
    LCM_NS,
    QUERY,
    QUERY_NS,
    RIM,
    RIM_NS,
    RS,
    RS_NS,
    SUBMISSION_SET_NODE,
    XDSB,
    XDSB_NS,
    Scheme,
    slot,
)
from ptap.dmp_bridge.ports import DocumentSearch, RegistryError, RemoteDocument

# Namespaces and identifiers the transport and the simulator import from here (see ebrim).
__all__ = [
    "DOCUMENT_ENTRY_TYPE",
    "LCM",
    "LCM_NS",
    "QUERY",
    "QUERY_NS",
    "RIM",
    "RIM_NS",
    "RS",
    "RS_NS",
    "SUBMISSION_SET_NODE",
    "XDSB",
    "XDSB_NS",
]

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"

DE_UNIQUE_ID = Scheme.DE_UNIQUE_ID
DE_PATIENT_ID = Scheme.DE_PATIENT_ID
DE_CONFIDENTIALITY = Scheme.DE_CONFIDENTIALITY
DE_CLASS_CODE = Scheme.DE_CLASS
DE_TYPE_CODE = Scheme.DE_TYPE
DE_FORMAT_CODE = Scheme.DE_FORMAT
DE_AUTHOR = Scheme.DE_AUTHOR
SS_UNIQUE_ID = Scheme.SS_UNIQUE_ID
SS_SOURCE_ID = Scheme.SS_SOURCE_ID
SS_PATIENT_ID = Scheme.SS_PATIENT_ID
SS_AUTHOR = Scheme.SS_AUTHOR
SS_CONTENT_TYPE = Scheme.SS_CONTENT_TYPE

STATUS_APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
STATUS_DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
STATUS_ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
STATUS_DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"
#: The URN of each status tail, as RemoteDocument.status holds them.
STATUS_URNS = {
    "Approved": STATUS_APPROVED,
    "Deprecated": STATUS_DEPRECATED,
    "Archived": STATUS_ARCHIVED,
    "Deleted": STATUS_DELETED,
}
RESPONSE_SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
RESPONSE_PARTIAL = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
RESPONSE_FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
SEVERITY_ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"


def sql_list(values: list[str] | tuple[str, ...]) -> str:
    """Format stored-query parameter values: ``('a','b')`` (quotes doubled inside)."""
    return "(" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def stored_query(query_id: str, params: dict[str, str]) -> etree._Element:
    """An ``AdhocQueryRequest`` for a stored query, returning full metadata (LeafClass)."""
    request = etree.Element(QUERY + "AdhocQueryRequest", nsmap={"query": QUERY_NS, "rim": RIM_NS})
    etree.SubElement(
        request, QUERY + "ResponseOption", returnComposedObjects="true", returnType="LeafClass"
    )
    query = etree.SubElement(request, RIM + "AdhocQuery", id=query_id)
    for name, value in params.items():
        slot(query, name, value)
    return request


def get_documents_query(unique_id: str) -> etree._Element:
    """GetDocuments by uniqueId (TD3.1b). The registry answers whatever the entry's status."""
    return stored_query(GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": sql_list([unique_id])})


#: Code system of the DMP's typeCode (LOINC). Stored queries take coded values as HL7 CE
#: "code^^scheme" (ITI TF-2a 3.18.4.1.2.3.4), e.g. ('11502-2^^2.16.840.1.113883.6.1').
LOINC_OID = "2.16.840.1.113883.6.1"


def _day_start(day: date) -> str:
    return day.strftime("%Y%m%d") + "000000"


def find_documents_query(patient_cx: str, search: DocumentSearch | None = None) -> etree._Element:
    """FindDocuments for a patient (TD3.1a): approved and archived entries (deprecated when no
    filter asks for current documents only), narrowed by the DMP's filters: typeCode,
    creation time (from, to inclusive: before the next day) and author (a LIKE pattern)."""
    statuses = [STATUS_APPROVED, STATUS_DEPRECATED, STATUS_ARCHIVED]
    params = {
        "$XDSDocumentEntryPatientId": "'" + patient_cx.replace("'", "''") + "'",
        "$XDSDocumentEntryStatus": sql_list(statuses),
    }
    if search is not None:
        if search.type_codes:
            params["$XDSDocumentEntryTypeCode"] = sql_list(
                [f"{code}^^{LOINC_OID}" for code in search.type_codes]
            )
        if search.created_from:
            params["$XDSDocumentEntryCreationTimeFrom"] = _day_start(search.created_from)
        if search.created_to:
            params["$XDSDocumentEntryCreationTimeTo"] = _day_start(
                search.created_to + timedelta(days=1)
            )
        author = search.author.strip()
        if author:
            escaped = author.replace("%", "").replace("_", "")
            params["$XDSDocumentEntryAuthorPerson"] = sql_list([f"%{escaped}%"])
    return stored_query(FIND_DOCUMENTS, params)


def retrieve_request(repository_id: str, unique_id: str) -> etree._Element:
    """An ITI-43 ``RetrieveDocumentSetRequest`` for one document."""
    request = etree.Element(XDSB + "RetrieveDocumentSetRequest", nsmap={"xdsb": XDSB_NS})
    wanted = etree.SubElement(request, XDSB + "DocumentRequest")
    etree.SubElement(wanted, XDSB + "RepositoryUniqueId").text = repository_id
    etree.SubElement(wanted, XDSB + "DocumentUniqueId").text = unique_id
    return request


def _author_names(entry: etree._Element) -> str:
    names = []
    for c in entry.findall(f"{RIM}Classification[@classificationScheme='{DE_AUTHOR}']"):
        person = _slot_value(c, "authorPerson")
        if person:
            parts = person.split("^")
            # XCN: id^family^given^...; show "given family".
            name = " ".join(p for p in (parts[2:3] + parts[1:2]) if p) if len(parts) > 1 else person
            names.append(name)
    return ", ".join(names)


def _code_display(entry: etree._Element, scheme: str) -> str:
    found = entry.find(f"{RIM}Classification[@classificationScheme='{scheme}']")
    if found is None:
        return ""
    name = found.find(f"{RIM}Name/{RIM}LocalizedString")
    return name.get("value", "") if name is not None else ""


def status_tail(urn: str) -> str:
    """``urn:…:StatusType:Approved`` → ``Approved``."""
    return urn.rsplit(":", 1)[-1] if urn else ""


def _slot_value(element: etree._Element, name: str) -> str:
    return element.findtext(f"{RIM}Slot[@name='{name}']/{RIM}ValueList/{RIM}Value") or ""


def _external_id(element: etree._Element, scheme: str) -> str:
    found = element.find(f"{RIM}ExternalIdentifier[@identificationScheme='{scheme}']")
    return found.get("value", "") if found is not None else ""


def _codes(element: etree._Element, scheme: str) -> tuple[str, ...]:
    return tuple(
        c.get("nodeRepresentation", "")
        for c in element.findall(f"{RIM}Classification[@classificationScheme='{scheme}']")
    )


def remote_document(entry: etree._Element) -> RemoteDocument:
    """Read one ``rim:ExtrinsicObject`` of a query response."""
    extra = {
        "lid": entry.get("lid", ""),
        "version": entry.findtext(f"{RIM}VersionInfo") or "",
        "title": "",
        "type_code": ",".join(_codes(entry, DE_TYPE_CODE)),
        "creation_time": _slot_value(entry, "creationTime"),
        "hash": _slot_value(entry, "hash"),
        "size": _slot_value(entry, "size"),
        "patient_id": _external_id(entry, DE_PATIENT_ID),
        "mime_type": entry.get("mimeType", ""),
        "repository_id": _slot_value(entry, "repositoryUniqueId"),
        "type_display": _code_display(entry, DE_TYPE_CODE),
        "class_code": ",".join(_codes(entry, DE_CLASS_CODE)),
        "format_code": ",".join(_codes(entry, DE_FORMAT_CODE)),
        "author": _author_names(entry),
    }
    version_info = entry.find(f"{RIM}VersionInfo")
    if version_info is not None:
        extra["version"] = version_info.get("versionName", "")
    title = entry.find(f"{RIM}Name/{RIM}LocalizedString")
    if title is not None:
        extra["title"] = title.get("value", "")
    return RemoteDocument(
        unique_id=_external_id(entry, DE_UNIQUE_ID),
        entry_uuid=entry.get("id", ""),
        status=status_tail(entry.get("status", "")),
        confidentiality_codes=_codes(entry, DE_CONFIDENTIALITY),
        extra={k: v for k, v in extra.items() if v},
    )


def registry_errors(response: etree._Element) -> tuple[RegistryError, ...]:
    """The RegistryErrors of a RegistryResponse or AdhocQueryResponse."""
    return tuple(
        RegistryError(
            code=error.get("errorCode", ""),
            message=(error.text or error.get("codeContext", "")).strip(),
            severity=error.get("severity", SEVERITY_ERROR),
            location=error.get("location", ""),
        )
        for error in response.iter(RS + "RegistryError")
    )


def extrinsic_objects(response: etree._Element) -> list[etree._Element]:
    """The DocumentEntries of an AdhocQueryResponse."""
    return [
        element
        for element in response.iter(RIM + "ExtrinsicObject")
        if element.get("objectType", DOCUMENT_ENTRY_TYPE) == DOCUMENT_ENTRY_TYPE
    ]


def parse_sql_list(value: str) -> list[str]:
    """Read a stored-query parameter value: ``('a','b')`` or ``'a'`` → ``['a', 'b']``."""
    text = value.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    values: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        char = text[i]
        if char == "'":
            if quoted and i + 1 < len(text) and text[i + 1] == "'":
                current.append("'")
                i += 2
                continue
            quoted = not quoted
        elif char == "," and not quoted:
            values.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        i += 1
    last = "".join(current).strip()
    if last or values:
        values.append(last)
    return [v for v in values if v]
