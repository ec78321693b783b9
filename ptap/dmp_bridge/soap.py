"""SoapDmpTransport: the only module that builds DMP SOAP requests and talks HTTP (STYLE §6).

ITI-41 goes to ``{base_url}/repository`` as SOAP 1.2 + MTOM/XOP; ITI-18 and ITI-57 go to
``{base_url}/registry`` as plain SOAP 1.2. Every request carries WS-Addressing 2005/08
headers and a freshly signed VIHF in ``wsse:Security``. Answers are classified by
:mod:`ptap.dmp_bridge.soapfaults` into receipts, DmpRejected (permanent) or DmpUnavailable
(transient); the table is in that module's docstring.

A prepared ITI-41 request embeds a VIHF valid for a few minutes: prepare it again for each
attempt rather than storing it for later retries.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import requests
from lxml import etree

from ptap.core import clock
from ptap.dmp_bridge.crypto import SigningIdentity
from ptap.dmp_bridge.mtom import (
    XOP_INCLUDE,
    XOP_NS,
    MimePart,
    MtomError,
    build_mtom,
    cid_href,
    include_target,
    new_content_id,
    read_soap_body,
)
from ptap.dmp_bridge.ports import (
    Confidentiality,
    DmpReceipt,
    DmpRejected,
    DmpUnavailable,
    DocumentSearch,
    PreparedRequest,
    ProvideAndRegister,
    RemoteDocument,
    RequestContext,
    RetrievedDocument,
)
from ptap.dmp_bridge.soapfaults import (
    RETRY_LATER,
    SOAP,
    SOAP12_NS,
    UnreadableResponse,
    check_query_response,
    classify_failure,
    http_error,
    interpret_registry_response,
    network_error,
    parse_envelope_body,
    raise_for_fault,
)
from ptap.dmp_bridge.vihf import build_vihf_assertion
from ptap.dmp_bridge.xdsquery import (
    QUERY,
    RS,
    STATUS_APPROVED,
    STATUS_URNS,
    XDSB,
    XDSB_NS,
    extrinsic_objects,
    find_documents_query,
    get_documents_query,
    registry_errors,
    remote_document,
    retrieve_request,
)
from ptap.dmp_bridge.xdsupdate import (
    availability_update,
    confidentiality_codes,
    metadata_update,
    patient_cx,
)

ITI41_ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ITI18_ACTION = "urn:ihe:iti:2007:RegistryStoredQuery"
ITI57_ACTION = "urn:ihe:iti:2010:UpdateDocumentSet"
ITI43_ACTION = "urn:ihe:iti:2007:RetrieveDocumentSet"
WSA_NS = "http://www.w3.org/2005/08/addressing"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSA = "{" + WSA_NS + "}"
WSSE = "{" + WSSE_NS + "}"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
_SUBMISSION, _QUERY, _UPDATE = "le document", "la recherche", "la modification"
_RETRIEVE = "la consultation du document"
#: Answers read even with an HTTP error status (they carry the registry's errors).
_ANSWERS = {
    RS + "RegistryResponse",
    QUERY + "AdhocQueryResponse",
    XDSB + "RetrieveDocumentSetResponse",
}
#: Preference when GetDocuments returns several versions of one uniqueId.
_STATUS_ORDER = {"Approved": 0, "Archived": 1, "Deprecated": 2}


def _utcnow() -> datetime:
    return clock.now()


def build_envelope(
    *, action: str, to: str, message_id: str, assertion: etree._Element, body: etree._Element
) -> bytes:
    """Serialise a SOAP 1.2 envelope with WS-Addressing headers and the VIHF."""
    envelope = etree.Element(
        SOAP + "Envelope", nsmap={"soap": SOAP12_NS, "wsa": WSA_NS, "wsse": WSSE_NS}
    )
    header = etree.SubElement(envelope, SOAP + "Header")
    must = {SOAP + "mustUnderstand": "true"}
    etree.SubElement(header, WSA + "Action", must).text = action
    etree.SubElement(header, WSA + "MessageID").text = message_id
    reply_to = etree.SubElement(header, WSA + "ReplyTo")
    etree.SubElement(reply_to, WSA + "Address").text = ANONYMOUS
    etree.SubElement(header, WSA + "To", must).text = to
    security = etree.SubElement(header, WSSE + "Security", must)
    security.append(assertion)
    etree.SubElement(envelope, SOAP + "Body").append(body)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


class SoapDmpTransport:
    """Talk to the DMP web services (ITI-41, ITI-18, ITI-57) over SOAP 1.2 with a VIHF."""

    def __init__(
        self,
        base_url: str,
        signer: SigningIdentity,
        *,
        lps_name: str,
        lps_version: str,
        lps_homologation_id: str,
        lps_id: str = "",
        vihf_version: str = "3.0",
        vihf_lifetime: timedelta = timedelta(minutes=5),
        source_oid: str = "",
        client_cert: str | tuple[str, str] | None = None,
        client_key: str | None = None,
        ca_bundle: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        consult_timeout: float = 5.0,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """:param source_oid: XDS sourceId of our ITI-57 submission sets (our system's OID);
        when empty, an OID derived from ``lps_name`` under 2.25 is used.
        :param client_cert: PEM file of the TLS client certificate, with ``client_key``
            (or a ``(cert, key)`` pair, as requests takes it).
        :param ca_bundle: CA file checking the DMP's server certificate (default: system).
        """
        self.base_url = base_url.rstrip("/")
        self.repository_url = f"{self.base_url}/repository"
        self.registry_url = f"{self.base_url}/registry"
        self._signer = signer
        self._lps = {
            "lps_name": lps_name,
            "lps_version": lps_version,
            "lps_homologation_id": lps_homologation_id,
            "lps_id": lps_id,
            "vihf_version": vihf_version,
        }
        self._vihf_lifetime = vihf_lifetime
        self._source_oid = source_oid or f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, lps_name).int}"
        self._cert: tuple[str, str] | str | None = client_cert
        if isinstance(client_cert, str) and client_key:
            self._cert = (client_cert, client_key)
        self._verify: str | bool = ca_bundle or True
        self._timeout = (connect_timeout, read_timeout)
        #: A professional waits for consultations (ITI-18 lists, ITI-43): fail fast.
        self._consult_timeout = (min(connect_timeout, consult_timeout), consult_timeout)
        self._owns_session = session is None
        self._session = session or requests.Session()
        self._clock = clock

    def close(self) -> None:
        """Close the HTTP session if this transport created it."""
        if self._owns_session:
            self._session.close()

    # -- building -----------------------------------------------------------------------

    def _envelope(
        self, action: str, to: str, context: RequestContext, body: etree._Element
    ) -> tuple[bytes, str]:
        message_id = f"urn:uuid:{uuid.uuid4()}"
        assertion = build_vihf_assertion(
            context,
            self._signer,
            now=self._clock(),
            lifetime=self._vihf_lifetime,
            **self._lps,
        )
        envelope = build_envelope(
            action=action, to=to, message_id=message_id, assertion=assertion, body=body
        )
        return envelope, message_id

    def prepare_submission(
        self, payload: ProvideAndRegister, context: RequestContext
    ) -> PreparedRequest:
        """Build the exact ITI-41 request (SOAP 1.2, WS-Addressing, signed VIHF, MTOM)."""
        submit = etree.fromstring(payload.submit_objects, parser=_safe_parser())
        request = etree.Element(
            XDSB + "ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": XDSB_NS}
        )
        request.append(submit)
        parts: list[MimePart] = []
        for attachment in payload.attachments:
            content_id = new_content_id()
            document = etree.SubElement(request, XDSB + "Document", id=attachment.entry_id)
            etree.SubElement(
                document, XOP_INCLUDE, href=cid_href(content_id), nsmap={"xop": XOP_NS}
            )
            parts.append(MimePart(content_id, attachment.mime_type, attachment.content))
        envelope, message_id = self._envelope(ITI41_ACTION, self.repository_url, context, request)
        body, content_type = build_mtom(envelope, parts, action=ITI41_ACTION)
        return PreparedRequest(
            body=body, content_type=content_type, action=ITI41_ACTION, message_id=message_id
        )

    # -- sending ------------------------------------------------------------------------

    def send_submission(self, prepared: PreparedRequest) -> DmpReceipt:
        """Send a prepared ITI-41 request; raise DmpRejected or DmpUnavailable on failure."""
        element, raw = self._post(
            self.repository_url, prepared.body, prepared.content_type, _SUBMISSION
        )
        return self._receipt(element, raw, _SUBMISSION)

    def _receipt(self, element: etree._Element, raw: bytes, what: str) -> DmpReceipt:
        try:
            return interpret_registry_response(element, raw, what)
        except UnreadableResponse as exc:
            raise DmpUnavailable(
                f"Réponse inattendue du DMP ({exc}). {RETRY_LATER}", code="unreadable", response=raw
            ) from exc

    def _call(
        self,
        url: str,
        action: str,
        context: RequestContext,
        body: etree._Element,
        what: str,
        *,
        consult: bool = False,
    ) -> tuple[etree._Element, bytes]:
        element, raw, _ = self._call_parts(url, action, context, body, what, consult=consult)
        return element, raw

    def _call_parts(
        self,
        url: str,
        action: str,
        context: RequestContext,
        body: etree._Element,
        what: str,
        *,
        consult: bool = False,
    ) -> tuple[etree._Element, bytes, dict[str, MimePart]]:
        envelope, _ = self._envelope(action, url, context, body)
        content_type = f'application/soap+xml; charset=UTF-8; action="{action}"'
        timeout = self._consult_timeout if consult else self._timeout
        return self._exchange(url, envelope, content_type, what, timeout)

    def _post(
        self, url: str, body: bytes, content_type: str, what: str
    ) -> tuple[etree._Element, bytes]:
        element, raw, _ = self._exchange(url, body, content_type, what, self._timeout)
        return element, raw

    def _exchange(
        self,
        url: str,
        body: bytes,
        content_type: str,
        what: str,
        timeout: tuple[float, float],
    ) -> tuple[etree._Element, bytes, dict[str, MimePart]]:
        try:
            response = self._session.post(
                url,
                data=body,
                headers={"Content-Type": content_type, "Accept": "*/*"},
                timeout=timeout,
                cert=self._cert,
                verify=self._verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise network_error(exc) from exc
        raw = response.content
        element: etree._Element | None
        parts: dict[str, MimePart] = {}
        try:
            envelope, parts = read_soap_body(raw, response.headers.get("Content-Type", ""))
            element = parse_envelope_body(envelope)
        except (MtomError, UnreadableResponse):
            element = None
        if element is not None and element.tag == SOAP + "Fault":
            raise_for_fault(element, raw, what)
        if element is not None and (response.ok or element.tag in _ANSWERS):
            return element, raw, parts
        raise http_error(response.status_code, raw, what)

    # -- ITI-18 -------------------------------------------------------------------------

    def _query(
        self, context: RequestContext, query: etree._Element, *, consult: bool = False
    ) -> list[etree._Element]:
        element, raw = self._call(
            self.registry_url, ITI18_ACTION, context, query, _QUERY, consult=consult
        )
        try:
            response = check_query_response(element, raw, _QUERY)
        except UnreadableResponse as exc:
            raise DmpUnavailable(
                f"Réponse inattendue du DMP ({exc}). {RETRY_LATER}", code="unreadable", response=raw
            ) from exc
        return extrinsic_objects(response)

    def _current_entry(self, context: RequestContext, unique_id: str) -> etree._Element | None:
        entries = self._query(context, get_documents_query(unique_id))
        if not entries:
            return None
        return min(
            entries,
            key=lambda e: _STATUS_ORDER.get(e.get("status", "").rsplit(":", 1)[-1], 9),
        )

    def find_document(self, context: RequestContext, unique_id: str) -> RemoteDocument | None:
        """ITI-18 GetDocuments by uniqueId: the DMP's entry for one of our documents, if any."""
        entry = self._current_entry(context, unique_id)
        return remote_document(entry) if entry is not None else None

    def list_documents(
        self, context: RequestContext, search: DocumentSearch | None = None
    ) -> list[RemoteDocument]:
        """ITI-18 FindDocuments: the patient's documents the DMP shows us (with filters)."""
        query = find_documents_query(patient_cx(context), search)
        return [remote_document(e) for e in self._query(context, query, consult=True)]

    # -- ITI-43 -------------------------------------------------------------------------

    def retrieve_document(
        self, context: RequestContext, unique_id: str, repository_id: str
    ) -> RetrievedDocument:
        """ITI-43 RetrieveDocumentSet (MTOM answer): one document's bytes."""
        request = retrieve_request(repository_id, unique_id)
        element, raw, parts = self._call_parts(
            self.repository_url, ITI43_ACTION, context, request, _RETRIEVE, consult=True
        )
        return read_retrieve_response(element, raw, parts, unique_id)

    # -- ITI-57 -------------------------------------------------------------------------

    def _require_entry(self, context: RequestContext, unique_id: str) -> etree._Element:
        entry = self._current_entry(context, unique_id)
        if entry is None:
            raise DmpRejected(
                "Le document n'est pas (ou plus) dans le DMP : rien à modifier.",
                code="DocumentNotFound",
            )
        return entry

    def update_visibility(
        self, context: RequestContext, remote: RemoteDocument, codes: tuple[Confidentiality, ...]
    ) -> DmpReceipt:
        """ITI-57: new metadata version carrying these confidentiality codes.

        Reads the current entry first (its metadata is copied into the new version); when the
        DMP already holds exactly these codes nothing is sent.
        """
        entry = self._require_entry(context, remote.unique_id)
        current = remote_document(entry)
        wanted = [code for code, _, _ in confidentiality_codes(codes)]
        if sorted(current.confidentiality_codes) == sorted(wanted):
            return DmpReceipt("Success", entry_uuid=current.entry_uuid)
        request = metadata_update(
            context, entry, codes, source_oid=self._source_oid, now=self._clock()
        )
        element, raw = self._call(self.registry_url, ITI57_ACTION, context, request, _UPDATE)
        return self._receipt(element, raw, _UPDATE)

    def set_availability(
        self, context: RequestContext, remote: RemoteDocument, status: str
    ) -> DmpReceipt:
        """ITI-57 UpdateAvailabilityStatus: status is "Archived" or "Deleted".

        The current entryUUID and status are read first; a document already in that status
        is left alone. A document the DMP no longer shows raises DmpRejected with code
        ``DocumentNotFound`` (for a deletion, the outbox may take it as done).
        """
        if status not in {"Archived", "Deleted"}:
            raise ValueError(f"unsupported availability status {status!r}")
        current = remote_document(self._require_entry(context, remote.unique_id))
        if current.status == status:
            return DmpReceipt("Success", entry_uuid=current.entry_uuid)
        request = availability_update(
            context,
            current.entry_uuid,
            original_status=STATUS_URNS.get(current.status, STATUS_APPROVED),
            new_status=STATUS_URNS[status],
            source_oid=self._source_oid,
            now=self._clock(),
        )
        element, raw = self._call(self.registry_url, ITI57_ACTION, context, request, _UPDATE)
        return self._receipt(element, raw, _UPDATE)


def read_retrieve_response(
    element: etree._Element, raw: bytes, parts: dict[str, MimePart], unique_id: str
) -> RetrievedDocument:
    """Read an ITI-43 answer: the document's bytes (an MTOM part, or inline base64)."""
    if element.tag != XDSB + "RetrieveDocumentSetResponse":
        raise DmpUnavailable(
            f"Réponse inattendue du DMP ({element.tag}). {RETRY_LATER}",
            code="unreadable",
            response=raw,
        )
    registry = element.find(RS + "RegistryResponse")
    status = registry.get("status", "") if registry is not None else ""
    answer = next(
        (
            d
            for d in element.iterfind(XDSB + "DocumentResponse")
            if (d.findtext(XDSB + "DocumentUniqueId") or "").strip() == unique_id
        ),
        None,
    )
    if answer is None:
        if status.endswith("Failure") and registry is not None:
            classify_failure(registry_errors(registry), raw, _RETRIEVE)
        raise DmpRejected(
            "Le DMP ne renvoie pas ce document (retiré, masqué ou inconnu).",
            code="DocumentNotFound",
            response=raw,
        )
    holder = answer.find(XDSB + "Document")
    if holder is None:
        raise DmpUnavailable(f"Document absent de la réponse. {RETRY_LATER}", code="unreadable")
    include = holder.find(XOP_INCLUDE)
    try:
        if include is not None:
            part = parts.get(include_target(include))
            if part is None:
                raise MtomError("partie MIME absente")
            content = part.content
        else:
            content = base64.b64decode("".join((holder.text or "").split()), validate=True)
    except (MtomError, ValueError) as exc:
        raise DmpUnavailable(
            f"Document illisible dans la réponse du DMP ({exc}). {RETRY_LATER}",
            code="unreadable",
            response=raw,
        ) from exc
    mime_type = (answer.findtext(XDSB + "mimeType") or "application/octet-stream").strip()
    return RetrievedDocument(unique_id=unique_id, mime_type=mime_type, content=content)
