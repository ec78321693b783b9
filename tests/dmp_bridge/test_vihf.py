"""VIHF: the signed SAML 2.0 assertion of every DMP request (SPEC-NOTES §1.3)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from ptap.dmp_bridge.crypto import SigningIdentity, generate_identity
from ptap.dmp_bridge.ports import RequestContext
from ptap.dmp_bridge.vihf import (
    DS_NS,
    HL7_NS,
    SAML_NS,
    XSI_NS,
    VihfError,
    build_vihf_assertion,
    embedded_certificate,
    subject_roles,
    verify_vihf_assertion,
)
from tests.dmp_bridge.dmp_samples import (
    sample_coordinator,
    sample_organisation,
    sample_patient,
    sample_physician,
)

FIXTURES = Path(__file__).parent / "fixtures" / "transport"
S = "{" + SAML_NS + "}"
DS = "{" + DS_NS + "}"
NOW = datetime(2025, 1, 15, 9, 30, 12, 345000, tzinfo=UTC)


@pytest.fixture(scope="module")
def signer() -> SigningIdentity:
    return generate_identity("PTAP DMP seal (test)", "DAC de test")


def _context(subject=None) -> RequestContext:
    return RequestContext(
        patient=sample_patient(),
        subject=subject or sample_coordinator(),
        organisation=sample_organisation(),
    )


def _assertion(signer: SigningIdentity, **kwargs) -> etree._Element:
    options = {
        "lps_name": "PTAP",
        "lps_version": "1.4.0",
        "lps_homologation_id": "HOMOLOG-42",
        "now": NOW,
    }
    options.update(kwargs)
    context = options.pop("context", None) or _context()
    return build_vihf_assertion(context, signer, **options)


def _attributes(assertion: etree._Element) -> dict[str, list[etree._Element]]:
    return {
        a.get("Name"): list(a.iterfind(S + "AttributeValue"))
        for a in assertion.iterfind(f"{S}AttributeStatement/{S}Attribute")
    }


def _text(assertion: etree._Element, name: str) -> str:
    return _attributes(assertion)[name][0].text


def test_vihf_assertion_carries_the_dmp_attributes(signer: SigningIdentity) -> None:
    assertion = _assertion(signer)

    assert assertion.tag == S + "Assertion"
    assert assertion.get("Version") == "2.0"
    assert assertion.get("ID").startswith("_")
    assert assertion.get("IssueInstant") == "2025-01-15T09:30:12.345Z"
    issuer = assertion.find(S + "Issuer")
    assert issuer.text == signer.subject_dn
    assert issuer.get("Format") == "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
    assert assertion.findtext(f"{S}Subject/{S}NameID") == "3910000000/COORD042"
    conditions = assertion.find(S + "Conditions")
    assert conditions.get("NotOnOrAfter") == "2025-01-15T09:35:12.345Z"
    assert conditions.find(S + "AudienceRestriction") is None
    authn = assertion.find(S + "AuthnStatement")
    assert authn.get("AuthnInstant") == "2025-01-15T09:30:12.345Z"
    assert authn.findtext(f"{S}AuthnContext/{S}AuthnContextClassRef") == (
        "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
    )
    assert _text(assertion, "VIHF_Version") == "3.0"
    assert _text(assertion, "Authentification_Mode") == "INDIRECTE"
    assert _text(assertion, "Identifiant_Structure") == "1910000000"
    assert _text(assertion, "Secteur_Activite") == "SA57^1.2.250.1.71.4.2.4"
    assert _text(assertion, "urn:oasis:names:tc:xspa:1.0:subject:subject-id") == "COORDO Claire"
    assert _text(assertion, "urn:oasis:names:tc:xacml:2.0:resource:resource-id") == (
        "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    )
    assert _text(assertion, "Ressource_URN") == "urn:dmp"
    assert _text(assertion, "LPS_Nom") == "PTAP"
    assert _text(assertion, "LPS_Version") == "1.4.0"
    assert _text(assertion, "LPS_ID_HOMOLOGATION_DMP") == "HOMOLOG-42"
    assert "LPS_ID" not in _attributes(assertion)
    purpose = _attributes(assertion)["urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"][0][0]
    assert purpose.tag == "{" + HL7_NS + "}PurposeOfUse"
    assert purpose.get("code") == "normal"
    assert purpose.get("codeSystem") == "1.2.250.1.213.1.1.4.248"
    assert purpose.get("{" + XSI_NS + "}type") == "CE"
    roles = _attributes(assertion)["urn:oasis:names:tc:xacml:2.0:subject:role"]
    assert [(r[0].get("code"), r[0].get("codeSystem")) for r in roles] == [
        ("99", "1.2.250.1.213.1.6.1.140"),
        ("330", "1.2.250.1.213.1.6.1.107"),
    ]
    assert all(r[0].tag == "{" + HL7_NS + "}Role" for r in roles)


def test_vihf_version_and_lps_id_can_be_set(signer: SigningIdentity) -> None:
    assertion = _assertion(signer, vihf_version="4.0", lps_id="1.2.250.1.999.1.1.7777.100")
    assert _text(assertion, "VIHF_Version") == "4.0"
    assert _text(assertion, "LPS_ID") == "1.2.250.1.999.1.1.7777.100"


def test_vihf_signature_is_enveloped_exc_c14n_rsa_sha256_after_issuer(
    signer: SigningIdentity,
) -> None:
    assertion = _assertion(signer)

    signature = assertion[1]
    assert signature.tag == DS + "Signature"  # right after Issuer, as the schema wants
    info = signature.find(DS + "SignedInfo")
    exc_c14n = "http://www.w3.org/2001/10/xml-exc-c14n#"
    assert info.find(DS + "CanonicalizationMethod").get("Algorithm") == exc_c14n
    assert info.find(DS + "SignatureMethod").get("Algorithm") == (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    )
    reference = info.find(DS + "Reference")
    assert reference.get("URI") == "#" + assertion.get("ID")
    transforms = [t.get("Algorithm") for t in reference.iterfind(f"{DS}Transforms/{DS}Transform")]
    assert transforms == ["http://www.w3.org/2000/09/xmldsig#enveloped-signature", exc_c14n]
    assert signature.find(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate") is not None
    verify_vihf_assertion(assertion, signer.cert_pem)


def test_vihf_verifies_after_travelling_in_a_soap_envelope(signer: SigningIdentity) -> None:
    envelope = etree.fromstring(
        b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:x="urn:other">'
        b"<e:Header><w:Security xmlns:w='urn:wsse'/></e:Header><e:Body/></e:Envelope>"
    )
    envelope[0][0].append(_assertion(signer))
    received = etree.fromstring(etree.tostring(envelope))
    assertion = received.find(f".//{S}Assertion")

    verify_vihf_assertion(assertion, embedded_certificate(assertion))


def test_vihf_with_a_changed_attribute_is_refused(signer: SigningIdentity) -> None:
    assertion = _assertion(signer)
    assertion.find(f"{S}Subject/{S}NameID").text = "899999999999"

    with pytest.raises(VihfError, match="invalide"):
        verify_vihf_assertion(assertion, signer.cert_pem)


def test_vihf_without_signature_is_refused(signer: SigningIdentity) -> None:
    assertion = _assertion(signer)
    assertion.remove(assertion.find(DS + "Signature"))

    with pytest.raises(VihfError, match="non signée"):
        verify_vihf_assertion(assertion, signer.cert_pem)
    with pytest.raises(VihfError, match="certificat"):
        embedded_certificate(assertion)


def test_vihf_signed_by_another_key_is_refused(signer: SigningIdentity) -> None:
    other = generate_identity("Someone else", "Elsewhere")

    with pytest.raises(VihfError):
        verify_vihf_assertion(_assertion(signer), other.cert_pem)


def test_vihf_signature_must_cover_the_assertion_itself(signer: SigningIdentity) -> None:
    assertion = _assertion(signer)
    forged = copy.deepcopy(assertion)
    forged.set("ID", "_forged")  # the reference now points nowhere in this assertion

    with pytest.raises(VihfError):
        verify_vihf_assertion(forged, signer.cert_pem)


def test_vihf_needs_the_patient_ins_and_aware_datetimes(signer: SigningIdentity) -> None:
    context = RequestContext(sample_patient(ins=None), sample_coordinator(), sample_organisation())
    with pytest.raises(VihfError, match="INS"):
        _assertion(signer, context=context)
    with pytest.raises(VihfError, match="timezone"):
        _assertion(signer, now=datetime(2025, 1, 15, 9, 30))  # noqa: DTZ001


def test_vihf_validates_against_the_saml_schema_but_for_hl7_types(
    signer: SigningIdentity,
) -> None:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    schema = etree.XMLSchema(
        etree.parse(str(FIXTURES / "saml" / "sstc-saml-schema-assertion-2.0.xsd"), parser)
    )
    assertion = _assertion(signer, lifetime=timedelta(minutes=2))

    # The hl7 CE content (xsi:type="CE" in urn:hl7-org:v3) is unknown to the SAML schema:
    # that is the only complaint (the shared README says the same of the XUA example).
    assert not schema.validate(assertion)
    errors = list(schema.error_log)
    assert errors
    assert all("xsi:type" in e.message and "urn:hl7-org:v3" in e.message for e in errors)
    # Without those xsi:type attributes the assertion is schema-valid.
    stripped = copy.deepcopy(assertion)
    for element in stripped.iter("{" + HL7_NS + "}*"):
        del element.attrib["{" + XSI_NS + "}type"]
    assert schema.validate(stripped), schema.error_log


def _j65() -> set[tuple[str, str]]:
    root = etree.parse(str(FIXTURES / "JDV_J65-SubjectRole-DMP.xml"))
    concepts = root.iter("{urn:ihe:iti:svs:2008}Concept")
    return {(c.get("code"), c.get("codeSystem")) for c in concepts}


@pytest.mark.parametrize(
    ("profession", "specialty", "expected"),
    [
        ("physician", "", [("10", "1.2.250.1.71.1.2.7"), ("SM54", "1.2.250.1.71.4.2.5")]),
        (
            "physician",
            "G15_10/SM18",
            [("10", "1.2.250.1.71.1.2.7"), ("SM18", "1.2.250.1.71.4.2.5")],
        ),
        ("pharmacist", "", [("21", "1.2.250.1.71.1.2.7"), ("A", "1.2.250.1.71.4.2.6")]),
        ("nurse", "", [("60", "1.2.250.1.71.1.2.7")]),
        ("physiotherapist", "", [("70", "1.2.250.1.71.1.2.7")]),
        ("occupational_therapist", "", [("94", "1.2.250.1.71.1.2.7")]),
        ("dietitian", "", [("95", "1.2.250.1.71.1.2.7")]),
        ("psychologist", "", [("93", "1.2.250.1.213.1.6.1.109")]),
        ("social_worker", "", [("41", "1.2.250.1.213.1.6.1.4")]),
        ("administrative", "", [("SECRETARIAT_MEDICAL", "1.2.250.1.213.1.1.4.6")]),
        (
            "public_health",
            "",
            [("99", "1.2.250.1.213.1.6.1.140"), ("312", "1.2.250.1.213.1.6.1.107")],
        ),
    ],
)
def test_subject_roles_map_professions_to_jdv_j65(
    profession: str, specialty: str, expected: list[tuple[str, str]]
) -> None:
    roles = subject_roles(sample_physician(profession=profession, specialty=specialty))

    assert [(r.code, r.code_system) for r in roles] == expected
    assert set(expected) <= _j65()


def test_coordinator_role_is_330_coordonnateur_de_parcours() -> None:
    first, second = subject_roles(sample_coordinator())

    assert (first.code, first.code_system) in _j65()
    # TRE_R85 330 (2021-10) is not in our 2022-07 copy of JDV_J65: checked against TRE_R85.
    assert (second.code, second.code_system, second.display_name) == (
        "330",
        "1.2.250.1.213.1.6.1.107",
        "Coordonnateur de parcours",
    )


def test_unknown_profession_has_no_vihf_role() -> None:
    with pytest.raises(VihfError, match="Profession"):
        subject_roles(sample_physician(profession="astronaut"))
