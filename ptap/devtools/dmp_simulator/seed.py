"""Example documents other professionals filed, so a newcomer sees DMP consultation at once.

With ``seed_examples`` on (``ptap dmp-simulator`` does it by default, hence ``make run`` and the
demo), the first FindDocuments about a patient the simulator has never seen stores, for that
patient: a discharge letter (the ANS example LDL-SES, CDA N3), a lab report (CDA N3, hidden
from the patient until a professional tells them), a consultation report (PDF) and a
psychiatry report masked to professionals (seen only in bris de glace).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from ptap.devtools.dmp_simulator.registry import REPOSITORY_ID
from ptap.devtools.dmp_simulator.store import DocumentStore, StoredEntry
from ptap.dmp_bridge.xdsquery import (
    DE_AUTHOR,
    DE_CLASS_CODE,
    DE_CONFIDENTIALITY,
    DE_FORMAT_CODE,
    DE_PATIENT_ID,
    DE_TYPE_CODE,
    DE_UNIQUE_ID,
    DOCUMENT_ENTRY_TYPE,
    RIM,
    RIM_NS,
    STATUS_APPROVED,
)

SAMPLES = Path(__file__).with_name("samples")
_LOINC = "2.16.840.1.113883.6.1"


@dataclass(frozen=True)
class Example:
    file: str
    mime_type: str
    title: str
    type_code: str
    type_display: str
    creation_time: str
    #: authorPerson XCN: id^family^given
    author: str
    format_code: str
    confidentiality: tuple[str, ...] = ("N",)


EXAMPLES = (
    Example(
        "LDL-SES_2022.01.xml",
        "text/xml",
        "Lettre de liaison à la sortie — Médecine interne",
        "11490-0",
        "Lettre de liaison à la sortie d'un établissement de soins",
        "20261028143000",
        "801234567897^LEBLANC^Jean",
        "urn:asip:ci-sis:ldl-ses:2017",
    ),
    Example(
        "CR-BIO_exemple.xml",
        "text/xml",
        "Compte rendu d'examens biologiques",
        "11502-2",
        "CR d'examens biologiques",
        "20261120083000",
        "810001234567^PASTEUR^Louise",
        "urn:asip:ci-sis:cr-bio:2023",
        ("N", "INVISIBLE_PATIENT"),
    ),
    Example(
        "CR-consultation.pdf",
        "application/pdf",
        "Compte rendu de consultation de cardiologie",
        "11488-4",
        "Compte rendu de consultation",
        "20261115101500",
        "810009876543^HARVEY^William",
        "urn:ihe:iti:xds:2017:mimeTypeSufficient",
    ),
    Example(
        "CR-consultation.pdf",
        "application/pdf",
        "Compte rendu de consultation de psychiatrie",
        "11488-4",
        "Compte rendu de consultation",
        "20261002090000",
        "810005555555^PINEL^Philippe",
        "urn:ihe:iti:xds:2017:mimeTypeSufficient",
        ("N", "MASQUE_PS"),
    ),
)


def _slot(parent: etree._Element, name: str, value: str) -> None:
    slot = etree.SubElement(parent, RIM + "Slot", name=name)
    etree.SubElement(etree.SubElement(slot, RIM + "ValueList"), RIM + "Value").text = value


def _name(parent: etree._Element, value: str) -> None:
    etree.SubElement(etree.SubElement(parent, RIM + "Name"), RIM + "LocalizedString", value=value)


def _code(parent: etree._Element, scheme: str, code: str, system: str, display: str) -> None:
    c = etree.SubElement(
        parent,
        RIM + "Classification",
        classificationScheme=scheme,
        classifiedObject=parent.get("id", ""),
        nodeRepresentation=code,
        id=f"urn:uuid:{uuid.uuid4()}",
    )
    _slot(c, "codingScheme", system)
    _name(c, display)


def _metadata(
    example: Example, entry_id: str, unique_id: str, patient: str, content: bytes
) -> bytes:
    e = etree.Element(
        RIM + "ExtrinsicObject",
        nsmap={"rim": RIM_NS},
        id=entry_id,
        mimeType=example.mime_type,
        objectType=DOCUMENT_ENTRY_TYPE,
    )
    _slot(e, "creationTime", example.creation_time)
    _slot(e, "hash", hashlib.sha1(content).hexdigest())  # noqa: S324 - XDS hash is SHA-1
    _slot(e, "size", str(len(content)))
    _slot(e, "languageCode", "fr-FR")
    _slot(e, "repositoryUniqueId", REPOSITORY_ID)
    _slot(e, "sourcePatientId", patient)
    _name(e, example.title)
    author = etree.SubElement(
        e,
        RIM + "Classification",
        classificationScheme=DE_AUTHOR,
        classifiedObject=entry_id,
        nodeRepresentation="",
        id=f"urn:uuid:{uuid.uuid4()}",
    )
    _slot(author, "authorPerson", example.author)
    _code(e, DE_CLASS_CODE, "10", "1.2.250.1.213.1.1.4.1", "Compte rendu")
    _code(e, DE_TYPE_CODE, example.type_code, _LOINC, example.type_display)
    _code(e, DE_FORMAT_CODE, example.format_code, "1.2.250.1.213.1.1.4.2.282", "Format")
    for code in example.confidentiality:
        system = "2.16.840.1.113883.5.25" if code == "N" else "1.2.250.1.213.1.1.4.13"
        _code(e, DE_CONFIDENTIALITY, code, system, code)
    for scheme, value in ((DE_PATIENT_ID, patient), (DE_UNIQUE_ID, unique_id)):
        ext = etree.SubElement(
            e,
            RIM + "ExternalIdentifier",
            identificationScheme=scheme,
            value=value,
            registryObject=entry_id,
            id=f"urn:uuid:{uuid.uuid4()}",
        )
        _name(ext, "XDSDocumentEntry.patientId" if scheme == DE_PATIENT_ID else "uniqueId")
    return etree.tostring(e)


def seed_patient(store: DocumentStore, patient: str) -> int:
    """Store the examples for this patient (CX) unless some document is already theirs."""
    with store.transaction():
        if any(e.patient_id == patient for e in store.entries.values()):
            return 0
        for example in EXAMPLES:
            content = (SAMPLES / example.file).read_bytes()
            entry_id = f"urn:uuid:{uuid.uuid4()}"
            unique_id = f"2.25.{uuid.uuid4().int}"
            store.save(
                StoredEntry(
                    entry_uuid=entry_id,
                    lid=entry_id,
                    unique_id=unique_id,
                    patient_id=patient,
                    status=STATUS_APPROVED,
                    version=1,
                    metadata=_metadata(example, entry_id, unique_id, patient, content),
                    content=content,
                    mime_type=example.mime_type,
                    submission_set_uid=f"2.25.{uuid.uuid4().int}",
                    stored_at=example.creation_time,
                    confidentiality=list(example.confidentiality),
                )
            )
    return len(EXAMPLES)
