"""Every code the bridge sends exists, with that display name, in the official value sets."""

from __future__ import annotations

import csv
from functools import cache

import pytest
from lxml import etree

from ptap.accounts.models import Profession
from ptap.dmp_bridge import codes
from ptap.dmp_bridge.codes import Code
from ptap.dmp_bridge.ports import Confidentiality, DmpOrganisation, DocumentKind
from tests.dmp_bridge.dmp_samples import sample_coordinator, sample_physician, spec_file

SVS = "{urn:ihe:iti:svs:2008}"
JDV = "cisis-testcontenucda-3.0/jeuxDeValeurs/"
DERIVED = "terminology/derived/"


@cache
def value_set(name: str) -> frozenset[tuple[str, str, str]]:
    """Return the (code, codeSystem, displayName) triples of an SVS value-set file."""
    tree = etree.parse(str(spec_file(JDV + name)))
    return frozenset(
        (c.get("code", ""), c.get("codeSystem", ""), c.get("displayName", ""))
        for c in tree.iter(SVS + "Concept")
    )


@cache
def derived_rows(name: str) -> tuple[dict[str, str], ...]:
    """Return the rows of a CSV derived from the NOS (ASS_X16, JDV_J59, JDV_J60)."""
    with spec_file(DERIVED + name).open(encoding="utf-8", newline="") as handle:
        return tuple(csv.DictReader(handle))


def triple(code: Code) -> tuple[str, str, str]:
    return (code.code, code.system, code.display)


def test_type_codes_are_in_jdv_j07() -> None:
    for kind in DocumentKind:
        assert triple(codes.document_codes(kind).type_code) in value_set(
            "JDV_J07_XdsTypeCode_CISIS.xml"
        ), kind


def test_class_codes_follow_the_dmp_type_to_class_mapping() -> None:
    rows = derived_rows("dmp_typeCode_to_classCode_ASS_X16.csv")
    for kind in DocumentKind:
        kind_codes = codes.document_codes(kind)
        row = next(r for r in rows if r["typeCode"] == kind_codes.type_code.code)
        assert row["typeCode_displayName(JDV_J07)"] == kind_codes.type_code.display
        assert (row["classCode"], row["classCode_codingScheme"]) == (
            kind_codes.class_code.code,
            kind_codes.class_code.system,
        )
        assert row["classCode_displayName(JDV_J57)"] == kind_codes.class_code.display


def test_expected_codes_per_kind() -> None:
    expected = {
        DocumentKind.PPCS: ("18776-5", "44"),
        DocumentKind.REFERRAL_LETTER: ("96349-6", "10"),
        DocumentKind.MEETING_REPORT: ("34794-8", "10"),
        DocumentKind.VISIT_REPORT: ("11488-4", "10"),
    }
    for kind, (type_code, class_code) in expected.items():
        kind_codes = codes.document_codes(kind)
        assert (kind_codes.type_code.code, kind_codes.class_code.code) == (type_code, class_code)
        assert kind_codes.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"


def test_format_codes_are_in_jdv_j60() -> None:
    rows = {
        (r["formatCode"], r["codingScheme"], r["displayName"])
        for r in derived_rows("dmp_formatCode_JDV_J60.csv")
    }
    assert triple(codes.PDF_FORMAT) in rows
    assert triple(codes.SIGNATURE_FORMAT) in rows


def test_signature_type_and_class_codes_are_in_the_dmp_mapping() -> None:
    rows = derived_rows("dmp_typeCode_to_classCode_ASS_X16.csv")
    row = next(r for r in rows if r["typeCode"] == codes.SIGNATURE_TYPE.code)
    assert (row["typeCode_codingScheme"], row["typeCode_displayName(JDV_J07)"]) == (
        codes.SIGNATURE_TYPE.system,
        codes.SIGNATURE_TYPE.display,
    )
    assert (row["classCode"], row["classCode_codingScheme"]) == (
        codes.SIGNATURE_CLASS.code,
        codes.SIGNATURE_CLASS.system,
    )
    assert row["classCode_displayName(JDV_J57)"] == codes.SIGNATURE_CLASS.display


def test_content_type_code_is_in_jdv_j59() -> None:
    rows = {
        (r["code"], r["codingScheme"], r["displayName"])
        for r in derived_rows("dmp_contentTypeCode_JDV_J59.csv")
    }
    assert triple(codes.CONTENT_TYPE) in rows


def test_author_codes_are_in_jdv_j01() -> None:
    j01 = value_set("JDV_J01_XdsAuthorSpecialty_CISIS.xml")
    for profession, code in codes.PROFESSIONS.items():
        assert triple(code) in j01, profession
    for specialty, code in codes.PHYSICIAN_SPECIALTIES.items():
        assert triple(code) in j01, specialty


def test_every_ptap_profession_has_an_author_code() -> None:
    assert set(codes.PROFESSIONS) == {p.value for p in Profession}


def test_function_codes_are_in_jdv_j47() -> None:
    j47 = value_set("JDV_J47_FunctionCode_CISIS.xml")
    for code in codes.FUNCTIONS.values():
        assert triple(code) in j47, code


def test_confidentiality_codes_are_in_jdv_j08() -> None:
    j08 = value_set("JDV_J08_XdsConfidentialityCode_CISIS.xml")
    assert triple(codes.CONFIDENTIALITY_NORMAL) in j08
    for code in codes.DMP_VISIBILITY.values():
        assert triple(code) in j08, code


def test_gender_codes_are_in_jdv_j143() -> None:
    j143 = value_set("JDV_J143_AdministrativeGender_CISIS.xml")
    for code in codes.GENDERS.values():
        assert triple(code) in j143, code


def test_organisation_defaults_are_in_j02_and_j04() -> None:
    org = DmpOrganisation(name="DAC", id_nat="1910000000")
    assert (org.facility_type_code, "1.2.250.1.71.4.2.4", org.facility_type_display) in value_set(
        "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.xml"
    )
    assert (
        org.practice_setting_code,
        "1.2.250.1.213.1.1.4.9",
        org.practice_setting_display,
    ) in value_set("JDV_J04_XdsPracticeSettingCode_CISIS.xml")


def test_author_codes_maps_a_general_practitioner_to_sm54() -> None:
    author_codes = codes.author_codes(sample_physician(specialty="SM54"))
    assert author_codes.specialty.code == "G15_10/SM54"
    assert author_codes.specialty.hl7v2() == (
        "G15_10/SM54^Médecin - Médecine Générale (SM)^1.2.250.1.213.1.1.4.5"
    )
    assert author_codes.function is not None
    assert author_codes.function.display == "Médecin traitant"


def test_author_codes_falls_back_to_the_profession_for_other_specialties() -> None:
    assert codes.author_codes(sample_physician(specialty="SM99")).specialty.code == "G15_10"
    assert codes.author_codes(sample_physician(specialty="")).specialty.code == "G15_10"


def test_author_codes_maps_a_coordinator_to_role_330() -> None:
    author_codes = codes.author_codes(sample_coordinator())
    assert author_codes.specialty.hl7v2() == (
        "330^Coordonnateur de parcours^1.2.250.1.213.1.6.1.107"
    )
    assert author_codes.function == codes.FUNCTIONS["330"]


def test_author_codes_without_function_code_has_no_role() -> None:
    assert codes.author_codes(sample_coordinator(function_code="")).function is None


@pytest.mark.parametrize(
    "author",
    [sample_coordinator(profession="astronaut"), sample_coordinator(function_code="XYZ")],
)
def test_author_codes_refuses_unknown_values(author: object) -> None:
    with pytest.raises(ValueError, match="J47|no DMP author code"):
        codes.author_codes(author)  # type: ignore[arg-type]


def test_confidentiality_codes_start_with_n_and_drop_duplicates() -> None:
    values = (
        Confidentiality.HIDDEN_FROM_PATIENT,
        Confidentiality.NORMAL,
        Confidentiality.MASKED_FROM_PROFESSIONALS,
        Confidentiality.HIDDEN_FROM_PATIENT,
    )
    assert [c.code for c in codes.confidentiality_codes(values)] == [
        "N",
        "INVISIBLE_PATIENT",
        "MASQUE_PS",
    ]
