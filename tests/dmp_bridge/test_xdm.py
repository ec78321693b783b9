"""The IHE_XDM.ZIP of MSSanté messages: layout, XDS.b metadata valid, CDA valid, URI and hash."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime

import pytest
from lxml import etree

from ptap.dmp_bridge import DmpRejected, DocumentKind, build_xdm_zip
from ptap.dmp_bridge.conformance import validate_cda
from ptap.dmp_bridge.conformance.xds import check_submission
from tests.dmp_bridge.dmp_samples import (
    OID_ROOT,
    SOURCE_OID,
    VENDORED_SPECS,
    sample_document,
    sample_patient,
)

NS = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0", "h": "urn:hl7-org:v3"}
NOW = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)
LCM_XSD = VENDORED_SPECS / "xds/schema/v3/lcm.xsd"
DOCUMENT_OID = OID_ROOT + ".5.1"
LETTER = sample_document(
    kind=DocumentKind.REFERRAL_LETTER, title="Lettre d'adressage <Dr MULLER> & co"
)


def _zip(**kwargs: object) -> zipfile.ZipFile:
    data = build_xdm_zip(LETTER, source_oid=SOURCE_OID, now=NOW, **kwargs)  # type: ignore[arg-type]
    return zipfile.ZipFile(io.BytesIO(data))


def _slot(element: etree._Element, name: str) -> list[str]:
    return element.xpath(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value/text()", namespaces=NS)


def test_xdm_zip_has_the_ihe_layout():
    archive = _zip()
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == [
        "IHE_XDM/SUBSET01/DOC0001.XML",
        "IHE_XDM/SUBSET01/METADATA.XML",
        "INDEX.HTM",
        "README.TXT",
    ]
    index = archive.read("INDEX.HTM").decode()
    assert 'href="IHE_XDM/SUBSET01/DOC0001.XML"' in index
    assert 'href="IHE_XDM/SUBSET01/METADATA.XML"' in index
    assert "&lt;Dr MULLER&gt; &amp; co" in index and "<Dr MULLER>" not in index
    readme = archive.read("README.TXT").decode()
    assert "PTAP" in readme and "DAC de test (fictif)" in readme


def test_xdm_metadata_is_valid_against_the_xds_b_schema_and_points_at_the_document():
    archive = _zip(document_oid=DOCUMENT_OID, set_oid=OID_ROOT + ".5", version_number=2)
    metadata = etree.fromstring(archive.read("IHE_XDM/SUBSET01/METADATA.XML"))
    schema = etree.XMLSchema(etree.parse(str(LCM_XSD)))
    assert schema.validate(metadata), schema.error_log
    assert etree.QName(metadata).localname == "SubmitObjectsRequest"
    [entry] = metadata.findall("rim:RegistryObjectList/rim:ExtrinsicObject", NS)
    cda = archive.read("IHE_XDM/SUBSET01/DOC0001.XML")
    assert _slot(entry, "URI") == ["DOC0001.XML"]
    assert _slot(entry, "hash") == [hashlib.sha1(cda).hexdigest()]  # noqa: S324
    assert _slot(entry, "size") == [str(len(cda))]
    unique_ids = entry.xpath(
        "rim:ExternalIdentifier[@identificationScheme="
        "'urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab']/@value",
        namespaces=NS,
    )
    assert unique_ids == [DOCUMENT_OID]
    type_codes = entry.xpath(
        "rim:Classification[@classificationScheme="
        "'urn:uuid:f0306f51-975f-434e-a61c-c59651d33983']/@nodeRepresentation",
        namespaces=NS,
    )
    assert type_codes == ["96349-6"]  # lettre d'adressage
    # Every metadata the DMP requires is there; only the ITI-41 inline Document is absent.
    findings = check_submission(metadata)
    assert {(f.pattern_id, f.assert_id) for f in findings} <= {("DocumentEntry", "Document")}
    root = etree.fromstring(cda)
    assert root.xpath("h:id/@root", namespaces=NS) == [DOCUMENT_OID]
    assert root.xpath("h:versionNumber/@value", namespaces=NS) == ["2"]


def test_xdm_cda_passes_the_ci_sis_validators():
    cda = _zip().read("IHE_XDM/SUBSET01/DOC0001.XML")
    report = validate_cda(cda)
    assert report.ok, [e.message for e in report.errors]
    assert etree.fromstring(cda).xpath("//h:nonXMLBody/h:text/@mediaType", namespaces=NS) == [
        "application/pdf"
    ]


def test_xdm_refuses_a_patient_without_ins():
    document = sample_document(patient=sample_patient(ins=None, ins_oid=None))
    with pytest.raises(ValueError, match="INS"):
        build_xdm_zip(document, source_oid=SOURCE_OID, now=NOW)


def test_xdm_in_the_app_validates_the_cda_before_packaging_it(app):
    app.config["DMP_VALIDATE_BEFORE_SEND"] = True
    # A bad healthcare facility code fails the CI-SIS value sets: our defect, refused.
    bad = sample_document(
        organisation=LETTER.organisation.__class__(
            name="DAC", id_nat="1910000000", facility_type_code="XX99"
        )
    )
    with pytest.raises(DmpRejected, match="CI-SIS"):
        build_xdm_zip(bad, now=NOW)
    archive = zipfile.ZipFile(io.BytesIO(build_xdm_zip(LETTER, now=NOW)))
    metadata = etree.fromstring(archive.read("IHE_XDM/SUBSET01/METADATA.XML"))
    source_ids = metadata.xpath(
        "//rim:ExternalIdentifier[@identificationScheme="
        "'urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832']/@value",
        namespaces=NS,
    )
    assert source_ids == [app.config["DMP_OID_ROOT"]]
