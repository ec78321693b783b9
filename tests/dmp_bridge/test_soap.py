"""SoapDmpTransport against recorded DMP answers, through a fake requests adapter (no network)."""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from ptap.dmp_bridge.conformance import validate_iti41
from ptap.dmp_bridge.crypto import SigningIdentity, generate_identity
from ptap.dmp_bridge.mtom import (
    MimePart,
    build_mtom,
    header_params,
    parse_multipart,
    resolve_xop,
)
from ptap.dmp_bridge.ports import (
    Attachment,
    Confidentiality,
    DmpRejected,
    DmpUnavailable,
    DocumentSearch,
    ProvideAndRegister,
    RegistryError,
    RemoteDocument,
    RequestContext,
)
from ptap.dmp_bridge.soap import ITI18_ACTION, ITI41_ACTION, ITI57_ACTION, SoapDmpTransport
from ptap.dmp_bridge.soapfaults import TRANSIENT_CODES, classify_failure
from ptap.dmp_bridge.vihf import SAML_NS, embedded_certificate, verify_vihf_assertion
from ptap.dmp_bridge.xdsquery import parse_sql_list, sql_list
from tests.dmp_bridge.dmp_samples import (
    OID_ROOT,
    SOURCE_OID,
    sample_document,
    sample_ids,
)

FIXTURES = Path(__file__).parent / "fixtures" / "transport"
BASE = "https://dmp.test/si-dmp-server/v2/services"
SOAP = "{http://www.w3.org/2003/05/soap-envelope}"
WSA = "{http://www.w3.org/2005/08/addressing}"
WSSE = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}"
XDSB = "{urn:ihe:iti:xds-b:2007}"
RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
LCM = "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}"
QUERY = "{urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0}"
XOP = "{http://www.w3.org/2004/08/xop/include}"
XDS_XSD = (
    Path(__file__).parents[2]
    / "ptap/dmp_bridge/conformance/specs/xds/schema/v3/XDS.b_DocumentRepository.xsd"
)
SOAP_XML = "application/soap+xml; charset=UTF-8"
MTOM_RESPONSE = (
    'multipart/related; boundary="MIMEBoundary_urn_uuid_2C1F0B7E7A3D4B0C9A1E5F6D7C8B9A01"; '
    'type="application/xop+xml"; start="<0.urn:uuid:2C1F0B7E7A3D4B0C9A1E5F6D7C8B9A02@apache.org>"; '
    'start-info="application/soap+xml"'
)
_oids = itertools.count(1)


# -- helpers shared with test_simulator.py ------------------------------------------------------


def request_context() -> RequestContext:
    doc = sample_document()
    return RequestContext(patient=doc.patient, subject=doc.author, organisation=doc.organisation)


def fixture_payload(
    *, unique_id: str | None = None, content: bytes | None = None, replaces: str | None = None
) -> ProvideAndRegister:
    """An ITI-41 payload made from the shared fixture (no dependency on the builders)."""
    name = (
        "ITI41_PPCS_replace_RPLC_example.xml"
        if replaces
        else ("ITI41_PPCS_new_submission_example.xml")
    )
    request = etree.parse(str(FIXTURES / name)).getroot()
    document = request.find(XDSB + "Document")
    content = content if content is not None else base64.b64decode(document.text)
    unique_id = unique_id or f"{OID_ROOT}.1.{next(_oids)}000"
    submit = request.find(LCM + "SubmitObjectsRequest")
    for ext in submit.iter(RIM + "ExternalIdentifier"):
        scheme = ext.get("identificationScheme")
        if scheme == "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab":
            ext.set("value", unique_id)
        elif scheme == "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8":
            ext.set("value", unique_id + ".99")
    for slot in submit.iter(RIM + "Slot"):
        if slot.get("name") == "hash":
            slot[0][0].text = hashlib.sha1(content).hexdigest()  # noqa: S324
        elif slot.get("name") == "size":
            slot[0][0].text = str(len(content))
    for association in submit.iter(RIM + "Association"):
        if replaces and association.get("associationType").endswith(":RPLC"):
            association.set("targetObject", replaces)
    return ProvideAndRegister(
        submit_objects=etree.tostring(submit),
        attachments=(Attachment(entry_id=document.get("id"), content=content),),
        submission_set_oid=unique_id + ".99",
        document_oid=unique_id,
    )


def builder_payload(
    signer: SigningIdentity, *, replaces: tuple[str, str] | None = None
) -> ProvideAndRegister:
    """An ITI-41 payload from the real builders (cda.py, xds.py), CDA + XAdES signature."""
    cda = importlib.import_module("ptap.dmp_bridge.cda")
    xds = importlib.import_module("ptap.dmp_bridge.xds")
    n = next(_oids)
    doc = sample_document()
    extra: dict[str, Any] = {}
    if replaces:
        extra = {
            "version_number": 2,
            "replaces_document_oid": replaces[0],
            "replaces_entry_uuid": replaces[1],
        }
    ids = sample_ids(document_oid=f"{OID_ROOT}.1.{n}", **extra)
    return xds.build_provide_and_register(
        doc,
        ids,
        cda.build_cda(doc, ids),
        signer,
        source_oid=SOURCE_OID,
        submission_set_oid=f"{OID_ROOT}.2.{n}",
        now=datetime.now(UTC),
    )


@functools.cache
def xds_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(XDS_XSD), parser))


# -- fake HTTP --------------------------------------------------------------------------------


@dataclass
class Sent:
    request: requests.PreparedRequest
    timeout: Any
    verify: Any
    cert: Any


class FakeAdapter(BaseAdapter):
    """Answers each request with the next scripted (status, content type, body) or exception."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Sent] = []
        self.script: list[tuple[int, str, bytes] | BaseException] = []

    def answer(self, status: int, content_type: str, body: bytes | str) -> None:
        if isinstance(body, str):
            body = (FIXTURES / body).read_bytes()
        self.script.append((status, content_type, body))

    def fail(self, exc: BaseException) -> None:
        self.script.append(exc)

    def send(  # type: ignore[override]
        self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None
    ) -> requests.Response:
        self.sent.append(Sent(request, timeout, verify, cert))
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        status, content_type, body = item
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict({"Content-Type": content_type})
        response._content = body
        response.url = request.url
        response.request = request
        response.reason = "test"
        return response

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def signer() -> SigningIdentity:
    return generate_identity("PTAP DMP seal (test)", "DAC de test")


@pytest.fixture
def adapter() -> FakeAdapter:
    return FakeAdapter()


@pytest.fixture
def transport(signer: SigningIdentity, adapter: FakeAdapter) -> Iterator[SoapDmpTransport]:
    with requests.Session() as session:
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        yield SoapDmpTransport(
            BASE,
            signer,
            lps_name="PTAP",
            lps_version="1.4.0",
            lps_homologation_id="HOMOLOG-42",
            source_oid=SOURCE_OID,
            client_cert="/etc/ptap/tls.crt",
            client_key="/etc/ptap/tls.key",
            ca_bundle="/etc/ptap/dmp-ca.pem",
            connect_timeout=2.0,
            read_timeout=7.0,
            session=session,
        )


def _envelope(body: bytes, content_type: str) -> tuple[etree._Element, dict[str, MimePart]]:
    main, _ = header_params(content_type)
    if main == "multipart/related":
        message = parse_multipart(body, content_type)
        return etree.fromstring(message.root.content), message.parts
    return etree.fromstring(body), {}


# -- ITI-41: the request ----------------------------------------------------------------------


def test_prepare_submission_builds_mtom_multipart_related(
    transport: SoapDmpTransport,
) -> None:
    payload = fixture_payload()
    prepared = transport.prepare_submission(payload, request_context())

    main, params = header_params(prepared.content_type)
    assert main == "multipart/related"
    assert params["type"] == "application/xop+xml"
    assert params["start-info"] == "application/soap+xml"
    assert params["action"] == ITI41_ACTION == prepared.action
    assert params["boundary"].encode() in prepared.body
    message = parse_multipart(prepared.body, prepared.content_type)
    assert message.root.content_id == params["start"].strip("<>")
    assert header_params(message.root.content_type) == (
        "application/xop+xml",
        {"charset": "UTF-8", "type": "application/soap+xml"},
    )
    assert ("content-transfer-encoding", "binary") in message.root.headers
    [part] = message.parts.values()
    assert part.content == payload.attachments[0].content
    assert part.content_type == "text/xml"
    assert ("content-transfer-encoding", "binary") in part.headers


def test_prepare_submission_envelope_has_addressing_vihf_and_xop_documents(
    transport: SoapDmpTransport, signer: SigningIdentity
) -> None:
    payload = fixture_payload()
    prepared = transport.prepare_submission(payload, request_context())
    envelope, parts = _envelope(prepared.body, prepared.content_type)

    assert envelope.tag == SOAP + "Envelope"
    header = envelope.find(SOAP + "Header")
    action = header.find(WSA + "Action")
    assert action.text == ITI41_ACTION
    assert action.get(SOAP + "mustUnderstand") == "true"
    assert header.findtext(WSA + "MessageID") == prepared.message_id
    assert prepared.message_id.startswith("urn:uuid:")
    assert header.findtext(WSA + "To") == f"{BASE}/repository"
    assert header.findtext(f"{WSA}ReplyTo/{WSA}Address") == (
        "http://www.w3.org/2005/08/addressing/anonymous"
    )
    assertion = header.find(f"{WSSE}Security/{{{SAML_NS}}}Assertion")
    verify_vihf_assertion(assertion, signer.cert_pem)
    request = envelope.find(f"{SOAP}Body/{XDSB}ProvideAndRegisterDocumentSetRequest")
    assert request.find(LCM + "SubmitObjectsRequest") is not None
    [document] = request.findall(XDSB + "Document")
    assert document.get("id") == payload.attachments[0].entry_id
    include = document.find(XOP + "Include")
    assert include.get("href").removeprefix("cid:") in parts


def test_prepared_body_is_valid_xds_after_xop_decoding(transport: SoapDmpTransport) -> None:
    payload = fixture_payload()
    prepared = transport.prepare_submission(payload, request_context())
    envelope, parts = _envelope(prepared.body, prepared.content_type)

    resolve_xop(envelope, parts)
    request = envelope.find(f"{SOAP}Body/{XDSB}ProvideAndRegisterDocumentSetRequest")
    schema = xds_schema()
    assert schema.validate(request), schema.error_log
    assert base64.b64decode(request.find(XDSB + "Document").text) == payload.attachments[0].content


def test_prepared_request_from_the_real_builders_passes_conformance(
    transport: SoapDmpTransport, signer: SigningIdentity
) -> None:
    payload = builder_payload(signer)
    prepared = transport.prepare_submission(payload, request_context())
    envelope, parts = _envelope(prepared.body, prepared.content_type)

    assert len(parts) == 2  # the CDA and the XAdES signature of the submission set
    resolve_xop(envelope, parts)
    report = validate_iti41(etree.tostring(envelope))
    assert report.ok, report.errors
    request = envelope.find(f"{SOAP}Body/{XDSB}ProvideAndRegisterDocumentSetRequest")
    assert xds_schema().validate(request)


def test_binary_parts_survive_byte_for_byte() -> None:
    nasty = b"\r\n--MIMEBoundary_x\r\n\r\n" + bytes(range(256)) * 4 + b"\r\n"
    body, content_type = build_mtom(
        b"<e/>", [MimePart("a@x", "application/octet-stream", nasty)], action="urn:a"
    )
    message = parse_multipart(body, content_type)

    assert message.root.content == b"<e/>"
    assert message.parts["a@x"].content == nasty


def test_send_submission_posts_to_the_repository_with_tls_and_timeouts(
    transport: SoapDmpTransport, adapter: FakeAdapter
) -> None:
    adapter.answer(200, SOAP_XML, "registry_success.xml")
    prepared = transport.prepare_submission(fixture_payload(), request_context())

    receipt = transport.send_submission(prepared)

    assert receipt.status == "Success"
    assert receipt.errors == ()
    assert receipt.response == (FIXTURES / "registry_success.xml").read_bytes()
    [sent] = adapter.sent
    assert sent.request.method == "POST"
    assert sent.request.url == f"{BASE}/repository"
    assert sent.request.body == prepared.body
    assert sent.request.headers["Content-Type"] == prepared.content_type
    assert sent.timeout == (2.0, 7.0)
    assert sent.cert == ("/etc/ptap/tls.crt", "/etc/ptap/tls.key")
    assert sent.verify == "/etc/ptap/dmp-ca.pem"


def test_mtom_response_is_read(transport: SoapDmpTransport, adapter: FakeAdapter) -> None:
    adapter.answer(200, MTOM_RESPONSE, "registry_success_mtom.bin")
    prepared = transport.prepare_submission(fixture_payload(), request_context())

    assert transport.send_submission(prepared).status == "Success"


def test_partial_success_is_a_receipt_with_its_errors(
    transport: SoapDmpTransport, adapter: FakeAdapter
) -> None:
    adapter.answer(200, SOAP_XML, "registry_partial_success.xml")
    receipt = transport.send_submission(
        transport.prepare_submission(fixture_payload(), request_context())
    )

    assert receipt.status == "PartialSuccess"
    assert receipt.entry_uuid == "urn:uuid:6c8a4f38-86a5-4a44-8bcb-22b8e0a0a001"
    [error] = receipt.errors
    assert error.code == "XDSExtraMetadataNotSaved"
    assert error.severity.endswith(":Warning")
    assert error.location == "Document01"


# -- ITI-41: failures -------------------------------------------------------------------------


def _send(transport: SoapDmpTransport) -> None:
    transport.send_submission(transport.prepare_submission(fixture_payload(), request_context()))


def test_duplicate_unique_id_is_a_permanent_refusal_in_french(
    transport: SoapDmpTransport, adapter: FakeAdapter
) -> None:
    adapter.answer(200, SOAP_XML, "registry_failure_duplicate.xml")

    with pytest.raises(DmpRejected) as caught:
        _send(transport)

    assert caught.value.code == "XDSDuplicateUniqueIdInRegistry"
    assert caught.value.message.startswith("Le DMP a refusé le document : ")
    assert "déjà dans le DMP" in caught.value.message
    assert caught.value.response == (FIXTURES / "registry_failure_duplicate.xml").read_bytes()


def test_busy_registry_is_transient(transport: SoapDmpTransport, adapter: FakeAdapter) -> None:
    adapter.answer(200, SOAP_XML, "registry_failure_busy.xml")

    with pytest.raises(DmpUnavailable) as caught:
        _send(transport)

    assert caught.value.code == "XDSRegistryBusy"
    assert "Nouvel essai automatique plus tard" in caught.value.message


def test_one_permanent_error_makes_the_failure_permanent(
    transport: SoapDmpTransport, adapter: FakeAdapter
) -> None:
    adapter.answer(200, SOAP_XML, "registry_failure_mixed.xml")

    with pytest.raises(DmpRejected) as caught:
        _send(transport)

    assert caught.value.code == "XDSRegistryMetadataError"
    assert "classCode absent de JDV_J57" in caught.value.message


def test_sender_fault_is_permanent_with_its_reason(
    transport: SoapDmpTransport, adapter: FakeAdapter
) -> None:
    adapter.answer(400, SOAP_XML, "soap_fault_sender.xml")

    with pytest.raises(DmpRejected) as caught:
        _send(transport)

    assert caught.value.code == "wsse:FailedAuthentication"
    assert caught.value.message == (
        "Le DMP a refusé le document : Le jeton VIHF est invalide : signature incorrecte"
    )


def test_receiver_fault_is_transient(transport: SoapDmpTransport, adapter: FakeAdapter) -> None:
    adapter.answer(500, SOAP_XML, "soap_fault_receiver.xml")

    with pytest.raises(DmpUnavailable) as caught:
        _send(transport)

    assert caught.value.code == "soap:Receiver"
    assert "veuillez reessayer" in caught.value.message


@pytest.mark.parametrize(
    ("status", "expected", "words"),
    [
        (500, DmpUnavailable, "momentanément indisponible (erreur HTTP 500)"),
        (502, DmpUnavailable, "momentanément indisponible"),
        (503, DmpUnavailable, "momentanément indisponible (erreur HTTP 503)"),
        (504, DmpUnavailable, "momentanément indisponible"),
        (429, DmpUnavailable, "surchargé"),
        (401, DmpRejected, "refusé l'accès (erreur HTTP 401)"),
        (403, DmpRejected, "habilitations"),
        (404, DmpRejected, "refusé le document (erreur HTTP 404)"),
        (302, DmpRejected, "erreur HTTP 302"),
    ],
)
def test_http_errors_without_soap_are_classified(
    transport: SoapDmpTransport,
    adapter: FakeAdapter,
    status: int,
    expected: type[Exception],
    words: str,
) -> None:
    adapter.answer(status, "text/html", "http_503.html")

    with pytest.raises(expected) as caught:
        _send(transport)

    assert caught.value.code == f"HTTP {status}"
    assert words in caught.value.message
    assert caught.value.response.startswith(b"<html>")


@pytest.mark.parametrize(
    ("exc", "expected", "code", "words"),
    [
        (requests.ReadTimeout("read timed out"), DmpUnavailable, "timeout", "délai dépassé"),
        (requests.ConnectTimeout("connect"), DmpUnavailable, "timeout", "délai dépassé"),
        (
            requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer")),
            DmpUnavailable,
            "connection",
            "connexion impossible ou interrompue",
        ),
        (
            requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
            DmpUnavailable,
            "connection",
            "injoignable",
        ),
        (
            requests.exceptions.SSLError("certificate verify failed: self-signed certificate"),
            DmpRejected,
            "tls",
            "certificat",
        ),
        (requests.exceptions.InvalidURL("bad"), DmpRejected, "config", "Adresse du DMP"),
    ],
)
def test_network_errors_are_classified(
    transport: SoapDmpTransport,
    adapter: FakeAdapter,
    exc: Exception,
    expected: type[Exception],
    code: str,
    words: str,
) -> None:
    adapter.fail(exc)

    with pytest.raises(expected) as caught:
        _send(transport)

    assert caught.value.code == code
    assert words in caught.value.message


def test_timeout_message_is_plain_french(transport: SoapDmpTransport, adapter: FakeAdapter) -> None:
    adapter.fail(requests.ReadTimeout("read timed out"))

    with pytest.raises(DmpUnavailable) as caught:
        _send(transport)

    assert caught.value.message == (
        "Le DMP ne répond pas (délai dépassé). Nouvel essai automatique plus tard."
    )


def test_unreadable_success_answer_is_transient(
    transport: SoapDmpTransport, adapter: FakeAdapter
) -> None:
    adapter.answer(200, "text/html", b"<html>maintenance</html>")

    with pytest.raises(DmpUnavailable) as caught:
        _send(transport)

    assert caught.value.code == "unreadable"


@pytest.mark.parametrize(
    ("code", "transient"),
    [
        ("XDSRegistryBusy", True),
        ("XDSRepositoryBusy", True),
        ("XDSRegistryOutOfResources", True),
        ("XDSRepositoryOutOfResources", True),
        ("XDSRegistryNotAvailable", True),
        ("XDSRepositoryNotAvailable", True),
        ("XDSUnavailableCommunity", True),
        ("XDSMetadataVersionError", True),
        ("XDSRegistryMetadataError", False),
        ("XDSRepositoryMetadataError", False),
        ("XDSPatientIdDoesNotMatch", False),
        ("XDSUnknownPatientId", False),
        ("XDSDuplicateUniqueIdInRegistry", False),
        ("XDSRegistryDuplicateUniqueIdInMessage", False),
        ("XDSRepositoryDuplicateUniqueIdInMessage", False),
        ("XDSNonIdenticalHash", False),
        ("XDSNonIdenticalSize", False),
        ("XDSMissingDocument", False),
        ("XDSMissingDocumentMetadata", False),
        ("XDSUnknownCommunity", False),
        ("XDSUnknownRepositoryId", False),
        ("XDSRegistryDeprecatedDocumentError", False),
        ("XDSRegistryError", False),
        ("XDSRepositoryError", False),
        ("XDSMetadataUpdateError", False),
        ("XDSStoredQueryParamNumber", False),
        ("DMP_SOMETHING_NEW", False),
    ],
)
def test_registry_error_classification_table(code: str, transient: bool) -> None:
    expected = DmpUnavailable if transient else DmpRejected
    assert (code in TRANSIENT_CODES) is transient

    with pytest.raises(expected) as caught:
        classify_failure((RegistryError(code, "détail"),), b"raw", "le document")

    assert caught.value.code == code
    assert caught.value.response == b"raw"


def test_warnings_alone_do_not_hide_a_failure() -> None:
    warning = RegistryError(
        "XDSRegistryBusy", "", "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"
    )
    with pytest.raises(DmpUnavailable):
        classify_failure((warning,), b"", "le document")
    with pytest.raises(DmpRejected, match="sans donner de motif"):
        classify_failure((), b"", "le document")


# -- ITI-18 -----------------------------------------------------------------------------------


def _sent_body(sent: Sent) -> etree._Element:
    content_type = sent.request.headers["Content-Type"]
    envelope, _ = _envelope(sent.request.body, content_type)
    return envelope.find(SOAP + "Body")[0]


def _slots(query: etree._Element) -> dict[str, list[str]]:
    return {
        s.get("name"): parse_sql_list(s.findtext(f"{RIM}ValueList/{RIM}Value"))
        for s in query.iter(RIM + "Slot")
    }


def test_find_document_sends_get_documents_by_unique_id(
    transport: SoapDmpTransport, adapter: FakeAdapter, signer: SigningIdentity
) -> None:
    adapter.answer(200, SOAP_XML, "query_get_documents.xml")

    found = transport.find_document(request_context(), "1.2.250.1.999.1.1.7777.1.1")

    [sent] = adapter.sent
    assert sent.request.url == f"{BASE}/registry"
    assert f'action="{ITI18_ACTION}"' in sent.request.headers["Content-Type"]
    envelope, _ = _envelope(sent.request.body, sent.request.headers["Content-Type"])
    assert envelope.findtext(f"{SOAP}Header/{WSA}Action") == ITI18_ACTION
    assertion = envelope.find(f".//{{{SAML_NS}}}Assertion")
    verify_vihf_assertion(assertion, embedded_certificate(assertion))
    request = _sent_body(sent)
    assert xds_schema().validate(request)
    assert request.find(QUERY + "ResponseOption").get("returnType") == "LeafClass"
    query = request.find(RIM + "AdhocQuery")
    assert query.get("id") == "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
    assert _slots(query) == {"$XDSDocumentEntryUniqueId": ["1.2.250.1.999.1.1.7777.1.1"]}
    # Of the two versions returned, the Approved one (v2) is the current entry.
    assert found == RemoteDocument(
        unique_id="1.2.250.1.999.1.1.7777.1.1",
        entry_uuid="urn:uuid:6c8a4f38-86a5-4a44-8bcb-22b8e0a0a002",
        status="Approved",
        confidentiality_codes=("N", "MASQUE_PS"),
        extra=found.extra,
    )
    assert found.extra["lid"] == "urn:uuid:6c8a4f38-86a5-4a44-8bcb-22b8e0a0a001"
    assert found.extra["version"] == "2"
    assert found.extra["title"] == "Plan personnalisé de coordination en santé (PPCS)"


def test_find_document_returns_none_when_the_dmp_has_nothing(
    transport: SoapDmpTransport, adapter: FakeAdapter
) -> None:
    adapter.answer(200, SOAP_XML, "query_empty.xml")

    assert transport.find_document(request_context(), "1.2.3") is None


def test_list_documents_sends_find_documents_for_the_patient(
    transport: SoapDmpTransport, adapter: FakeAdapter
) -> None:
    adapter.answer(200, SOAP_XML, "query_find_documents.xml")

    documents = transport.list_documents(request_context())

    query = _sent_body(adapter.sent[0]).find(RIM + "AdhocQuery")
    assert query.get("id") == "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
    assert _slots(query) == {
        "$XDSDocumentEntryPatientId": ["279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"],
        "$XDSDocumentEntryStatus": [
            "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved",
            "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated",
            "urn:asip:ci-sis:2010:StatusType:Archived",
        ],
    }
    assert [(d.unique_id, d.status) for d in documents] == [
        ("1.2.250.1.999.1.1.7777.1.1", "Approved"),
        ("1.2.250.1.999.1.1.7777.1.2", "Archived"),
    ]


def test_list_documents_sends_the_dmp_filters_as_ihe_stored_query_slots(
    transport: SoapDmpTransport, adapter: FakeAdapter
) -> None:
    """Type, dates and author reach FindDocuments in the IHE formats (ITI TF-2a 3.18.4.1.2.3):
    a coded value is HL7 CE "code^^scheme" (not the CX "^^^&oid&ISO" of identifiers, which a
    registry would not match), creation times are DTM bounds (from inclusive, to exclusive:
    the day after the last one), the author a LIKE pattern."""
    adapter.answer(200, SOAP_XML, "query_find_documents.xml")
    search = DocumentSearch(
        type_codes=("11502-2",),
        created_from=date(2026, 11, 1),
        created_to=date(2026, 11, 30),
        author="pasteur",
    )

    transport.list_documents(request_context(), search)

    query = _sent_body(adapter.sent[0]).find(RIM + "AdhocQuery")
    slots = _slots(query)
    assert slots["$XDSDocumentEntryTypeCode"] == ["11502-2^^2.16.840.1.113883.6.1"]
    assert slots["$XDSDocumentEntryAuthorPerson"] == ["%pasteur%"]
    raw = {
        s.get("name"): s.findtext(f"{RIM}ValueList/{RIM}Value") for s in query.iter(RIM + "Slot")
    }
    assert raw["$XDSDocumentEntryCreationTimeFrom"] == "20261101000000"
    assert raw["$XDSDocumentEntryCreationTimeTo"] == "20261201000000"


def test_query_failure_is_classified(transport: SoapDmpTransport, adapter: FakeAdapter) -> None:
    adapter.answer(200, SOAP_XML, "query_failure.xml")

    with pytest.raises(DmpRejected) as caught:
        transport.list_documents(request_context())

    assert caught.value.code == "XDSStoredQueryParamNumber"
    assert caught.value.message.startswith("Le DMP a refusé la recherche : ")


def test_sql_list_round_trip() -> None:
    values = ["a", "it's", "urn:x:y"]
    assert sql_list(values) == "('a','it''s','urn:x:y')"
    assert parse_sql_list(sql_list(values)) == values
    assert parse_sql_list("'single'") == ["single"]


# -- ITI-57 -----------------------------------------------------------------------------------

REMOTE = RemoteDocument(
    unique_id="1.2.250.1.999.1.1.7777.1.1",
    entry_uuid="urn:uuid:6c8a4f38-86a5-4a44-8bcb-22b8e0a0a002",
    status="Approved",
)


def test_update_visibility_submits_a_new_metadata_version(
    transport: SoapDmpTransport, adapter: FakeAdapter
) -> None:
    adapter.answer(200, SOAP_XML, "query_get_documents.xml")
    adapter.answer(200, SOAP_XML, "registry_success.xml")

    receipt = transport.update_visibility(
        request_context(),
        REMOTE,
        (Confidentiality.HIDDEN_FROM_PATIENT, Confidentiality.HIDDEN_FROM_REPRESENTATIVES),
    )

    assert receipt.status == "Success"
    sent = adapter.sent[1]
    assert f'action="{ITI57_ACTION}"' in sent.request.headers["Content-Type"]
    request = _sent_body(sent)
    assert request.tag == LCM + "SubmitObjectsRequest"
    assert xds_schema().validate(request), xds_schema().error_log
    [entry] = request.iter(RIM + "ExtrinsicObject")
    assert entry.get("lid") == "urn:uuid:6c8a4f38-86a5-4a44-8bcb-22b8e0a0a001"
    assert entry.get("id") != REMOTE.entry_uuid
    assert entry.get("status") is None
    codes = [
        c.get("nodeRepresentation")
        for c in entry.iter(RIM + "Classification")
        if c.get("classificationScheme") == "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
    ]
    assert codes == ["N", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"]
    assert {c.get("classifiedObject") for c in entry.iter(RIM + "Classification")} == {
        entry.get("id")
    }
    [member] = [
        a for a in request.iter(RIM + "Association") if a.get("targetObject") == entry.get("id")
    ]
    assert member.get("associationType").endswith(":HasMember")
    assert _slots(member) == {"SubmissionSetStatus": ["Original"], "PreviousVersion": ["2"]}


def test_update_visibility_sends_nothing_when_the_codes_are_already_there(
    transport: SoapDmpTransport, adapter: FakeAdapter
) -> None:
    adapter.answer(200, SOAP_XML, "query_get_documents.xml")

    receipt = transport.update_visibility(
        request_context(), REMOTE, (Confidentiality.MASKED_FROM_PROFESSIONALS,)
    )

    assert receipt.status == "Success"
    assert len(adapter.sent) == 1


def test_set_availability_sends_an_update_availability_status_association(
    transport: SoapDmpTransport, adapter: FakeAdapter
) -> None:
    adapter.answer(200, SOAP_XML, "query_get_documents.xml")
    adapter.answer(200, SOAP_XML, "registry_success.xml")

    assert transport.set_availability(request_context(), REMOTE, "Deleted").status == "Success"

    request = _sent_body(adapter.sent[1])
    assert xds_schema().validate(request)
    [association] = [
        a
        for a in request.iter(RIM + "Association")
        if a.get("associationType") == "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
    ]
    assert association.get("targetObject") == REMOTE.entry_uuid
    [package] = request.iter(RIM + "RegistryPackage")
    assert association.get("sourceObject") == package.get("id")
    assert _slots(association) == {
        "OriginalStatus": ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"],
        "NewStatus": ["urn:asip:ci-sis:2010:StatusType:Deleted"],
    }


def test_set_availability_of_a_missing_document_is_rejected(
    transport: SoapDmpTransport, adapter: FakeAdapter
) -> None:
    adapter.answer(200, SOAP_XML, "query_empty.xml")

    with pytest.raises(DmpRejected) as caught:
        transport.set_availability(request_context(), REMOTE, "Archived")

    assert caught.value.code == "DocumentNotFound"
    with pytest.raises(ValueError, match="unsupported"):
        transport.set_availability(request_context(), REMOTE, "Approved")


def test_update_failure_is_classified(transport: SoapDmpTransport, adapter: FakeAdapter) -> None:
    adapter.answer(200, SOAP_XML, "query_get_documents.xml")
    adapter.answer(200, SOAP_XML, "registry_failure_busy.xml")

    with pytest.raises(DmpUnavailable, match="ne peut pas traiter la modification"):
        transport.set_availability(request_context(), REMOTE, "Archived")
