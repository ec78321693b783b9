"""Sample DMP documents with the fictitious test identity of the ANS examples (INS NIR de test).

``sample_document(**overrides)`` and ``sample_ids(**overrides)`` give a complete PPCS filing;
overrides replace fields of the dataclass (``patient=sample_patient(birth_day=None)``...).
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ptap.dmp_bridge.ports import (
    DmpAuthor,
    DmpDocument,
    DmpOrganisation,
    DmpPatient,
    DocumentKind,
    FilingIds,
)

#: The ANS test identity (ExemplesCDA/DOC_NON_STRUCTURE_CDA-R2-N1.xml).
TEST_INS = "279035121518989"
TEST_NIR_OID = "1.2.250.1.213.1.4.10"
#: A fictitious OID branch for the platform's identifiers.
OID_ROOT = "1.2.250.1.999.1.1.7777"
SOURCE_OID = OID_ROOT + ".100"
SUBMISSION_SET_OID = OID_ROOT + ".2.1"
#: The shared DMP test assets (value sets, XSDs, schematrons): see /work/shared/dmp/README.md.
DMP_SPECS = Path(os.environ.get("PTAP_DMP_SPECS", "/work/shared/dmp"))
CDA_XSD = "cisis-testcontenucda-3.0/infrastructure/cda/CDA_extended.xsd"
XDS_XSD = (
    "xds/nist-iheos-toolkit2/xdstools2/src/main/webapp/toolkitx/schema/v3/"
    "XDS.b_DocumentRepository.xsd"
)


#: The assets vendored with the validators (a subset of the shared ones, same layout except XDS).
VENDORED_SPECS = Path(__file__).resolve().parents[2] / "ptap/dmp_bridge/conformance/specs"
_VENDORED = {
    CDA_XSD: VENDORED_SPECS / CDA_XSD,
    XDS_XSD: VENDORED_SPECS / "xds/schema/v3/XDS.b_DocumentRepository.xsd",
}


def spec_file(relative: str) -> Path:
    """Return a file of the DMP assets (vendored first), or skip when they are not installed."""
    vendored = _VENDORED.get(relative, VENDORED_SPECS / relative)
    if vendored.exists():
        return vendored
    path = DMP_SPECS / relative
    if not path.exists():
        pytest.skip(f"DMP test assets not found: {path} (set PTAP_DMP_SPECS)")
    return path


def sample_pdf(size: int = 0) -> bytes:
    """Return a small valid PDF, padded with an unused stream up to about ``size`` bytes."""
    text = b"BT /F1 14 Tf 72 770 Td (PPCS - document de test (donnees fictives)) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    padding = max(0, size - 700)
    if padding:
        filler = bytes(i % 251 for i in range(padding))
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(filler), filler))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def sample_patient(**overrides: object) -> DmpPatient:
    """Return the ANS test patient (PAT-TROIS Dominique, born 1979-03-28 in Dompremy)."""
    patient = DmpPatient(
        patient_id=123,
        ins=TEST_INS,
        ins_oid=TEST_NIR_OID,
        qualified=True,
        sharing_consent=True,
        dmp_opposition=False,
        birth_name="PAT-TROIS",
        first_names="DOMINIQUE MARIE-LOUISE",
        birth_year=1979,
        birth_month=3,
        birth_day=28,
        sex="F",
        birthplace_code="51215",
        used_name="PAT-TROIS",
        used_first_name="DOMINIQUE",
        address="28 avenue de Breteuil",
        postal_code="75007",
        city="PARIS",
    )
    return dataclasses.replace(patient, **overrides)  # type: ignore[arg-type]


def sample_coordinator(**overrides: object) -> DmpAuthor:
    """Return a care coordinator without RPPS (PS_IdNat = 3 + FINESS + / + local id)."""
    author = DmpAuthor(
        id_nat="3910000000/COORD042",
        family_name="COORDO",
        given_name="Claire",
        profession="care_coordinator",
        function_code="330",
    )
    return dataclasses.replace(author, **overrides)  # type: ignore[arg-type]


def sample_physician(**overrides: object) -> DmpAuthor:
    """Return a general practitioner with an RPPS-based PS_IdNat."""
    author = DmpAuthor(
        id_nat="801234567897",
        family_name="MULLER",
        given_name="Charles",
        profession="physician",
        specialty="SM54",
        function_code="PCP",
    )
    return dataclasses.replace(author, **overrides)  # type: ignore[arg-type]


def sample_organisation(**overrides: object) -> DmpOrganisation:
    """Return a fictitious DAC (Struct_IdNat 1 + FINESS)."""
    org = DmpOrganisation(
        name="DAC de test (fictif)",
        id_nat="1910000000",
        telecom="01 60 00 00 00",
        street="1 rue de test",
        postal_code="91000",
        city="EVRY",
    )
    return dataclasses.replace(org, **overrides)  # type: ignore[arg-type]


def sample_document(**overrides: object) -> DmpDocument:
    """Return a complete PPCS for the test patient; keyword arguments replace fields."""
    doc = DmpDocument(
        kind=DocumentKind.PPCS,
        patient=sample_patient(),
        title="Plan personnalisé de coordination en santé (PPCS)",
        pdf=sample_pdf(),
        author=sample_coordinator(),
        legal_authenticator=sample_physician(),
        organisation=sample_organisation(),
        created_at=datetime(2025, 1, 15, 9, 0, tzinfo=UTC),
        authenticated_at=datetime(2025, 1, 15, 9, 0, tzinfo=UTC),
        service_start=date(2025, 1, 10),
        service_stop=date(2025, 1, 15),
        local_patient_id="DAC-000123",
        local_patient_oid=OID_ROOT + ".9",
    )
    return dataclasses.replace(doc, **overrides)  # type: ignore[arg-type]


def sample_ids(**overrides: object) -> FilingIds:
    """Return the ids of a first version; pass replaces_* and version_number for a replacement."""
    ids = FilingIds(
        document_oid=OID_ROOT + ".1.1",
        set_oid=OID_ROOT + ".1",
        version_number=1,
    )
    return dataclasses.replace(ids, **overrides)  # type: ignore[arg-type]


def replacement_ids(**overrides: object) -> FilingIds:
    """Return the ids of version 2, replacing ``sample_ids()`` (entryUUID known to the DMP)."""
    ids = sample_ids(
        document_oid=OID_ROOT + ".1.2",
        version_number=2,
        replaces_document_oid=OID_ROOT + ".1.1",
        replaces_entry_uuid="urn:uuid:00000000-0000-0000-0000-0000000000aa",
    )
    return dataclasses.replace(ids, **overrides)  # type: ignore[arg-type]
