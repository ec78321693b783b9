"""Conformance validators: XSD + ANS schematrons for CDA, XSD + DMP metadata for ITI-41."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from ptap.dmp_bridge.conformance import (
    ConformanceReport,
    DocumentKind,
    format_report,
    validate_cda,
    validate_file,
    validate_iti41,
)
from ptap.dmp_bridge.conformance.runner import compiled_schematron, parse_document

FIXTURES = Path(__file__).parent / "fixtures"
PPCS = FIXTURES / "PPCS_CDA-R2-N1_example.xml"
ANS_N1 = FIXTURES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml"
ITI41_NEW = FIXTURES / "ITI41_PPCS_new_submission_example.xml"
ITI41_RPLC = FIXTURES / "ITI41_PPCS_replace_RPLC_example.xml"
TINY_SCHEMATRON = FIXTURES / "schematron" / "main.sch"

HL7 = "urn:hl7-org:v3"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS = {"h": HL7, "rim": RIM, "xdsb": "urn:ihe:iti:xds-b:2007"}
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
CLASS_CODE_SCHEME = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"


def _mutated(path: Path, mutate: Callable[[etree._Element], None]) -> bytes:
    root = etree.parse(str(path)).getroot()
    mutate(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _messages(report: ConformanceReport, source: str) -> list[str]:
    return [f.message for f in report.errors if f.schematron == source]


def _replace_body_with_section(root: etree._Element, template_id: str, code: str) -> None:
    component = root.find("h:component", NS)
    assert component is not None
    component.clear()
    body = etree.SubElement(component, f"{{{HL7}}}structuredBody")
    section = etree.SubElement(etree.SubElement(body, f"{{{HL7}}}component"), f"{{{HL7}}}section")
    etree.SubElement(section, f"{{{HL7}}}templateId", root=template_id)
    etree.SubElement(section, f"{{{HL7}}}code", code=code, codeSystem="2.16.840.1.113883.6.1")
    etree.SubElement(section, f"{{{HL7}}}title").text = "Titre libre"
    etree.SubElement(section, f"{{{HL7}}}text").text = "Texte"


# --- positive cases -------------------------------------------------------------------------


def test_validate_cda_accepts_generated_ppcs():
    report = validate_cda(PPCS.read_bytes())

    assert report.kind is DocumentKind.CDA
    assert report.ok, format_report(report)


def test_validate_cda_accepts_ans_unstructured_example():
    report = validate_cda(ANS_N1.read_bytes())

    assert report.ok, format_report(report)


@pytest.mark.parametrize("fixture", [ITI41_NEW, ITI41_RPLC])
def test_validate_iti41_accepts_generated_bodies(fixture):
    report = validate_iti41(fixture.read_bytes())

    assert report.kind is DocumentKind.ITI41
    assert report.ok, format_report(report)


def test_validate_iti41_extracts_request_from_mtom_soap_envelope():
    request = etree.parse(str(ITI41_NEW)).getroot()
    document = request.find("xdsb:Document", NS)
    assert document is not None
    document.text = None
    etree.SubElement(
        document, "{http://www.w3.org/2004/08/xop/include}Include", href="cid:doc1@ptap"
    )
    envelope = etree.Element(f"{{{SOAP12}}}Envelope")
    etree.SubElement(envelope, f"{{{SOAP12}}}Header")
    etree.SubElement(envelope, f"{{{SOAP12}}}Body").append(request)

    report = validate_iti41(etree.tostring(envelope))

    assert report.ok, format_report(report)


def test_validate_file_detects_each_kind(tmp_path):
    request = etree.parse(str(ITI41_NEW)).getroot()
    submit = request.find("{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest")
    submit_file = tmp_path / "submit.xml"
    submit_file.write_bytes(etree.tostring(submit))
    other = tmp_path / "other.xml"
    other.write_bytes(b"<html/>")

    assert validate_file(PPCS).kind is DocumentKind.CDA
    assert validate_file(ITI41_RPLC).kind is DocumentKind.ITI41
    assert validate_file(submit_file).ok
    assert validate_file(submit_file).kind is DocumentKind.SUBMIT_OBJECTS
    unknown = validate_file(other)
    assert unknown.kind is DocumentKind.UNKNOWN
    assert not unknown.ok


def test_validate_cda_reports_malformed_xml():
    report = validate_cda(b"<ClinicalDocument>")

    assert not report.ok
    assert report.errors[0].pattern_id == "well-formedness"


def test_format_report_lists_findings():
    report = validate_cda(_mutated(PPCS, lambda r: r.insert(3, etree.Element(f"{{{HL7}}}foo"))))

    text = format_report(report)

    assert text.startswith("cda: NOT CONFORMANT")
    assert "[ERROR] XSD CDA_extended.xsd" in text


# --- negative cases: each validator catches a defect, with the specification's own message ---


def test_xsd_rejects_unknown_element():
    report = validate_cda(_mutated(PPCS, lambda r: r.insert(3, etree.Element(f"{{{HL7}}}foo"))))

    messages = _messages(report, "XSD CDA_extended.xsd")
    assert any("Element '{urn:hl7-org:v3}foo': This element is not expected" in m for m in messages)


def test_asip_struct_min_requires_ins_birth_name():
    def drop_birth_name(root: etree._Element) -> None:
        family = root.find(".//h:patient/h:name/h:family[@qualifier='BR']", NS)
        assert family is not None
        family.getparent().remove(family)

    report = validate_cda(_mutated(PPCS, drop_birth_name))

    messages = _messages(report, "ASIP-STRUCT-MIN-StrucMin.sch")
    assert messages == [
        "(SMDS_CDAClinicalDocument): Erreur de conformité CI-SIS : Dans le cadre de l'INS, "
        "les traits de l'INS (Nom de naissance, premier prénom de l'acte de naissance, prénoms "
        "de l’acte de naissance, date de naissance, lieu de naissance (COG) et sexe) sont "
        "obligatoires"
    ]
    assert report.errors[0].location == "/ClinicalDocument[1]"


def test_asip_struct_min_checks_author_specialty_value_set():
    def unknown_specialty(root: etree._Element) -> None:
        root.find("h:author/h:assignedAuthor/h:code", NS).set("code", "ZZZ")

    report = validate_cda(_mutated(PPCS, unknown_specialty))

    assert (
        "(CI-SISAuthor): The value for code SHALL be selected from value set "
        "'1.2.250.1.213.1.1.5.461' JDV_J01_XdsAuthorSpecialty_CISIS (DYNAMIC)."
    ) in _messages(report, "ASIP-STRUCT-MIN-StrucMin.sch")


def test_modeles_de_contenus_checks_gender_code_system_against_value_set():
    def wrong_code_system(root: etree._Element) -> None:
        root.find(".//h:administrativeGenderCode", NS).set("codeSystem", "1.2.3")

    report = validate_cda(_mutated(PPCS, wrong_code_system))

    findings = [f for f in report.errors if f.schematron == "CI-SIS_ModelesDeContenusCDA.sch"]
    assert [f.message for f in findings] == [
        "[dansJeuDeValeurs] L'élément administrativeGenderCode [F:Féminin:1.2.3] doit faire "
        "partie du jeu de valeurs ../../jeuxDeValeurs/JDV_J143_AdministrativeGender_CISIS.xml."
    ]
    assert findings[0].pattern_id == "JDV_administrativeGenderCode"
    assert findings[0].location.endswith("/patient[1]/administrativeGenderCode[1]")


def test_ihe_checks_advance_directives_section_code():
    xml = _mutated(
        PPCS, lambda r: _replace_body_with_section(r, "1.3.6.1.4.1.19376.1.5.3.1.3.34", "11111-1")
    )

    report = validate_cda(xml)

    assert _messages(report, "IHE.sch") == [
        "[S_advanceDirectives.sch] Erreur de conformité PCC : Le code de la section "
        "'Advance Directives' doit être 42348-3"
    ]


def test_modeles_ans_checks_pdf_copy_section():
    xml = _mutated(
        PPCS, lambda r: _replace_body_with_section(r, "1.2.250.1.213.1.1.2.243", "55108-5")
    )

    report = validate_cda(xml)

    messages = _messages(report, "CI-SIS_Modeles_ANS.sch")
    assert (
        "[S_documentPDFCopie_ANS.sch] Erreur de conformité CI-SIS : L'élément 'title' est "
        "obligatoire et doit être fixé à 'Copie du document'"
    ) in messages


def test_iti41_requires_class_code():
    def drop_class_code(root: etree._Element) -> None:
        for classification in root.iter(f"{{{RIM}}}Classification"):
            if classification.get("classificationScheme") == CLASS_CODE_SCHEME:
                classification.getparent().remove(classification)

    report = validate_iti41(_mutated(ITI41_NEW, drop_class_code))

    assert _messages(report, "XDS metadata") == [
        f"DocumentEntry Document01 lacks classCode ({CLASS_CODE_SCHEME})"
    ]


def test_iti41_requires_document_for_each_entry_and_has_member():
    def break_links(root: etree._Element) -> None:
        document = root.find("xdsb:Document", NS)
        document.set("id", "Orphan")
        for association in root.iter(f"{{{RIM}}}Association"):
            association.getparent().remove(association)

    report = validate_iti41(_mutated(ITI41_NEW, break_links))

    assert sorted(_messages(report, "XDS metadata")) == [
        "Document Orphan matches no ExtrinsicObject id",
        "DocumentEntry Document01 has no Document element",
        "DocumentEntry Document01 has no HasMember association from the SubmissionSet",
    ]


def test_iti41_xsd_rejects_document_without_id():
    def drop_id(root: etree._Element) -> None:
        del root.find("xdsb:Document", NS).attrib["id"]

    report = validate_iti41(_mutated(ITI41_NEW, drop_id))

    messages = _messages(report, "XSD XDS.b_DocumentRepository.xsd")
    assert any("The attribute 'id' is required but missing" in m for m in messages)


def test_iti41_rejects_envelope_without_request():
    envelope = etree.Element(f"{{{SOAP12}}}Envelope")
    etree.SubElement(envelope, f"{{{SOAP12}}}Body")

    report = validate_iti41(etree.tostring(envelope))

    assert not report.ok
    assert "ProvideAndRegisterDocumentSetRequest" in report.errors[0].message


# --- the Schematron runner itself -----------------------------------------------------------


def _run_tiny(xml: str) -> list[tuple[str, str | None, str, str, str]]:
    findings = compiled_schematron(TINY_SCHEMATRON).run(parse_document(xml))
    return [(f.pattern_id, f.assert_id, f.role, f.location, f.message) for f in findings]


def test_runner_accepts_valid_instance():
    xml = (
        '<order xmlns="urn:example:orders" id="ORD-12"><note/><currency code="EUR"/>'
        '<line sku="A" quantity="2"/></order>'
    )

    assert _run_tiny(xml) == []


def test_runner_evaluates_include_abstract_pattern_let_document_and_phase():
    xml = (
        '<order xmlns="urn:example:orders" id="X-12"><currency code="USD"/>'
        '<line sku=" " quantity="0"/><line special="yes" quantity="0"/></order>'
    )

    assert _run_tiny(xml) == [
        ("order", "order-id", "error", "/order[1]", 'Order id "X-12" must match ORD-digits.'),
        ("order", None, "warning", "/order[1]", "An order should carry a note."),
        (
            "currency-code",
            "in-value-set",
            "error",
            "/order[1]/currency[1]",
            "The currency [USD] must belong to the value set valuesets/currencies.xml.",
        ),
        ("lines", "line-sku", "error", "/order[1]/line[1]", "Every line needs a sku (line 1)."),
        (
            "lines",
            "line-quantity",
            "error",
            "/order[1]/line[1]",
            "Line line has quantity 0, expected at least 1.",
        ),
        # First matching rule only: the special line is not checked by the generic line rule.
        ("lines", None, "info", "/order[1]/line[2]", "special line yes"),
    ]


def test_runner_reports_dynamic_errors_as_findings(tmp_path):
    xml = '<order xmlns="urn:example:orders" id="ORD-1"><note/><currency code="EUR"/></order>'
    schema = etree.parse(str(TINY_SCHEMATRON))
    sch = "http://purl.oclc.org/dsdl/schematron"
    rule = schema.find(f".//{{{sch}}}pattern[@id='lines']/{{{sch}}}rule")
    broken = copy.deepcopy(rule)
    broken.set("context", "o:currency")
    for child in list(broken):
        broken.remove(child)
    etree.SubElement(broken, f"{{{sch}}}assert", test="xs:integer(@code) gt 0").text = "boom"
    rule.getparent().insert(0, broken)
    shutil.copytree(TINY_SCHEMATRON.parent, tmp_path / "schematron")
    target = tmp_path / "schematron" / "dynamic_error.sch"
    schema.write(str(target))

    findings = compiled_schematron(target).run(parse_document(xml))

    assert [f.role for f in findings] == ["error"]
    assert findings[0].message.startswith("[evaluation error] err:FORG0001")


def test_asip_struct_min_closed_template_warns_without_failing():
    def add_unknown_child(root: etree._Element) -> None:
        etree.SubElement(root.find("h:author/h:assignedAuthor", NS), f"{{{HL7}}}bogus")

    report = validate_cda(_mutated(PPCS, add_unknown_child))

    warnings = [w for w in report.warnings if w.schematron == "ASIP-STRUCT-MIN-StrucMin.sch"]
    assert [w.role for w in warnings] == ["warning"]
    assert "this element 'bogus' is not defined" in warnings[0].message
    assert warnings[0].location == "/ClinicalDocument[1]/author[1]/assignedAuthor[1]/bogus[1]"
    # Only the XSD rejects the element; the schematron finding is a warning.
    assert {f.schematron for f in report.errors} == {"XSD CDA_extended.xsd"}
