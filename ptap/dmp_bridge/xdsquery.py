"""ITI-18 stored queries and XDS response reading (RegistryResponse, AdhocQueryResponse).

Namespaces and the XDS identifiers used by the transport and the simulator live here too.
"""

from __future__ import annotations

from lxml import etree

from ptap.dmp_bridge.ports import RegistryError, RemoteDocument

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

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"

DOCUMENT_ENTRY_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"

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


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    slot = etree.SubElement(parent, RIM + "Slot", name=name)
    value_list = etree.SubElement(slot, RIM + "ValueList")
    for value in values:
        etree.SubElement(value_list, RIM + "Value").text = value


def stored_query(query_id: str, params: dict[str, str]) -> etree._Element:
    """An ``AdhocQueryRequest`` for a stored query, returning full metadata (LeafClass)."""
    request = etree.Element(QUERY + "AdhocQueryRequest", nsmap={"query": QUERY_NS, "rim": RIM_NS})
    etree.SubElement(
        request, QUERY + "ResponseOption", returnComposedObjects="true", returnType="LeafClass"
    )
    query = etree.SubElement(request, RIM + "AdhocQuery", id=query_id)
    for name, value in params.items():
        _slot(query, name, value)
    return request


def get_documents_query(unique_id: str) -> etree._Element:
    """GetDocuments by uniqueId (TD3.1b). The registry answers whatever the entry's status."""
    return stored_query(GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": sql_list([unique_id])})


def find_documents_query(patient_cx: str) -> etree._Element:
    """FindDocuments for a patient (TD3.1a): approved, deprecated and archived entries."""
    statuses = [STATUS_APPROVED, STATUS_DEPRECATED, STATUS_ARCHIVED]
    return stored_query(
        FIND_DOCUMENTS,
        {
            "$XDSDocumentEntryPatientId": "'" + patient_cx.replace("'", "''") + "'",
            "$XDSDocumentEntryStatus": sql_list(statuses),
        },
    )


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
