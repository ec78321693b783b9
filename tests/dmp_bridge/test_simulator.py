"""The SOAP transport end to end against the DMP simulator, on 127.0.0.1 (loopback only)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree

from ptap.devtools.dmp_simulator import FaultConfig, RunningSimulator, start_in_thread
from ptap.devtools.dmp_simulator.checks import schema_errors
from ptap.devtools.dmp_simulator.faults import FaultInjector
from ptap.dmp_bridge.crypto import SigningIdentity, generate_identity
from ptap.dmp_bridge.mtom import build_mtom, header_params, parse_multipart
from ptap.dmp_bridge.ports import (
    Attachment,
    Confidentiality,
    DmpRejected,
    DmpUnavailable,
    PreparedRequest,
    ProvideAndRegister,
)
from ptap.dmp_bridge.soap import SoapDmpTransport
from tests.dmp_bridge.test_soap import builder_payload, fixture_payload, request_context

SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
READ_TIMEOUT = 0.6


@pytest.fixture(scope="module")
def signer() -> SigningIdentity:
    return generate_identity("PTAP DMP seal (test)", "DAC de test")


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    _, stop = start_in_thread("127.0.0.1", 0, seed=7)
    yield stop
    stop()


@pytest.fixture
def control(simulator: RunningSimulator) -> Iterator[Callable[..., Any]]:
    """``control("stats")``, ``control("faults", {...})``; resets the simulator around a test."""
    with requests.Session() as session:

        def call(name: str, body: dict[str, Any] | None = None) -> Any:
            url = f"{simulator.control_url}/{name}"
            if body is None and name != "reset":
                response = session.get(url, timeout=5)
            else:
                response = session.post(url, json=body or {}, timeout=5)
            response.raise_for_status()
            return response.json()

        call("reset")
        yield call
        call("reset")


@pytest.fixture
def transport(
    simulator: RunningSimulator, signer: SigningIdentity, control: Callable[..., Any]
) -> Iterator[SoapDmpTransport]:
    with requests.Session() as session:
        yield SoapDmpTransport(
            simulator.base_url,
            signer,
            lps_name="PTAP",
            lps_version="1.4.0",
            lps_homologation_id="HOMOLOG-42",
            connect_timeout=2.0,
            read_timeout=READ_TIMEOUT,
            session=session,
        )


def _file(transport: SoapDmpTransport, payload: ProvideAndRegister) -> None:
    receipt = transport.send_submission(transport.prepare_submission(payload, request_context()))
    assert receipt.status == "Success"


# -- the happy path -----------------------------------------------------------------------------


def test_simulator_listens_on_loopback(simulator: RunningSimulator) -> None:
    assert simulator.base_url.startswith("http://127.0.0.1:")
    assert simulator.base_url.endswith("/si-dmp-server/v2/services")


def test_submit_then_find_then_duplicate_is_refused_and_counted(
    transport: SoapDmpTransport, signer: SigningIdentity, control: Callable[..., Any]
) -> None:
    payload = builder_payload(signer)
    context = request_context()

    _file(transport, payload)
    found = transport.find_document(context, payload.document_oid)
    assert found is not None
    assert found.status == "Approved"
    assert found.entry_uuid.startswith("urn:uuid:")
    assert found.confidentiality_codes == ("N",)
    assert found.extra["size"] == str(len(payload.attachments[0].content))

    with pytest.raises(DmpRejected) as caught:
        transport.send_submission(transport.prepare_submission(payload, context))
    assert caught.value.code == "XDSDuplicateUniqueIdInRegistry"
    assert caught.value.message.startswith("Le DMP a refusé le document : ")

    stats = control("stats")
    assert stats["duplicate_attempts"] == 1
    assert stats["submissions"][payload.document_oid] == 2
    assert stats["duplicates"] == {
        payload.document_oid: 1,
        # the XAdES signature entry of the same payload
        **{k: 1 for k in stats["duplicates"] if k != payload.document_oid},
    }
    assert stats["documents_stored"] == 2  # the CDA and its XAdES signature
    # FindDocuments is a consultation: the DMP wants a professional (RPPS) in the VIHF, not
    # the coordinator who filed (tests/dmp_bridge/test_consult.py covers the refusal).
    physician = dataclasses.replace(
        context,
        subject=dataclasses.replace(context.subject, id_nat="810001234567", profession="physician"),
    )
    listed = transport.list_documents(physician)
    assert payload.document_oid in {d.unique_id for d in listed}


def test_iti41_is_answered_in_mtom_relating_to_the_request(
    simulator: RunningSimulator, transport: SoapDmpTransport
) -> None:
    prepared = transport.prepare_submission(fixture_payload(), request_context())
    response = requests.post(
        f"{simulator.base_url}/repository",
        data=prepared.body,
        headers={"Content-Type": prepared.content_type},
        timeout=5,
    )

    assert response.status_code == 200
    content_type = response.headers["Content-Type"]
    main, params = header_params(content_type)
    assert (main, params["type"]) == ("multipart/related", "application/xop+xml")
    envelope = etree.fromstring(parse_multipart(response.content, content_type).root.content)
    wsa = "{http://www.w3.org/2005/08/addressing}"
    assert envelope.findtext(f".//{wsa}RelatesTo") == prepared.message_id
    assert envelope.findtext(f".//{wsa}Action") == (
        "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
    )


def test_rplc_deprecates_the_replaced_version(
    transport: SoapDmpTransport, signer: SigningIdentity
) -> None:
    context = request_context()
    first = builder_payload(signer)
    _file(transport, first)
    old = transport.find_document(context, first.document_oid)
    assert old is not None

    second = builder_payload(signer, replaces=(first.document_oid, old.entry_uuid))
    _file(transport, second)

    assert transport.find_document(context, first.document_oid).status == "Deprecated"
    assert transport.find_document(context, second.document_oid).status == "Approved"
    third = builder_payload(signer, replaces=(first.document_oid, old.entry_uuid))
    with pytest.raises(DmpRejected) as caught:  # a deprecated version cannot be replaced again
        _file(transport, third)
    assert caught.value.code == "XDSRegistryDeprecatedDocumentError"


def test_iti57_visibility_archive_and_delete(
    transport: SoapDmpTransport, signer: SigningIdentity, control: Callable[..., Any]
) -> None:
    context = request_context()
    payload = builder_payload(signer)
    _file(transport, payload)
    remote = transport.find_document(context, payload.document_oid)

    receipt = transport.update_visibility(
        context, remote, (Confidentiality.MASKED_FROM_PROFESSIONALS,)
    )
    assert receipt.status == "Success"
    updated = transport.find_document(context, payload.document_oid)
    assert updated.confidentiality_codes == ("N", "MASQUE_PS")
    assert updated.extra["version"] == "2"
    assert updated.extra["lid"] == remote.entry_uuid

    assert transport.set_availability(context, remote, "Archived").status == "Success"
    assert transport.find_document(context, payload.document_oid).status == "Archived"
    assert transport.set_availability(context, remote, "Archived").status == "Success"  # no-op

    assert transport.set_availability(context, remote, "Deleted").status == "Success"
    assert transport.find_document(context, payload.document_oid) is None
    with pytest.raises(DmpRejected) as caught:
        transport.set_availability(context, remote, "Deleted")
    assert caught.value.code == "DocumentNotFound"
    assert control("stats")["documents_by_status"]["Deleted"] == 1


# -- faults -------------------------------------------------------------------------------------


def _faults(control: Callable[..., Any], **config: Any) -> None:
    control("faults", config)


def test_http_500_is_transient_and_nothing_is_stored(
    transport: SoapDmpTransport, control: Callable[..., Any]
) -> None:
    _faults(control, modes=["http_500"], count=1)
    payload = fixture_payload()

    with pytest.raises(DmpUnavailable) as caught:
        _file(transport, payload)

    assert caught.value.code == "HTTP 500"
    assert transport.find_document(request_context(), payload.document_oid) is None
    assert control("stats")["faults_injected"] == {"http_500": 1}


def test_timeout_is_transient_within_the_configured_timeout(
    transport: SoapDmpTransport, control: Callable[..., Any]
) -> None:
    _faults(control, modes=["timeout"], count=1, timeout_seconds=5)

    with pytest.raises(DmpUnavailable) as caught:
        _file(transport, fixture_payload())

    # The simulator holds the answer 5 s: a "timeout" failure proves the 0.6 s read timeout fired.
    assert caught.value.code == "timeout"
    assert caught.value.message.startswith("Le DMP ne répond pas (délai dépassé)")


@pytest.mark.parametrize(
    ("config", "expected", "code"),
    [
        ({"modes": ["soap_fault"]}, DmpUnavailable, "soap:Receiver"),
        ({"modes": ["soap_fault"], "soap_fault_code": "Sender"}, DmpRejected, "soap:Sender"),
        ({"modes": ["registry_error"]}, DmpUnavailable, "XDSRegistryBusy"),
        (
            {"modes": ["registry_error"], "registry_error_code": "XDSRepositoryOutOfResources"},
            DmpUnavailable,
            "XDSRepositoryOutOfResources",
        ),
        (
            {"modes": ["registry_error"], "registry_error_code": "XDSUnknownPatientId"},
            DmpRejected,
            "XDSUnknownPatientId",
        ),
        ({"modes": ["reset"]}, DmpUnavailable, "connection"),
    ],
)
def test_fault_modes_are_classified(
    transport: SoapDmpTransport,
    control: Callable[..., Any],
    config: dict[str, Any],
    expected: type[Exception],
    code: str,
) -> None:
    _faults(control, count=1, **config)
    payload = fixture_payload()

    with pytest.raises(expected) as caught:
        _file(transport, payload)

    assert caught.value.code == code
    assert transport.find_document(request_context(), payload.document_oid) is None
    _file(transport, payload)  # the fault was injected once: the next attempt goes through


@pytest.mark.parametrize("mode", ["http_500", "reset"])
def test_lost_response_stores_the_document_but_the_client_cannot_tell(
    transport: SoapDmpTransport, control: Callable[..., Any], mode: str
) -> None:
    _faults(control, modes=["lost_response"], lost_response_mode=mode, count=1)
    payload = fixture_payload()
    context = request_context()

    with pytest.raises(DmpUnavailable):
        _file(transport, payload)

    found = transport.find_document(context, payload.document_oid)
    assert found is not None
    assert found.status == "Approved"
    # Retrying blindly would be refused: the outbox must look before it resends.
    with pytest.raises(DmpRejected) as caught:
        _file(transport, payload)
    assert caught.value.code == "XDSDuplicateUniqueIdInRegistry"
    stats = control("stats")
    assert stats["faults_injected"] == {"lost_response": 1}
    assert stats["submissions"][payload.document_oid] == 2


def test_faults_can_target_one_service_and_add_latency(
    transport: SoapDmpTransport, control: Callable[..., Any]
) -> None:
    _faults(control, modes=["http_500"], services=["registry"], latency_ms=50)
    payload = fixture_payload()

    started = time.monotonic()
    _file(transport, payload)
    assert time.monotonic() - started >= 0.05
    with pytest.raises(DmpUnavailable):
        transport.find_document(request_context(), payload.document_oid)


def test_fault_control_rejects_bad_configurations(
    simulator: RunningSimulator, control: Callable[..., Any]
) -> None:
    for body in ({"modes": ["explode"]}, {"failure_rate": 2}, {"colour": "blue"}):
        response = requests.post(f"{simulator.control_url}/faults", json=body, timeout=5)
        assert response.status_code == 400
        assert "error" in response.json()
    assert control("faults")["modes"] == []


def test_fault_injection_is_deterministic_with_a_seed() -> None:
    config = FaultConfig(modes=("http_500", "timeout", "reset"), failure_rate=0.5)

    def picks(seed: int) -> list[str | None]:
        injector = FaultInjector(config, seed=seed)
        return [injector.pick("repository") for _ in range(40)]

    assert picks(3) == picks(3)
    assert picks(3) != picks(4)
    assert {p for p in picks(3)} == {None, "http_500", "timeout", "reset"}


# -- what the simulator refuses -------------------------------------------------------------------


def _rewrite(
    prepared: PreparedRequest, change: Callable[[etree._Element], None]
) -> PreparedRequest:
    """Edit the SOAP envelope of a prepared MTOM request, keeping its binary parts."""
    message = parse_multipart(prepared.body, prepared.content_type)
    envelope = etree.fromstring(message.root.content)
    change(envelope)
    body, content_type = build_mtom(
        etree.tostring(envelope), list(message.parts.values()), action=prepared.action
    )
    return dataclasses.replace(prepared, body=body, content_type=content_type)


def _assertion(envelope: etree._Element) -> etree._Element:
    return envelope.find(f".//{SAML}Assertion")


def _unsigned(envelope: etree._Element) -> None:
    assertion = _assertion(envelope)
    assertion.remove(assertion.find(DS + "Signature"))


def _tampered(envelope: etree._Element) -> None:
    _assertion(envelope).find(f"{SAML}Subject/{SAML}NameID").text = "899999999999"


def _missing(envelope: etree._Element) -> None:
    assertion = _assertion(envelope)
    assertion.getparent().remove(assertion)


def _foreign_key(envelope: etree._Element) -> None:
    # Signed with the right structure, but the certificate shown is someone else's.
    other = generate_identity("Intrus", "Ailleurs")
    cert = _assertion(envelope).find(f"{DS}Signature/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    cert.text = b"".join(other.cert_pem.splitlines()[1:-1]).decode()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (_unsigned, "wsse:FailedCheck"),
        (_tampered, "wsse:FailedCheck"),
        (_foreign_key, "wsse:FailedCheck"),
        (_missing, "wsse:InvalidSecurity"),
    ],
)
def test_bad_vihf_is_refused_permanently(
    transport: SoapDmpTransport,
    control: Callable[..., Any],
    change: Callable[[etree._Element], None],
    code: str,
) -> None:
    payload = fixture_payload()
    prepared = _rewrite(transport.prepare_submission(payload, request_context()), change)

    with pytest.raises(DmpRejected) as caught:
        transport.send_submission(prepared)

    assert caught.value.code == code
    assert "VIHF" in caught.value.message
    assert transport.find_document(request_context(), payload.document_oid) is None
    assert control("stats")["refusals"] == {code: 1}


def test_hash_or_size_not_matching_the_attachment_is_refused(
    transport: SoapDmpTransport,
) -> None:
    payload = fixture_payload()
    [attachment] = payload.attachments
    forged = dataclasses.replace(
        payload, attachments=(Attachment(attachment.entry_id, attachment.content + b" "),)
    )

    with pytest.raises(DmpRejected) as caught:
        _file(transport, forged)

    assert caught.value.code == "XDSNonIdenticalHash"


def test_missing_metadata_is_refused(transport: SoapDmpTransport) -> None:
    payload = fixture_payload()
    xml = payload.submit_objects.replace(b'name="creationTime"', b'name="creationTim"')

    with pytest.raises(DmpRejected) as caught:
        _file(transport, dataclasses.replace(payload, submit_objects=xml))

    assert caught.value.code == "XDSRegistryMetadataError"


def test_schema_invalid_body_is_refused(transport: SoapDmpTransport) -> None:
    payload = fixture_payload()
    xml = payload.submit_objects.replace(
        b"<rim:RegistryObjectList>", b"<rim:Bogus/><rim:RegistryObjectList>"
    )

    with pytest.raises(DmpRejected) as caught:
        _file(transport, dataclasses.replace(payload, submit_objects=xml))

    assert caught.value.code == "XDSRegistryMetadataError"
    assert "non conforme" in caught.value.message


def test_unknown_action_is_a_sender_fault(transport: SoapDmpTransport) -> None:
    prepared = transport.prepare_submission(fixture_payload(), request_context())

    def change(envelope: etree._Element) -> None:
        envelope.find(".//{http://www.w3.org/2005/08/addressing}Action").text = "urn:wrong"

    with pytest.raises(DmpRejected) as caught:
        transport.send_submission(_rewrite(prepared, change))
    assert caught.value.code == "wsa:ActionNotSupported"


# -- persistence, concurrency, speed -----------------------------------------------------------


def test_documents_and_counters_survive_a_restart(tmp_path: Path, signer: SigningIdentity) -> None:
    store = tmp_path / "dmp-simulator.sqlite3"
    payload = fixture_payload()
    context = request_context()
    for attempt in range(2):
        base_url, stop = start_in_thread("127.0.0.1", 0, store_path=store)
        try:
            with requests.Session() as session:
                transport = SoapDmpTransport(
                    base_url,
                    signer,
                    lps_name="PTAP",
                    lps_version="1",
                    lps_homologation_id="H",
                    session=session,
                )
                if attempt == 0:
                    _file(transport, payload)
                else:
                    assert transport.find_document(context, payload.document_oid) is not None
                    with pytest.raises(DmpRejected):
                        _file(transport, payload)
                    assert stop.simulator.stats()["submissions"][payload.document_oid] == 2
        finally:
            stop()


def test_concurrent_submissions_are_all_stored(
    simulator: RunningSimulator, signer: SigningIdentity, control: Callable[..., Any]
) -> None:
    count, workers = 40, 4
    payloads = [builder_payload(signer) for _ in range(count)]

    def submit(payload: ProvideAndRegister) -> str:
        with requests.Session() as session:
            transport = SoapDmpTransport(
                simulator.base_url,
                signer,
                lps_name="PTAP",
                lps_version="1",
                lps_homologation_id="H",
                session=session,
            )
            prepared = transport.prepare_submission(payload, request_context())
            return transport.send_submission(prepared).status

    with ThreadPoolExecutor(workers) as pool:
        statuses = list(pool.map(submit, payloads))

    assert statuses == ["Success"] * count
    assert control("stats")["documents_stored"] == 2 * count


def test_iti41_conformance_findings_are_the_refusal_reasons() -> None:
    """The simulator takes the validator's report as is: a conformant body passes, and a body
    valid against the XSD but missing DMP metadata is refused with the validator's message."""
    fixture = Path(__file__).parent / "fixtures" / "ITI41_PPCS_new_submission_example.xml"
    request = etree.parse(str(fixture)).getroot()
    assert schema_errors(request, iti41=True) == []

    class_code = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
    rim_classification = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}Classification"
    for classification in list(request.iter(rim_classification)):
        if classification.get("classificationScheme") == class_code:
            classification.getparent().remove(classification)

    assert schema_errors(request, iti41=True) == [
        f"DocumentEntry Document01 lacks classCode ({class_code})"
    ]
