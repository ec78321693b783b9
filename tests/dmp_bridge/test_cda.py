"""The CDA R2 N1 builder: XSD, French header, INS traits, replacement, escaping, schematrons."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from functools import cache

import pytest
from lxml import etree

from ptap.dmp_bridge.cda import build_cda
from ptap.dmp_bridge.conformance import validate_cda
from ptap.dmp_bridge.ports import DmpDocument, DocumentKind
from tests.dmp_bridge.dmp_samples import (
    CDA_XSD,
    OID_ROOT,
    TEST_INS,
    TEST_NIR_OID,
    replacement_ids,
    sample_document,
    sample_ids,
    sample_organisation,
    sample_patient,
    sample_pdf,
    sample_physician,
    spec_file,
)

NS = {"h": "urn:hl7-org:v3"}


@cache
def cda_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(spec_file(CDA_XSD))))


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml, etree.XMLParser(huge_tree=True))


def one(root: etree._Element, path: str) -> str:
    """Return the single string an XPath selects (an attribute or text())."""
    found = root.xpath(path, namespaces=NS)
    assert isinstance(found, list) and len(found) == 1, (path, found)
    return str(found[0])


def values(root: etree._Element, path: str) -> list[str]:
    found = root.xpath(path, namespaces=NS)
    assert isinstance(found, list)
    return [str(v) for v in found]


VARIANTS = {
    "ppcs": (sample_document(), sample_ids()),
    "replacement": (sample_document(), replacement_ids()),
    "letter": (sample_document(kind=DocumentKind.REFERRAL_LETTER), sample_ids()),
    "meeting": (sample_document(kind=DocumentKind.MEETING_REPORT), sample_ids()),
    "visit-report": (sample_document(kind=DocumentKind.VISIT_REPORT), sample_ids()),
    "physician-author": (sample_document(author=sample_physician()), sample_ids()),
    "unknown-birth-day": (
        sample_document(patient=sample_patient(birth_day=None, used_name="", used_first_name="")),
        sample_ids(),
    ),
    "minimal-organisation": (
        sample_document(
            organisation=sample_organisation(telecom="", street="", postal_code="", city=""),
            service_stop=None,
            local_patient_oid="",
        ),
        sample_ids(),
    ),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_build_cda_is_valid_against_cda_extended_xsd(name: str) -> None:
    schema = cda_schema()
    root = parse(build_cda(*VARIANTS[name]))
    assert schema.validate(root), schema.error_log


@pytest.mark.parametrize("name", VARIANTS)
def test_build_cda_passes_the_official_schematrons(name: str) -> None:
    report = validate_cda(build_cda(*VARIANTS[name]))
    assert report.ok, [getattr(e, "message", e) for e in report.errors]


def test_build_cda_writes_the_french_header() -> None:
    root = parse(build_cda(sample_document(), sample_ids()))
    assert one(root, "/h:ClinicalDocument/h:realmCode/@code") == "FR"
    assert one(root, "h:typeId/@root") == "2.16.840.1.113883.1.3"
    assert one(root, "h:typeId/@extension") == "POCD_HD000040"
    assert values(root, "h:templateId/@root") == [
        "2.16.840.1.113883.2.8.2.1",
        "1.2.250.1.213.1.1.1.1",
        "1.3.6.1.4.1.19376.1.2.20",
    ]
    assert one(root, "h:id/@root") == OID_ROOT + ".1.1"
    assert one(root, "h:code/@code") == "18776-5"
    assert one(root, "h:code/@displayName") == "Plan personnalisé de soins"
    assert one(root, "h:code/@codeSystem") == "2.16.840.1.113883.6.1"
    assert one(root, "h:title/text()") == "Plan personnalisé de coordination en santé (PPCS)"
    assert one(root, "h:effectiveTime/@value") == "20250115100000+0100"
    assert one(root, "h:confidentialityCode/@code") == "N"
    assert one(root, "h:confidentialityCode/@codeSystem") == "2.16.840.1.113883.5.25"
    assert one(root, "h:languageCode/@code") == "fr-FR"
    assert one(root, "h:setId/@root") == OID_ROOT + ".1"
    assert one(root, "h:versionNumber/@value") == "1"


def test_build_cda_uses_the_paris_offset_in_summer() -> None:
    doc = sample_document(created_at=datetime(2025, 7, 1, 8, 30, tzinfo=UTC))
    root = parse(build_cda(doc, sample_ids()))
    assert one(root, "h:effectiveTime/@value") == "20250701103000+0200"
    assert one(root, "h:author/h:time/@value") == "20250701103000+0200"


def test_build_cda_writes_the_ins_and_its_traits() -> None:
    root = parse(build_cda(sample_document(), sample_ids()))
    role = root.find("h:recordTarget/h:patientRole", NS)
    assert role is not None
    assert [(i.get("root"), i.get("extension")) for i in role.findall("h:id", NS)] == [
        (TEST_NIR_OID, TEST_INS),
        (OID_ROOT + ".9", "DAC-000123"),
    ]
    name = "h:patient/h:name/"
    assert one(role, name + "h:family[@qualifier='BR']/text()") == "PAT-TROIS"
    assert one(role, name + "h:given[not(@qualifier)]/text()") == "DOMINIQUE MARIE-LOUISE"
    assert one(role, name + "h:given[@qualifier='BR']/text()") == "DOMINIQUE"
    assert one(role, name + "h:family[@qualifier='CL']/text()") == "PAT-TROIS"
    assert one(role, name + "h:given[@qualifier='CL']/text()") == "DOMINIQUE"
    assert one(role, "h:patient/h:administrativeGenderCode/@code") == "F"
    assert one(role, "h:patient/h:birthTime/@value") == "19790328"
    assert one(role, "h:patient/h:birthplace/h:place/h:addr/h:county/text()") == "51215"


def test_build_cda_writes_used_names_only_when_known() -> None:
    patient = sample_patient(used_name="", used_first_name="")
    root = parse(build_cda(sample_document(patient=patient), sample_ids()))
    assert values(root, "//h:patient/h:name/*[@qualifier='CL']") == []


@pytest.mark.parametrize(
    ("month", "day", "expected"),
    [(3, 28, "19790328"), (3, None, "197903"), (None, None, "1979"), (None, 28, "1979")],
)
def test_build_cda_writes_partial_birth_dates(
    month: int | None, day: int | None, expected: str
) -> None:
    patient = sample_patient(birth_month=month, birth_day=day)
    root = parse(build_cda(sample_document(patient=patient), sample_ids()))
    assert one(root, "//h:patient/h:birthTime/@value") == expected


def test_build_cda_writes_author_custodian_and_legal_authenticator() -> None:
    root = parse(build_cda(sample_document(), sample_ids()))
    author = root.find("h:author", NS)
    assert author is not None
    assert one(author, "h:functionCode/@code") == "330"
    assert one(author, "h:time/@value") == "20250115100000+0100"
    assert one(author, "h:assignedAuthor/h:id/@root") == "1.2.250.1.71.4.2.1"
    assert one(author, "h:assignedAuthor/h:id/@extension") == "3910000000/COORD042"
    assert one(author, "h:assignedAuthor/h:code/@code") == "330"
    assert one(author, "h:assignedAuthor/h:code/@codeSystem") == "1.2.250.1.213.1.6.1.107"
    assert one(author, "h:assignedAuthor/h:assignedPerson/h:name/h:family/text()") == "COORDO"
    org = "h:assignedAuthor/h:representedOrganization/"
    assert one(author, org + "h:id/@root") == "1.2.250.1.71.4.2.2"
    assert one(author, org + "h:id/@extension") == "1910000000"
    custodian = "h:custodian/h:assignedCustodian/h:representedCustodianOrganization/"
    assert one(root, custodian + "h:id/@extension") == "1910000000"
    assert one(root, custodian + "h:name/text()") == "DAC de test (fictif)"
    assert one(root, "h:legalAuthenticator/h:time/@value") == "20250115100000+0100"
    assert one(root, "h:legalAuthenticator/h:signatureCode/@code") == "S"
    assert one(root, "h:legalAuthenticator/h:assignedEntity/h:id/@extension") == "801234567897"


def test_build_cda_writes_a_physician_author_with_specialty() -> None:
    root = parse(build_cda(sample_document(author=sample_physician()), sample_ids()))
    assert one(root, "h:author/h:assignedAuthor/h:code/@code") == "G15_10/SM54"
    assert one(root, "h:author/h:functionCode/@code") == "PCP"


def test_build_cda_omits_function_code_when_unknown() -> None:
    doc = sample_document(author=sample_physician(function_code=""))
    assert values(parse(build_cda(doc, sample_ids())), "h:author/h:functionCode") == []


def test_build_cda_writes_service_event_and_encounter() -> None:
    root = parse(build_cda(sample_document(), sample_ids()))
    event = "h:documentationOf/h:serviceEvent/"
    assert one(root, event + "h:effectiveTime/h:low/@value") == "20250110"
    assert one(root, event + "h:effectiveTime/h:high/@value") == "20250115"
    setting = event + "h:performer/h:assignedEntity/h:representedOrganization/"
    assert one(root, setting + "h:standardIndustryClassCode/@code") == "AMBULATOIRE"
    encounter = "h:componentOf/h:encompassingEncounter/"
    assert one(root, encounter + "h:effectiveTime/h:low/@value") == "20250110"
    assert one(root, encounter + "h:location/h:healthCareFacility/h:code/@code") == "SA57"


def test_build_cda_embeds_the_pdf() -> None:
    pdf = sample_pdf(20_000)
    root = parse(build_cda(sample_document(pdf=pdf), sample_ids()))
    text = root.find("h:component/h:nonXMLBody/h:text", NS)
    assert text is not None
    assert (text.get("mediaType"), text.get("representation")) == ("application/pdf", "B64")
    assert base64.b64decode(text.text or "") == pdf


def test_build_cda_relates_a_replacement_to_the_previous_version() -> None:
    root = parse(build_cda(sample_document(), replacement_ids()))
    assert one(root, "h:relatedDocument/@typeCode") == "RPLC"
    assert one(root, "h:relatedDocument/h:parentDocument/h:id/@root") == OID_ROOT + ".1.1"
    assert one(root, "h:setId/@root") == OID_ROOT + ".1"
    assert one(root, "h:versionNumber/@value") == "2"
    assert one(root, "h:id/@root") == OID_ROOT + ".1.2"


def test_build_cda_has_no_related_document_for_a_first_version() -> None:
    root = parse(build_cda(sample_document(), sample_ids()))
    assert values(root, "h:relatedDocument") == []


def test_build_cda_escapes_xml_special_characters() -> None:
    title = "Plan <b>\"urgent\"</b> & 'suivi' ]]> fin"
    patient = sample_patient(birth_name="O'BRIEN & <FILS>", first_names='JEAN-"LOUIS" PAUL')
    organisation = sample_organisation(name="DAC <Nord> & Co")
    doc = sample_document(title=title, patient=patient, organisation=organisation)
    xml = build_cda(doc, sample_ids())
    root = parse(xml)
    assert one(root, "h:title/text()") == title
    assert one(root, "//h:family[@qualifier='BR']/text()") == "O'BRIEN & <FILS>"
    assert one(root, "//h:given[@qualifier='BR']/text()") == 'JEAN-"LOUIS"'
    assert one(root, "h:custodian//h:name/text()") == "DAC <Nord> & Co"
    assert b"<b>" not in xml
    assert cda_schema().validate(root)


def test_build_cda_drops_characters_xml_cannot_carry() -> None:
    doc = sample_document(title="Plan\x00 de\x0b soins\x1f")
    assert one(parse(build_cda(doc, sample_ids())), "h:title/text()") == "Plan de soins"


@pytest.mark.parametrize(
    "patient",
    [
        sample_patient(ins=None),
        sample_patient(ins=""),
        sample_patient(ins_oid=None),
        sample_patient(ins="279035121518900"),  # wrong key
    ],
)
def test_build_cda_refuses_a_patient_without_valid_ins(patient: object) -> None:
    doc: DmpDocument = sample_document(patient=patient)
    with pytest.raises(ValueError, match="INS"):
        build_cda(doc, sample_ids())


def test_build_cda_takes_naive_datetimes_as_utc() -> None:
    doc = sample_document(created_at=datetime(2025, 1, 15, 9, 0))  # noqa: DTZ001
    assert one(parse(build_cda(doc, sample_ids())), "h:effectiveTime/@value") == (
        "20250115100000+0100"
    )
