"""The ITI-41 metadata builder and the XAdES signature of the submission set."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone
from functools import cache

import pytest
from lxml import etree

from ptap.dmp_bridge.cda import build_cda
from ptap.dmp_bridge.conformance import validate_iti41
from ptap.dmp_bridge.crypto import SigningIdentity, generate_identity
from ptap.dmp_bridge.ports import Confidentiality, DmpDocument, FilingIds, ProvideAndRegister
from ptap.dmp_bridge.xades import (
    SignatureInvalid,
    manifest_digests,
    sign_submission_set,
    verify_submission_set_signature,
)
from ptap.dmp_bridge.xds import (
    HAS_MEMBER,
    RPLC,
    SIGNS,
    SUBMISSION_SET_NODE,
    Scheme,
    build_provide_and_register,
    provide_and_register_xml,
)
from tests.dmp_bridge.dmp_samples import (
    OID_ROOT,
    SOURCE_OID,
    SUBMISSION_SET_OID,
    XDS_XSD,
    replacement_ids,
    sample_coordinator,
    sample_document,
    sample_ids,
    sample_organisation,
    sample_patient,
    spec_file,
)

NS = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"}
NOW = datetime(2025, 1, 15, 9, 15, tzinfo=UTC)
UUID_RE = re.compile(
    r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
INS_CX = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"


@pytest.fixture(scope="module")
def signer() -> SigningIdentity:
    return generate_identity("PTAP DMP seal (test)", "PTAP test")


@cache
def xds_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(spec_file(XDS_XSD))))


def build(
    signer: SigningIdentity, doc: DmpDocument | None = None, ids: FilingIds | None = None
) -> tuple[ProvideAndRegister, bytes, etree._Element]:
    doc = doc or sample_document()
    ids = ids or sample_ids()
    cda = build_cda(doc, ids)
    payload = build_provide_and_register(
        doc, ids, cda, signer, source_oid=SOURCE_OID, submission_set_oid=SUBMISSION_SET_OID, now=NOW
    )
    return payload, cda, etree.fromstring(payload.submit_objects)


def entries(root: etree._Element) -> tuple[etree._Element, etree._Element]:
    """Return the CDA DocumentEntry and the signature DocumentEntry."""
    cda_entry, signature_entry = root.findall("rim:RegistryObjectList/rim:ExtrinsicObject", NS)
    return cda_entry, signature_entry


def slot(node: etree._Element, name: str) -> list[str]:
    return [
        str(v)
        for v in node.xpath(
            f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value/text()", namespaces=NS
        )
    ]


def classified(node: etree._Element, scheme: str) -> list[tuple[str, str, str]]:
    """Return (nodeRepresentation, codingScheme, name) of the classifications of one scheme."""
    return [
        (
            c.get("nodeRepresentation", ""),
            (slot(c, "codingScheme") or [""])[0],
            c.find("rim:Name/rim:LocalizedString", NS).get("value", ""),
        )
        for c in node.findall(f"rim:Classification[@classificationScheme='{scheme}']", NS)
    ]


def external_id(node: etree._Element, scheme: str) -> str:
    found = node.findall(f"rim:ExternalIdentifier[@identificationScheme='{scheme}']", NS)
    assert len(found) == 1
    return found[0].get("value", "")


def associations(root: etree._Element, kind: str) -> list[etree._Element]:
    return root.findall(f"rim:RegistryObjectList/rim:Association[@associationType='{kind}']", NS)


def submission_set(root: etree._Element) -> etree._Element:
    found = root.find("rim:RegistryObjectList/rim:RegistryPackage", NS)
    assert found is not None
    return found


@pytest.mark.parametrize("replacing", [False, True])
def test_provide_and_register_is_valid_against_the_xds_b_schema(
    signer: SigningIdentity, replacing: bool
) -> None:
    payload, _, _ = build(signer, ids=replacement_ids() if replacing else sample_ids())
    body = etree.fromstring(provide_and_register_xml(payload), etree.XMLParser(huge_tree=True))
    assert xds_schema().validate(body), xds_schema().error_log


@pytest.mark.parametrize("replacing", [False, True])
def test_provide_and_register_passes_the_conformance_validator(
    signer: SigningIdentity, replacing: bool
) -> None:
    payload, _, _ = build(signer, ids=replacement_ids() if replacing else sample_ids())
    report = validate_iti41(provide_and_register_xml(payload))
    assert report.ok, [e.message for e in report.errors]


def test_document_entry_slots(signer: SigningIdentity) -> None:
    payload, cda, root = build(signer)
    entry, _ = entries(root)
    assert entry.get("mimeType") == "text/xml"
    assert entry.get("objectType") == "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
    assert slot(entry, "creationTime") == ["20250115090000"]
    assert slot(entry, "languageCode") == ["fr-FR"]
    assert slot(entry, "serviceStartTime") == ["20250110"]
    assert slot(entry, "serviceStopTime") == ["20250115"]
    assert slot(entry, "sourcePatientId") == [INS_CX]
    assert slot(entry, "sourcePatientInfo") == [
        "PID-5|PAT-TROIS^DOMINIQUE^^^^^L",
        "PID-7|19790328",
        "PID-8|F",
    ]
    assert slot(entry, "legalAuthenticator") == [
        "801234567897^MULLER^Charles^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    ]
    assert slot(entry, "hash") == [hashlib.sha1(cda).hexdigest()]  # noqa: S324
    assert slot(entry, "size") == [str(len(cda))]
    assert entry.find("rim:Name/rim:LocalizedString", NS).get("value") == (
        "Plan personnalisé de coordination en santé (PPCS)"
    )


def test_document_entry_without_service_stop_has_no_stop_time(signer: SigningIdentity) -> None:
    _, _, root = build(signer, doc=sample_document(service_stop=None))
    assert slot(entries(root)[0], "serviceStopTime") == []


def test_document_entry_classifications(signer: SigningIdentity) -> None:
    _, _, root = build(signer)
    entry, _ = entries(root)
    assert classified(entry, Scheme.DE_CLASS) == [
        ("44", "1.2.250.1.213.1.1.4.1", "Plan de soins, protocole de soins")
    ]
    assert classified(entry, Scheme.DE_TYPE) == [
        ("18776-5", "2.16.840.1.113883.6.1", "Plan personnalisé de soins")
    ]
    assert classified(entry, Scheme.DE_FORMAT) == [
        (
            "urn:ihe:iti:xds-sd:pdf:2008",
            "1.3.6.1.4.1.19376.1.2.3",
            "Document à corps non structuré en Pdf/A-1",
        )
    ]
    assert classified(entry, Scheme.DE_CONFIDENTIALITY) == [
        ("N", "2.16.840.1.113883.5.25", "Normal")
    ]
    assert classified(entry, Scheme.DE_FACILITY) == [
        (
            "SA57",
            "1.2.250.1.71.4.2.4",
            "Structure de coopération avec mission de coordination de soins",
        )
    ]
    assert classified(entry, Scheme.DE_PRACTICE) == [
        ("AMBULATOIRE", "1.2.250.1.213.1.1.4.9", "Ambulatoire")
    ]
    assert external_id(entry, Scheme.DE_PATIENT_ID) == INS_CX
    assert external_id(entry, Scheme.DE_UNIQUE_ID) == OID_ROOT + ".1.1"
    for node in entry.findall("rim:Classification", NS) + entry.findall(
        "rim:ExternalIdentifier", NS
    ):
        assert UUID_RE.match(node.get("id", ""))
        assert entry.get("id") in (node.get("classifiedObject"), node.get("registryObject"))


def test_document_entry_carries_the_requested_visibility_codes(signer: SigningIdentity) -> None:
    doc = sample_document(
        confidentiality=(
            Confidentiality.MASKED_FROM_PROFESSIONALS,
            Confidentiality.HIDDEN_FROM_REPRESENTATIVES,
        )
    )
    _, _, root = build(signer, doc=doc)
    codes = [c for c, _, _ in classified(entries(root)[0], Scheme.DE_CONFIDENTIALITY)]
    assert codes == ["N", "MASQUE_PS", "INVISIBLE_REPRESENTANTS_LEGAUX"]


def test_author_uses_the_hl7v2_xcn_and_xon_formats(signer: SigningIdentity) -> None:
    _, _, root = build(signer)
    for node, scheme in (
        (entries(root)[0], Scheme.DE_AUTHOR),
        (submission_set(root), Scheme.SS_AUTHOR),
    ):
        (author,) = node.findall(f"rim:Classification[@classificationScheme='{scheme}']", NS)
        assert author.get("nodeRepresentation") == ""
        assert slot(author, "authorPerson") == [
            "3910000000/COORD042^COORDO^Claire^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^EI"
        ]
        assert slot(author, "authorInstitution") == [
            "DAC de test (fictif)^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1910000000"
        ]
        assert slot(author, "authorRole") == ["Coordonnateur de parcours"]
        assert slot(author, "authorSpecialty") == [
            "330^Coordonnateur de parcours^1.2.250.1.213.1.6.1.107"
        ]


def test_hl7v2_delimiters_in_names_are_escaped(signer: SigningIdentity) -> None:
    doc = sample_document(
        author=sample_coordinator(family_name="DUPONT^MARTIN", given_name="Anne&Marie"),
        organisation=sample_organisation(name="DAC | Nord ~ Sud \\ Est"),
    )
    _, _, root = build(signer, doc=doc)
    (author,) = entries(root)[0].findall(
        f"rim:Classification[@classificationScheme='{Scheme.DE_AUTHOR}']", NS
    )
    assert slot(author, "authorPerson") == [
        "3910000000/COORD042^DUPONT\\S\\MARTIN^Anne\\T\\Marie^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^EI"
    ]
    assert slot(author, "authorInstitution")[0].startswith("DAC \\F\\ Nord \\R\\ Sud \\E\\ Est^")


def test_author_without_function_has_no_role(signer: SigningIdentity) -> None:
    _, _, root = build(signer, doc=sample_document(author=sample_coordinator(function_code="")))
    (author,) = entries(root)[0].findall(
        f"rim:Classification[@classificationScheme='{Scheme.DE_AUTHOR}']", NS
    )
    assert slot(author, "authorRole") == []


def test_submission_set(signer: SigningIdentity) -> None:
    _, _, root = build(signer)
    package = submission_set(root)
    set_id = package.get("id", "")
    assert UUID_RE.match(set_id)
    assert slot(package, "submissionTime") == ["20250115091500"]
    assert classified(package, Scheme.SS_CONTENT_TYPE) == [
        ("97", "1.2.250.1.213.2.2", "Type d'activité indifférencié")
    ]
    assert external_id(package, Scheme.SS_PATIENT_ID) == INS_CX
    assert external_id(package, Scheme.SS_SOURCE_ID) == SOURCE_OID
    assert external_id(package, Scheme.SS_UNIQUE_ID) == SUBMISSION_SET_OID
    (node,) = root.findall(
        f"rim:RegistryObjectList/rim:Classification[@classificationNode='{SUBMISSION_SET_NODE}']",
        NS,
    )
    assert node.get("classifiedObject") == set_id


def test_submission_time_is_utc(signer: SigningIdentity) -> None:
    doc, ids = sample_document(), sample_ids()
    paris = timezone(timedelta(hours=1))
    payload = build_provide_and_register(
        doc,
        ids,
        build_cda(doc, ids),
        signer,
        source_oid=SOURCE_OID,
        submission_set_oid=SUBMISSION_SET_OID,
        now=datetime(2025, 1, 15, 10, 15, tzinfo=paris),
    )
    package = submission_set(etree.fromstring(payload.submit_objects))
    assert slot(package, "submissionTime") == ["20250115091500"]


def test_associations_link_the_set_its_members_and_the_signature(signer: SigningIdentity) -> None:
    _, _, root = build(signer)
    cda_entry, signature_entry = entries(root)
    set_id = submission_set(root).get("id")
    members = associations(root, HAS_MEMBER)
    assert {(a.get("sourceObject"), a.get("targetObject")) for a in members} == {
        (set_id, cda_entry.get("id")),
        (set_id, signature_entry.get("id")),
    }
    for association in members:
        assert slot(association, "SubmissionSetStatus") == ["Original"]
    (signs,) = associations(root, SIGNS)
    assert (signs.get("sourceObject"), signs.get("targetObject")) == (
        signature_entry.get("id"),
        set_id,
    )
    assert associations(root, RPLC) == []


def test_replacement_adds_an_rplc_association(signer: SigningIdentity) -> None:
    ids = replacement_ids()
    _, _, root = build(signer, ids=ids)
    cda_entry, _ = entries(root)
    (rplc,) = associations(root, RPLC)
    assert rplc.get("sourceObject") == cda_entry.get("id")
    assert rplc.get("targetObject") == ids.replaces_entry_uuid
    assert external_id(cda_entry, Scheme.DE_UNIQUE_ID) == ids.document_oid


@pytest.mark.parametrize(
    "ids",
    [replacement_ids(replaces_entry_uuid=None), replacement_ids(replaces_document_oid=None)],
)
def test_replacement_needs_both_previous_ids(signer: SigningIdentity, ids: FilingIds) -> None:
    with pytest.raises(ValueError, match="entryUUID"):
        build(signer, ids=ids)


def test_patient_without_ins_is_refused(signer: SigningIdentity) -> None:
    doc = sample_document()
    cda = build_cda(doc, sample_ids())
    with pytest.raises(ValueError, match="INS"):
        build_provide_and_register(
            sample_document(patient=sample_patient(ins=None)),
            sample_ids(),
            cda,
            signer,
            source_oid=SOURCE_OID,
            submission_set_oid=SUBMISSION_SET_OID,
            now=NOW,
        )


def test_attachments_match_the_document_entries(signer: SigningIdentity) -> None:
    payload, cda, root = build(signer)
    cda_entry, signature_entry = entries(root)
    cda_attachment, signature_attachment = payload.attachments
    assert (cda_attachment.entry_id, cda_attachment.content) == (cda_entry.get("id"), cda)
    assert signature_attachment.entry_id == signature_entry.get("id")
    assert cda_attachment.mime_type == signature_attachment.mime_type == "text/xml"
    signature = signature_attachment.content
    assert slot(signature_entry, "hash") == [hashlib.sha1(signature).hexdigest()]  # noqa: S324
    assert slot(signature_entry, "size") == [str(len(signature))]
    assert (payload.submission_set_oid, payload.document_oid) == (
        SUBMISSION_SET_OID,
        OID_ROOT + ".1.1",
    )
    assert all(UUID_RE.match(a.entry_id) for a in payload.attachments)
    assert not payload.submit_objects.startswith(b"<?xml")


def test_entry_ids_are_fresh_for_every_build(signer: SigningIdentity) -> None:
    first, _, _ = build(signer)
    second, _, _ = build(signer)
    assert {a.entry_id for a in first.attachments}.isdisjoint(
        a.entry_id for a in second.attachments
    )


def test_signature_entry_codes(signer: SigningIdentity) -> None:
    _, _, root = build(signer)
    _, entry = entries(root)
    assert entry.get("mimeType") == "text/xml"
    assert slot(entry, "languageCode") == ["art"]
    assert classified(entry, Scheme.DE_CLASS) == [
        ("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature")
    ]
    assert classified(entry, Scheme.DE_TYPE) == [("E1762", "ASTM", "Full Document")]
    assert classified(entry, Scheme.DE_FORMAT) == [
        ("http://www.w3.org/2000/09/xmldsig#", "URN", "Default signature style")
    ]
    assert classified(entry, Scheme.DE_EVENT) == [
        ("1.2.840.10065.1.12.1.14", "1.2.840.10065.1.12", "Source")
    ]
    assert external_id(entry, Scheme.DE_PATIENT_ID) == INS_CX
    assert external_id(entry, Scheme.DE_UNIQUE_ID).startswith("2.25.")


def test_signature_verifies_and_lists_the_documents(signer: SigningIdentity) -> None:
    payload, cda, root = build(signer)
    signature = payload.attachments[1].content
    verify_submission_set_signature(signature, signer.cert_pem, documents={OID_ROOT + ".1.1": cda})
    digests = manifest_digests(signature)
    assert digests == {SUBMISSION_SET_OID: b"\x00", OID_ROOT + ".1.1": hashlib.sha256(cda).digest()}
    signature_oid = external_id(entries(root)[1], Scheme.DE_UNIQUE_ID)
    sig_root = etree.fromstring(signature)
    assert sig_root.get("Id") == "S-" + signature_oid
    ds = {"ds": "http://www.w3.org/2000/09/xmldsig#", "xa": "http://uri.etsi.org/01903/v1.1.1#"}
    assert sig_root.xpath("ds:Object/ds:Manifest/@Id", namespaces=ds) == ["IHEManifest"]
    assert sig_root.xpath("ds:SignedInfo/ds:Reference/@URI", namespaces=ds) == [
        "#IHEManifest",
        "#S0-SignedProperties",
    ]
    assert sig_root.xpath("//xa:SigningTime/text()", namespaces=ds) == ["2025-01-15T09:15:00Z"]


def _sign(signer: SigningIdentity, digest: bytes) -> bytes:
    return sign_submission_set(
        signer,
        submission_set_oid=SUBMISSION_SET_OID,
        document_digests={"1.2.3.4": digest},
        signature_oid="2.25.42",
        now=NOW,
    )


def test_signature_fails_after_tampering_with_a_document_digest(signer: SigningIdentity) -> None:
    genuine = hashlib.sha256(b"document").digest()
    signature = _sign(signer, genuine)
    forged = hashlib.sha256(b"forged").digest()
    tampered = signature.replace(base64.b64encode(genuine), base64.b64encode(forged))
    assert tampered != signature
    with pytest.raises(SignatureInvalid, match="IHEManifest"):
        verify_submission_set_signature(tampered, signer.cert_pem)


def test_signature_fails_for_another_document(signer: SigningIdentity) -> None:
    signature = _sign(signer, hashlib.sha256(b"document").digest())
    with pytest.raises(SignatureInvalid, match="1.2.3.4"):
        verify_submission_set_signature(signature, signer.cert_pem, documents={"1.2.3.4": b"other"})


def test_signature_fails_with_another_certificate(signer: SigningIdentity) -> None:
    signature = _sign(signer, hashlib.sha256(b"document").digest())
    other = generate_identity("Someone else", "Elsewhere")
    with pytest.raises(SignatureInvalid):
        verify_submission_set_signature(signature, other.cert_pem)


def test_signature_fails_after_tampering_with_the_signing_time(signer: SigningIdentity) -> None:
    signature = _sign(signer, hashlib.sha256(b"document").digest())
    tampered = signature.replace(b"2025-01-15T09:15:00Z", b"2024-01-15T09:15:00Z")
    assert tampered != signature
    with pytest.raises(SignatureInvalid):
        verify_submission_set_signature(tampered, signer.cert_pem)


def test_provide_and_register_xml_inlines_or_references_the_documents(
    signer: SigningIdentity,
) -> None:
    payload, _, _ = build(signer)
    xdsb = {"xdsb": "urn:ihe:iti:xds-b:2007", "xop": "http://www.w3.org/2004/08/xop/include"}
    inline = etree.fromstring(provide_and_register_xml(payload), etree.XMLParser(huge_tree=True))
    documents = inline.findall("xdsb:Document", xdsb)
    assert [(d.get("id"), base64.b64decode(d.text or "")) for d in documents] == [
        (a.entry_id, a.content) for a in payload.attachments
    ]
    mtom = etree.fromstring(provide_and_register_xml(payload, inline=False))
    hrefs = mtom.xpath("xdsb:Document/xop:Include/@href", namespaces=xdsb)
    assert [h.startswith("cid:") for h in hrefs] == [True, True]
