"""SOAP 1.2 answers of the simulator: RegistryResponse, AdhocQueryResponse, Fault (MTOM or not)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from lxml import etree
from werkzeug.wrappers import Response

from ptap.dmp_bridge.mtom import XOP_INCLUDE, XOP_NS, MimePart, build_mtom, cid_href, new_content_id
from ptap.dmp_bridge.soap import WSA, WSA_NS, WSSE_NS
from ptap.dmp_bridge.soapfaults import SOAP, SOAP12_NS
from ptap.dmp_bridge.xdsquery import (
    QUERY,
    QUERY_NS,
    RESPONSE_FAILURE,
    RESPONSE_SUCCESS,
    RIM,
    RIM_NS,
    RS,
    RS_NS,
    SEVERITY_ERROR,
    XDSB,
    XDSB_NS,
)

FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"


def envelope(action: str, relates_to: str, body: etree._Element) -> bytes:
    """A SOAP 1.2 envelope answering ``relates_to`` with ``action``."""
    root = etree.Element(SOAP + "Envelope", nsmap={"soap": SOAP12_NS, "wsa": WSA_NS})
    header = etree.SubElement(root, SOAP + "Header")
    etree.SubElement(header, WSA + "Action", {SOAP + "mustUnderstand": "true"}).text = action
    etree.SubElement(header, WSA + "MessageID").text = f"urn:uuid:{uuid.uuid4()}"
    if relates_to:
        etree.SubElement(header, WSA + "RelatesTo").text = relates_to
    etree.SubElement(root, SOAP + "Body").append(body)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def soap_response(
    action: str,
    relates_to: str,
    body: etree._Element,
    *,
    mtom: bool,
    status: int = 200,
    attachments: Sequence[MimePart] = (),
) -> Response:
    """Serialise an answer, as MTOM when the request was MTOM or has attachments."""
    data = envelope(action, relates_to, body)
    if mtom or attachments:
        payload, content_type = build_mtom(data, list(attachments), action=action)
        return Response(payload, status=status, content_type=content_type)
    return Response(
        data, status=status, content_type=f'application/soap+xml; charset=UTF-8; action="{action}"'
    )


def _errors(parent: etree._Element, errors: Iterable[tuple[str, str, str]]) -> None:
    errors = list(errors)
    if not errors:
        return
    error_list = etree.SubElement(parent, RS + "RegistryErrorList", highestSeverity=SEVERITY_ERROR)
    for code, message, location in errors:
        error = etree.SubElement(
            error_list,
            RS + "RegistryError",
            codeContext=message,
            errorCode=code,
            severity=SEVERITY_ERROR,
        )
        if location:
            error.set("location", location)
        error.text = message


def registry_response(errors: Iterable[tuple[str, str, str]] = ()) -> etree._Element:
    """``rs:RegistryResponse``: Success, or Failure with (code, message, location) errors."""
    errors = list(errors)
    response = etree.Element(
        RS + "RegistryResponse",
        nsmap={"rs": RS_NS},
        status=RESPONSE_FAILURE if errors else RESPONSE_SUCCESS,
    )
    _errors(response, errors)
    return response


def query_response(
    objects: Iterable[etree._Element] = (), errors: Iterable[tuple[str, str, str]] = ()
) -> etree._Element:
    """``query:AdhocQueryResponse`` holding registry objects, or a Failure."""
    errors = list(errors)
    response = etree.Element(
        QUERY + "AdhocQueryResponse",
        nsmap={"query": QUERY_NS, "rim": RIM_NS, "rs": RS_NS},
        status=RESPONSE_FAILURE if errors else RESPONSE_SUCCESS,
    )
    _errors(response, errors)
    object_list = etree.SubElement(response, RIM + "RegistryObjectList")  # required, even empty
    for item in objects:
        object_list.append(item)
    return response


def fault(code: str, reason: str, subcode: str = "") -> etree._Element:
    """A SOAP 1.2 ``env:Fault`` (code Sender or Receiver)."""
    element = etree.Element(
        SOAP + "Fault", nsmap={"soap": SOAP12_NS, "wsa": WSA_NS, "wsse": WSSE_NS}
    )
    code_el = etree.SubElement(element, SOAP + "Code")
    etree.SubElement(code_el, SOAP + "Value").text = f"soap:{code}"
    if subcode:
        sub = etree.SubElement(code_el, SOAP + "Subcode")
        # Subcode values are QNames; unprefixed ones live in no namespace.
        etree.SubElement(sub, SOAP + "Value").text = subcode
    reason_el = etree.SubElement(element, SOAP + "Reason")
    text = etree.SubElement(reason_el, SOAP + "Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    text.text = reason
    return element


def fault_response(code: str, reason: str, subcode: str = "", relates_to: str = "") -> Response:
    """A fault answer: HTTP 400 for Sender, 500 for Receiver (SOAP 1.2 HTTP binding)."""
    status = 400 if code == "Sender" else 500
    return soap_response(
        FAULT_ACTION, relates_to, fault(code, reason, subcode), mtom=False, status=status
    )


def retrieve_response(
    documents: Iterable[tuple[str, str, str, bytes]],
    errors: Iterable[tuple[str, str, str]] = (),
) -> tuple[etree._Element, list[MimePart]]:
    """An ITI-43 ``RetrieveDocumentSetResponse`` for (repository, uniqueId, mimeType, bytes),
    each document as an MTOM part; a Failure with errors and no document otherwise."""
    errors = list(errors)
    response = etree.Element(XDSB + "RetrieveDocumentSetResponse", nsmap={"xdsb": XDSB_NS})
    response.append(registry_response(errors))
    parts: list[MimePart] = []
    for repository, unique_id, mime_type, content in documents:
        answer = etree.SubElement(response, XDSB + "DocumentResponse")
        etree.SubElement(answer, XDSB + "RepositoryUniqueId").text = repository
        etree.SubElement(answer, XDSB + "DocumentUniqueId").text = unique_id
        etree.SubElement(answer, XDSB + "mimeType").text = mime_type
        holder = etree.SubElement(answer, XDSB + "Document")
        content_id = new_content_id("dmp-simulator.local")
        etree.SubElement(holder, XOP_INCLUDE, href=cid_href(content_id), nsmap={"xop": XOP_NS})
        parts.append(MimePart(content_id, mime_type, content))
    return response, parts
