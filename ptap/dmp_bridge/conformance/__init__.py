"""Conformance validators for what the DMP bridge sends (CDA R2 documents and ITI-41 bodies).

* :func:`validate_cda` — ``CDA_extended.xsd`` + the ANS schematrons ASIP-STRUCT-MIN,
  CI-SIS_ModelesDeContenusCDA, IHE and CI-SIS_Modeles_ANS (TestContenuCDA 3.0), run by our own
  Schematron-to-XSLT compiler on Saxon-HE (:mod:`.runner`).
* :func:`validate_iti41` — ``XDS.b_DocumentRepository.xsd`` + the XDS metadata the DMP requires.
* :func:`validate_file` — detects the kind of document; backs ``ptap dmp validate FILE``.

Specification files are vendored in ``specs/`` (see ``specs/MANIFEST.md``). Schematrons are
compiled on first use (about 4 s for the four on an idle machine) and cached for the life of
the process; call :func:`warm_up` at start-up to pay that cost early. Saxon runs in a GraalVM
isolate; sharing one across ``fork()`` is untested, so warm up in each worker process.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from lxml import etree

from .findings import ConformanceReport, DocumentKind, Finding, format_report
from .runner import compiled_schematron, parse_document
from .schematron import SchematronError
from .xds import XDSB, check_submission
from .xsd import CDA_XSD, LCM_XSD, SPECS, XDSB_XSD, load_xsd, validate_xsd

__all__ = [
    "CDA_SCHEMATRONS",
    "ConformanceReport",
    "DocumentKind",
    "Finding",
    "SchematronError",
    "format_report",
    "validate_cda",
    "validate_file",
    "validate_iti41",
    "warm_up",
]

_PROFILES = SPECS / "cisis-testcontenucda-3.0" / "schematrons" / "profils"
#: The schematrons every CDA document goes through, in report order.
CDA_SCHEMATRONS: tuple[Path, ...] = (
    _PROFILES / "structurationMinimale" / "ASIP-STRUCT-MIN-StrucMin.sch",
    _PROFILES / "CI-SIS_ModelesDeContenusCDA.sch",
    _PROFILES / "IHE.sch",
    _PROFILES / "CI-SIS_Modeles_ANS.sch",
)

HL7 = "urn:hl7-org:v3"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
SOAP_ENVELOPES = (
    "http://www.w3.org/2003/05/soap-envelope",
    "http://schemas.xmlsoap.org/soap/envelope/",
)
XOP_INCLUDE = "{http://www.w3.org/2004/08/xop/include}Include"
_PNR = f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest"


class _NotWellFormed(Exception):
    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def _parse(xml: bytes) -> etree._Element:
    # No DTD, no entity expansion, no network; huge_tree for multi-megabyte base64 bodies.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
    )
    try:
        return etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        finding = Finding("XML", "well-formedness", None, "error", str(exc), f"line {exc.lineno}")
        raise _NotWellFormed(finding) from exc


def warm_up() -> None:
    """Compile the CDA schematrons and load the XSDs now rather than on the first request."""
    for path in CDA_SCHEMATRONS:
        compiled_schematron(path)
    for xsd in (CDA_XSD, XDSB_XSD, LCM_XSD):
        load_xsd(xsd)


def _validate_cda_element(root: etree._Element) -> ConformanceReport:
    findings = validate_xsd(root, CDA_XSD)
    try:
        document = parse_document(etree.tostring(root, encoding="unicode"))
    except SchematronError as exc:
        # e.g. references to entities of an internal DTD subset, which we never expand.
        findings.append(Finding("Saxon", "parse", None, "error", str(exc), "/"))
        return ConformanceReport.from_findings(DocumentKind.CDA, findings)
    for path in CDA_SCHEMATRONS:
        findings += compiled_schematron(path).run(document)
    return ConformanceReport.from_findings(DocumentKind.CDA, findings)


def validate_cda(xml: bytes) -> ConformanceReport:
    """Validate a CDA R2 document against CDA_extended.xsd and the four ANS schematrons."""
    try:
        return _validate_cda_element(_parse(xml))
    except _NotWellFormed as exc:
        return ConformanceReport.from_findings(DocumentKind.CDA, [exc.finding])


def _provide_and_register(root: etree._Element) -> etree._Element | None:
    if root.tag == _PNR:
        return root
    if etree.QName(root).namespace in SOAP_ENVELOPES and etree.QName(root).localname == "Envelope":
        for body in root:
            if etree.QName(body).localname == "Body":
                return body.find(_PNR)
    return None


def _validate_iti41_element(root: etree._Element) -> ConformanceReport:
    request = _provide_and_register(root)
    if request is None:
        message = (
            f"expected xdsb:ProvideAndRegisterDocumentSetRequest or a SOAP envelope holding it, "
            f"found {root.tag}"
        )
        finding = Finding("XDS metadata", "request", "root", "error", message, "/")
        return ConformanceReport.from_findings(DocumentKind.ITI41, [finding])
    schema_view = request
    if any(True for _ in request.iter(XOP_INCLUDE)):
        # MTOM: the XOP infoset carries the bytes in MIME parts; validate it as if inlined
        # (an empty xs:base64Binary), as a receiving XDS repository does after XOP decoding.
        schema_view = copy.deepcopy(request)
        for include in list(schema_view.iter(XOP_INCLUDE)):
            parent = include.getparent()
            if parent is not None:
                parent.remove(include)
    findings = validate_xsd(schema_view, XDSB_XSD) + check_submission(request)
    return ConformanceReport.from_findings(DocumentKind.ITI41, findings)


def validate_iti41(xml: bytes) -> ConformanceReport:
    """Validate an ITI-41 body (bare request or SOAP 1.2 envelope) against XDS.b + DMP rules."""
    try:
        return _validate_iti41_element(_parse(xml))
    except _NotWellFormed as exc:
        return ConformanceReport.from_findings(DocumentKind.ITI41, [exc.finding])


def validate_file(path: str | os.PathLike[str]) -> ConformanceReport:
    """Detect what the file holds (CDA, ITI-41, SubmitObjectsRequest) and validate it."""
    try:
        root = _parse(Path(path).read_bytes())
    except _NotWellFormed as exc:
        return ConformanceReport.from_findings(DocumentKind.UNKNOWN, [exc.finding])
    if root.tag == f"{{{HL7}}}ClinicalDocument":
        return _validate_cda_element(root)
    if root.tag == f"{{{LCM}}}SubmitObjectsRequest":
        findings = validate_xsd(root, LCM_XSD)
        return ConformanceReport.from_findings(DocumentKind.SUBMIT_OBJECTS, findings)
    if _provide_and_register(root) is not None:
        return _validate_iti41_element(root)
    message = (
        f"unrecognised document {root.tag}: expected hl7:ClinicalDocument, a SOAP envelope, "
        "xdsb:ProvideAndRegisterDocumentSetRequest or lcm:SubmitObjectsRequest"
    )
    finding = Finding("detection", "kind", None, "error", message, "/")
    return ConformanceReport.from_findings(DocumentKind.UNKNOWN, [finding])
