"""Our Schematron compiler and SchXslt2 report the same failures on the ANS schematrons.

Every vendored ANS schematron (ASIP-STRUCT-MIN, CI-SIS_ModelesDeContenusCDA, IHE,
CI-SIS_Modeles_ANS) runs through both implementations over the ANS example documents, PTAP's own
CDA documents, and documents broken on purpose so that each schematron has failures to report.
Both must give the same set of (assert id, role, location). Compiling the four schematrons with
SchXslt2 takes a while (about a minute on an idle machine): it is done once for the module.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from saxonche import PySaxonApiError

from ptap.dmp_bridge.cda import build_cda
from ptap.dmp_bridge.conformance import CDA_SCHEMATRONS
from ptap.dmp_bridge.conformance.runner import compiled_schematron, parse_document
from ptap.dmp_bridge.ports import DocumentKind
from tests.dmp_bridge import schxslt2
from tests.dmp_bridge.dmp_samples import (
    replacement_ids,
    sample_document,
    sample_ids,
    sample_physician,
    spec_file,
)

FIXTURES = Path(__file__).parent / "fixtures"
HL7 = "urn:hl7-org:v3"
H = f"{{{HL7}}}"
NS = {"h": HL7}
ANS_EXAMPLES = (
    "CANCER-FRCP_2022.01_Transversale.xml",
    "CANCER-PPS_2022.01_feuille-de-style-externe.xml",
    "LDL-EES_2022.01.xml",
    "LDL-SES_2022.01.xml",
)


def _file(path: Path) -> bytes:
    return path.read_bytes()


def _mutated(mutate: Callable[[etree._Element], None]) -> Callable[[], bytes]:
    def build() -> bytes:
        root = etree.parse(str(FIXTURES / "PPCS_CDA-R2-N1_example.xml")).getroot()
        mutate(root)
        return etree.tostring(root, encoding="UTF-8")

    return build


def _drop_birth_name(root: etree._Element) -> None:
    family = root.find(".//h:patient/h:name/h:family[@qualifier='BR']", NS)
    assert family is not None
    family.getparent().remove(family)


def _unknown_codes(root: etree._Element) -> None:
    root.find("h:author/h:assignedAuthor/h:code", NS).set("code", "ZZZ")
    root.find(".//h:administrativeGenderCode", NS).set("codeSystem", "1.2.3")
    root.find("h:confidentialityCode", NS).set("code", "X")


def _no_code_systems(root: etree._Element) -> None:
    for element in root.iter():
        if "codeSystem" in element.attrib:
            del element.attrib["codeSystem"]


def _section(template_id: str, code: str) -> Callable[[etree._Element], None]:
    def replace_body(root: etree._Element) -> None:
        component = root.find("h:component", NS)
        assert component is not None
        component.clear()
        body = etree.SubElement(component, H + "structuredBody")
        section = etree.SubElement(etree.SubElement(body, H + "component"), H + "section")
        etree.SubElement(section, H + "templateId", root=template_id)
        etree.SubElement(section, H + "code", code=code, codeSystem="2.16.840.1.113883.6.1")
        etree.SubElement(section, H + "title").text = "Titre libre"
        etree.SubElement(section, H + "text").text = "Texte"

    return replace_body


DOCUMENTS: dict[str, Callable[[], bytes]] = {
    "ans-unstructured": lambda: _file(FIXTURES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml"),
    **{
        f"ans-{name.split('_')[0].lower()}": (
            lambda name=name: _file(spec_file(f"cisis-testcontenucda-3.0/ExemplesCDA/{name}"))
        )
        for name in ANS_EXAMPLES
    },
    "ptap-ppcs-fixture": lambda: _file(FIXTURES / "PPCS_CDA-R2-N1_example.xml"),
    "ptap-ppcs": lambda: build_cda(sample_document(), sample_ids()),
    "ptap-replacement": lambda: build_cda(sample_document(), replacement_ids()),
    "ptap-letter": lambda: build_cda(
        sample_document(kind=DocumentKind.REFERRAL_LETTER), sample_ids()
    ),
    "ptap-physician": lambda: build_cda(sample_document(author=sample_physician()), sample_ids()),
    "broken-no-birth-name": _mutated(_drop_birth_name),
    "broken-unknown-codes": _mutated(_unknown_codes),
    "broken-no-code-systems": _mutated(_no_code_systems),
    "broken-advance-directives": _mutated(_section("1.3.6.1.4.1.19376.1.5.3.1.3.34", "11111-1")),
    "broken-pdf-copy": _mutated(_section("1.2.250.1.213.1.1.2.243", "55108-5")),
}

Failures = dict[str, set[schxslt2.Failure]]


@pytest.fixture(scope="module")
def engines() -> dict[Path, Callable[[Any], set[schxslt2.Failure]]]:
    return {path: schxslt2.compile_schematron(path) for path in CDA_SCHEMATRONS}


@pytest.fixture(scope="module")
def reports(engines: dict[Path, Callable[[Any], set[schxslt2.Failure]]]) -> dict[str, Any]:
    """Both implementations' failures for every document: {name: (ours, theirs)}."""
    results: dict[str, tuple[Failures, Failures]] = {}
    for name, build in DOCUMENTS.items():
        node = parse_document(etree.tostring(etree.fromstring(build()), encoding="unicode"))
        ours: Failures = {}
        theirs: Failures = {}
        for path in CDA_SCHEMATRONS:
            ours[path.name] = {
                (f.assert_id, f.role, f.location) for f in compiled_schematron(path).run(node)
            }
            theirs[path.name] = engines[path](node)
        results[name] = (ours, theirs)
    return results


@pytest.mark.parametrize("name", DOCUMENTS)
def test_both_implementations_report_the_same_failures(name: str, reports: dict[str, Any]):
    ours, theirs = reports[name]

    for schematron in ours:
        only_ours = ours[schematron] - theirs[schematron]
        only_theirs = theirs[schematron] - ours[schematron]
        assert not only_ours and not only_theirs, (schematron, only_ours, only_theirs)


def test_every_schematron_has_failures_to_compare(reports: dict[str, Any]):
    per_schematron = {path.name: 0 for path in CDA_SCHEMATRONS}
    for ours, _ in reports.values():
        for schematron, failures in ours.items():
            per_schematron[schematron] += len(failures)

    assert all(count > 0 for count in per_schematron.values()), per_schematron
    # The broken documents are refused, PTAP's own output is not.
    assert any(reports["broken-no-code-systems"][0].values())
    assert not any(reports["ptap-ppcs"][0].values())


def test_schxslt2_without_preparation_refuses_cross_pattern_abstract_rules():
    saxon = schxslt2.processor()
    transpiler = saxon.new_xslt30_processor().compile_stylesheet(
        stylesheet_file=str(schxslt2.TRANSPILER)
    )
    source = saxon.parse_xml(xml_file_name=str(CDA_SCHEMATRONS[0]))

    with pytest.raises(PySaxonApiError, match="Processing terminated by xsl:message"):
        transpiler.transform_to_string(xdm_node=source)
