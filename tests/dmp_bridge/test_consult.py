"""Consulting a DMP: ITI-18 with filters and ITI-43 over MTOM, against the simulator and
against recorded responses; the VIHF's access mode; the safe CDA viewer."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import requests
from lxml import etree

from ptap.devtools.dmp_simulator import RunningSimulator, start_in_thread
from ptap.devtools.dmp_simulator.seed import SAMPLES
from ptap.dmp_bridge.consult import ViewKind, document_view, render_cda_narrative
from ptap.dmp_bridge.crypto import SigningIdentity, generate_identity
from ptap.dmp_bridge.mtom import XOP_NS, MimePart, build_mtom, cid_href
from ptap.dmp_bridge.ports import (
    AccessMode,
    DmpAuthor,
    DmpRejected,
    DmpUnavailable,
    DocumentSearch,
    RequestContext,
    RetrievedDocument,
)
from ptap.dmp_bridge.soap import ITI43_ACTION, SoapDmpTransport, read_retrieve_response
from ptap.dmp_bridge.vihf import BREAK_GLASS_REASON, VihfError, build_vihf_assertion
from tests.dmp_bridge.test_soap import request_context

SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
HL7 = "{urn:hl7-org:v3}"
XDSB_NS = "urn:ihe:iti:xds-b:2007"
LDL = SAMPLES / "LDL-SES_2022.01.xml"


@pytest.fixture(scope="module")
def signer() -> SigningIdentity:
    return generate_identity("PTAP DMP seal (test)", "DAC de test")


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    _, stop = start_in_thread("127.0.0.1", 0, seed=3, seed_examples=True)
    yield stop
    stop()


@pytest.fixture
def transport(simulator: RunningSimulator, signer: SigningIdentity) -> Iterator[SoapDmpTransport]:
    requests.post(f"{simulator.control_url}/reset", timeout=5).raise_for_status()
    with requests.Session() as session:
        yield SoapDmpTransport(
            simulator.base_url,
            signer,
            lps_name="PTAP",
            lps_version="1.4.0",
            lps_homologation_id="HOMOLOG-42",
            connect_timeout=2.0,
            read_timeout=2.0,
            consult_timeout=2.0,
            session=session,
        )


def professional(**changes: object) -> RequestContext:
    """The sample context with a physician identified by RPPS as VIHF subject."""
    context = request_context()
    subject = DmpAuthor(
        id_nat="810001234567",
        family_name="MARTIN",
        given_name="Claire",
        profession="physician",
        specialty="SM54",
    )
    return dataclasses.replace(context, subject=subject, **changes)


def _attr(assertion: etree._Element, name: str) -> etree._Element | None:
    return assertion.find(f"{SAML}AttributeStatement/{SAML}Attribute[@Name='{name}']")


# -- the VIHF's access mode -----------------------------------------------------------------


def test_vihf_says_normal_access_by_default(signer: SigningIdentity) -> None:
    assertion = build_vihf_assertion(
        professional(),
        signer,
        lps_name="P",
        lps_version="1",
        lps_homologation_id="H",
        now=_now(),
    )
    purpose = _attr(assertion, "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse")
    assert purpose is not None
    assert purpose[0][0].get("code") == "normal"
    assert _attr(assertion, BREAK_GLASS_REASON) is None


def test_vihf_carries_bris_de_glace_mode_and_reason(signer: SigningIdentity) -> None:
    context = professional(
        access_mode=AccessMode.BREAK_GLASS, access_reason="Malaise à domicile, patient inconscient"
    )
    assertion = build_vihf_assertion(
        context, signer, lps_name="P", lps_version="1", lps_homologation_id="H", now=_now()
    )
    purpose = _attr(assertion, "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse")
    assert purpose is not None
    assert purpose[0][0].get("code") == "bris_de_glace"
    assert purpose[0][0].get("displayName") == "Accès en bris de glace"
    reason = _attr(assertion, BREAK_GLASS_REASON)
    assert reason is not None
    assert reason[0].text == "Malaise à domicile, patient inconscient"


def test_vihf_refuses_bris_de_glace_without_reason(signer: SigningIdentity) -> None:
    with pytest.raises(VihfError):
        build_vihf_assertion(
            professional(access_mode=AccessMode.BREAK_GLASS, access_reason="  "),
            signer,
            lps_name="P",
            lps_version="1",
            lps_homologation_id="H",
            now=_now(),
        )


def _now():  # type: ignore[no-untyped-def]
    from ptap.core import clock

    return clock.now()


# -- ITI-18 / ITI-43 against the simulator ---------------------------------------------------


def test_list_filter_and_retrieve_against_the_simulator(transport: SoapDmpTransport) -> None:
    context = professional()
    documents = transport.list_documents(context)
    titles = sorted(d.extra["title"] for d in documents)
    # The masked psychiatry report is not shown in normal mode.
    assert titles == [
        "Compte rendu d'examens biologiques",
        "Compte rendu de consultation de cardiologie",
        "Lettre de liaison à la sortie — Médecine interne",
    ]
    lab = next(d for d in documents if d.extra["type_code"] == "11502-2")
    assert "INVISIBLE_PATIENT" in lab.confidentiality_codes
    assert lab.extra["author"] == "Louise PASTEUR"
    assert lab.extra["repository_id"]
    assert lab.extra["type_display"] == "CR d'examens biologiques"

    only_labs = transport.list_documents(context, DocumentSearch(type_codes=("11502-2",)))
    assert [d.unique_id for d in only_labs] == [lab.unique_id]
    november = transport.list_documents(
        context, DocumentSearch(created_from=date(2026, 11, 1), created_to=date(2026, 11, 20))
    )
    assert {d.extra["type_code"] for d in november} == {"11502-2", "11488-4"}
    by_author = transport.list_documents(context, DocumentSearch(author="leblanc"))
    assert [d.extra["type_code"] for d in by_author] == ["11490-0"]

    retrieved = transport.retrieve_document(context, lab.unique_id, lab.extra["repository_id"])
    assert retrieved.mime_type == "text/xml"
    assert retrieved.content == (SAMPLES / "CR-BIO_exemple.xml").read_bytes()
    pdf = next(d for d in documents if d.extra["mime_type"] == "application/pdf")
    got = transport.retrieve_document(context, pdf.unique_id, pdf.extra["repository_id"])
    assert got.content.startswith(b"%PDF-")
    assert document_view(got).kind == ViewKind.PDF


def test_simulator_honours_bris_de_glace(transport: SoapDmpTransport) -> None:
    normal = transport.list_documents(professional())
    glass = professional(access_mode=AccessMode.BREAK_GLASS, access_reason="Urgence vitale")
    documents = transport.list_documents(glass)
    assert len(documents) == len(normal) + 1
    masked = next(d for d in documents if "MASQUE_PS" in d.confidentiality_codes)
    # In normal mode the repository refuses the masked document too.
    with pytest.raises(DmpRejected):
        transport.retrieve_document(professional(), masked.unique_id, "")
    got = transport.retrieve_document(glass, masked.unique_id, masked.extra["repository_id"])
    assert got.content.startswith(b"%PDF-")


def test_simulator_refuses_a_vihf_without_a_professional(transport: SoapDmpTransport) -> None:
    # The automated-filing subject (3 + FINESS/local id) may file, never consult.
    context = request_context()
    automated = dataclasses.replace(
        context, subject=dataclasses.replace(context.subject, id_nat="3123456789/PTAP1")
    )
    with pytest.raises(DmpRejected) as caught:
        transport.list_documents(automated)
    assert caught.value.code == "DMPAccessDenied"
    with pytest.raises(DmpRejected):
        transport.retrieve_document(automated, "2.25.1", "1.2.250.1.213.1.1.1.1")


def test_unreachable_dmp_is_a_french_unavailable_error(signer: SigningIdentity) -> None:
    transport = SoapDmpTransport(
        "http://127.0.0.1:9/si-dmp-server/v2/services",
        signer,
        lps_name="PTAP",
        lps_version="1",
        lps_homologation_id="H",
        connect_timeout=0.5,
        consult_timeout=0.5,
    )
    with pytest.raises(DmpUnavailable) as caught:
        transport.list_documents(professional())
    assert "DMP" in caught.value.message


# -- ITI-43 against recorded responses ---------------------------------------------------------


def _recorded(documents: list[tuple[str, bytes]], status: str = "Success") -> tuple[bytes, str]:
    """An ITI-43 answer as a DMP sends it (MTOM, documents as parts)."""
    parts = []
    answers = []
    for i, (unique_id, content) in enumerate(documents):
        cid = f"doc{i}@dmp.example"
        parts.append(MimePart(cid, "text/xml", content))
        answers.append(
            f"<xdsb:DocumentResponse><xdsb:RepositoryUniqueId>1.2.3</xdsb:RepositoryUniqueId>"
            f"<xdsb:DocumentUniqueId>{unique_id}</xdsb:DocumentUniqueId>"
            f"<xdsb:mimeType>text/xml</xdsb:mimeType><xdsb:Document>"
            f'<xop:Include xmlns:xop="{XOP_NS}" href="{cid_href(cid)}"/>'
            f"</xdsb:Document></xdsb:DocumentResponse>"
        )
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
        f'<xdsb:RetrieveDocumentSetResponse xmlns:xdsb="{XDSB_NS}">'
        '<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" '
        f'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:{status}"/>'
        + "".join(answers)
        + "</xdsb:RetrieveDocumentSetResponse></soap:Body></soap:Envelope>"
    ).encode()
    return build_mtom(envelope, parts, action=ITI43_ACTION + "Response")


class _Recorded:
    """A requests.Session stand-in answering one recorded response."""

    def __init__(self, body: bytes, content_type: str, status: int = 200) -> None:
        self.body, self.content_type, self.status = body, content_type, status
        self.sent: list[bytes] = []

    def post(self, url: str, data: bytes, **kwargs: object) -> requests.Response:
        self.sent.append(data)
        response = requests.Response()
        response.status_code = self.status
        response._content = self.body
        response.headers["Content-Type"] = self.content_type
        return response

    def close(self) -> None:
        pass


def _recorded_transport(session: _Recorded, signer: SigningIdentity) -> SoapDmpTransport:
    return SoapDmpTransport(
        "https://dmp.example/services",
        signer,
        lps_name="PTAP",
        lps_version="1",
        lps_homologation_id="H",
        session=session,  # type: ignore[arg-type]
    )


def test_retrieve_reads_a_recorded_mtom_answer(signer: SigningIdentity) -> None:
    body, content_type = _recorded([("2.25.9", LDL.read_bytes())])
    session = _Recorded(body, content_type)
    got = _recorded_transport(session, signer).retrieve_document(professional(), "2.25.9", "1.2.3")
    assert got.content == LDL.read_bytes()
    request = session.sent[0]
    assert ITI43_ACTION.encode() in request
    assert b"<xdsb:DocumentUniqueId>2.25.9</xdsb:DocumentUniqueId>" in request


def test_retrieve_of_an_absent_document_is_rejected(signer: SigningIdentity) -> None:
    body, content_type = _recorded([], status="Failure")
    with pytest.raises(DmpRejected):
        _recorded_transport(_Recorded(body, content_type), signer).retrieve_document(
            professional(), "2.25.9", "1.2.3"
        )


def test_recorded_answer_with_inline_base64_is_read() -> None:
    response = etree.fromstring(
        f'<xdsb:RetrieveDocumentSetResponse xmlns:xdsb="{XDSB_NS}"><xdsb:DocumentResponse>'
        "<xdsb:DocumentUniqueId>1.2</xdsb:DocumentUniqueId><xdsb:mimeType>application/pdf"
        f"</xdsb:mimeType><xdsb:Document>{base64.b64encode(b'%PDF-1.4 x').decode()}"
        "</xdsb:Document></xdsb:DocumentResponse></xdsb:RetrieveDocumentSetResponse>".encode()
    )
    got = read_retrieve_response(response, b"", {}, "1.2")
    assert got.content == b"%PDF-1.4 x"
    assert got.mime_type == "application/pdf"


# -- the CDA viewer --------------------------------------------------------------------------


def test_cda_n3_example_is_rendered_with_its_narrative() -> None:
    view = document_view(RetrievedDocument("1", "text/xml", LDL.read_bytes()))
    assert view.kind == ViewKind.CDA
    assert view.title == "Lettre de liaison à la sortie de l'établissement de santé"
    assert "<h3>Motif de l'hospitalisation</h3>" in view.html
    assert "Episode psychotique" in view.html
    assert "<table" in view.html


def test_injected_script_in_a_narrative_block_stays_inert() -> None:
    cda = LDL.read_bytes().replace(
        b"<td>Episode psychotique",
        b'<td><script>alert("x")</script><img src="x" onerror="alert(1)"/>'
        b'<content styleCode="Bold" onclick="alert(2)">&lt;script&gt;alert(3)&lt;/script&gt;'
        b"</content>Episode psychotique",
        1,
    )
    assert cda != LDL.read_bytes()
    html = render_cda_narrative(etree.fromstring(cda))
    assert "<script" not in html
    assert "<img" not in html
    assert "onclick" not in html and "onerror" not in html
    # The text of the foreign elements stays, as text.
    assert 'alert("x")' in html
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html


def test_cda_with_external_entities_is_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    cda = (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>'
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><title>t</title><component><structuredBody>'
        "<component><section><title>S</title><text><paragraph>&e;</paragraph></text></section>"
        "</component></structuredBody></component></ClinicalDocument>"
    ).encode()
    view = document_view(RetrievedDocument("1", "text/xml", cda))
    assert "TOP-SECRET" not in view.html


def test_unknown_formats_are_downloads_and_n1_pdf_is_shown() -> None:
    assert document_view(RetrievedDocument("1", "image/tiff", b"II*\x00")).kind == (
        ViewKind.DOWNLOAD
    )
    assert document_view(RetrievedDocument("1", "text/xml", b"<a>")).kind == ViewKind.DOWNLOAD
    pdf = base64.b64encode(b"%PDF-1.4 body").decode()
    n1 = (
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><component><nonXMLBody>'
        f'<text mediaType="application/pdf" representation="B64">{pdf}</text>'
        "</nonXMLBody></component></ClinicalDocument>"
    ).encode()
    view = document_view(RetrievedDocument("1", "text/xml", n1))
    assert view.kind == ViewKind.PDF
    assert view.content == b"%PDF-1.4 body"


def test_the_answer_cache_holds_a_bounded_number_of_bytes() -> None:
    """Retrieved documents are megabytes: the per-process cache evicts the oldest beyond its
    byte budget and never keeps one larger than it (256 PDFs would exhaust a worker)."""
    from ptap.dmp_bridge import consult

    cache = consult._TtlCache(max_entries=256, max_bytes=1000)
    for n in range(5):
        cache.put(("doc", n), b"x" * 400, 60, size=400)
    kept = [n for n in range(5) if cache.get(("doc", n)) is not None]
    assert kept == [3, 4]
    cache.put(("big",), b"x" * 1001, 60, size=1001)
    assert cache.get(("big",)) is None and cache.get(("doc", 4)) is not None
    assert consult._cache.max_bytes <= 64 * 1024 * 1024
