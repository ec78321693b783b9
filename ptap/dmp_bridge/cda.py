"""Build the CDA R2 level-1 document (PDF in a nonXMLBody) with the French CI-SIS header.

The header follows the CI-SIS "structuration minimale" (templateId 1.2.250.1.213.1.1.1.1) and
XDS-SD (1.3.6.1.4.1.19376.1.2.20); see SPEC-NOTES §2.1/§2.2 and
``generated/PPCS_CDA-R2-N1_example.xml``. The tree is built with lxml so that user data is
always escaped; characters XML cannot carry at all (control characters) are dropped.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, date, datetime

from lxml import etree

from ptap.core.formatting import PARIS
from ptap.core.ins import is_valid_nir
from ptap.dmp_bridge import codes
from ptap.dmp_bridge.codes import Code
from ptap.dmp_bridge.ports import DmpAuthor, DmpDocument, DmpOrganisation, DmpPatient, FilingIds

V3 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_NS = "{" + V3 + "}"
#: assignedAuthor/id and assignedEntity/id root: PS_IdNat (ANS).
PS_ID_ROOT = "1.2.250.1.71.4.2.1"
#: representedOrganization/id root: Struct_IdNat (ANS).
STRUCTURE_ID_ROOT = "1.2.250.1.71.4.2.2"
TEMPLATE_IDS = ("2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1", "1.3.6.1.4.1.19376.1.2.20")
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """Return ``value`` without the characters XML 1.0 cannot represent."""
    return _XML_INVALID.sub("", value)


def utc(moment: datetime) -> datetime:
    """Return an aware datetime in UTC; a naive one is taken as UTC (the platform's rule)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def paris_timestamp(moment: datetime) -> str:
    """Format a CDA TS with the Europe/Paris offset: ``YYYYMMDDhhmmss+0100``."""
    return utc(moment).astimezone(PARIS).strftime("%Y%m%d%H%M%S%z")


def birth_date(patient: DmpPatient) -> str:
    """Return the birth date as YYYYMMDD, or YYYYMM / YYYY when the day / month is unknown."""
    value = f"{patient.birth_year:04d}"
    if patient.birth_month:
        value += f"{patient.birth_month:02d}"
        if patient.birth_day:
            value += f"{patient.birth_day:02d}"
    return value


def require_ins(patient: DmpPatient) -> tuple[str, str]:
    """Return the patient's (INS matricule, OID); no document leaves without a valid INS.

    :raises ValueError: when the INS or its OID is missing, or the matricule is malformed.
    """
    if not patient.ins or not patient.ins_oid:
        raise ValueError(f"patient {patient.patient_id} has no INS: the DMP requires one")
    if not is_valid_nir(patient.ins):
        raise ValueError(f"patient {patient.patient_id}: the INS matricule is not a valid NIR/NIA")
    return patient.ins, patient.ins_oid


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, _NS + tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        node.text = xml_text(text)
    return node


def _code(parent: etree._Element, tag: str, code: Code) -> etree._Element:
    attrs = {"code": code.code, "displayName": code.display, "codeSystem": code.system}
    if code.system_name:
        attrs["codeSystemName"] = code.system_name
    return _el(parent, tag, **attrs)


def _telecom(parent: etree._Element, number: str) -> None:
    if number:
        value = number if ":" in number else "tel:" + re.sub(r"[^\d+]", "", number)
        _el(parent, "telecom", value=value, use="WP")


def _address(parent: etree._Element, street: str, postal_code: str, city: str) -> None:
    if not (street or postal_code or city):
        return
    addr = _el(parent, "addr")
    # Structured parts only: CI-SISAddr forbids mixing streetAddressLine with postalCode/city.
    for tag, value in (("streetName", street), ("postalCode", postal_code), ("city", city)):
        if value:
            _el(addr, tag, value)


def _person(parent: etree._Element, tag: str, person: DmpAuthor) -> None:
    name = _el(_el(parent, tag), "name")
    _el(name, "given", person.given_name)
    _el(name, "family", person.family_name)


def _organisation(parent: etree._Element, tag: str, org: DmpOrganisation) -> etree._Element:
    node = _el(parent, tag)
    _el(node, "id", root=STRUCTURE_ID_ROOT, extension=org.id_nat)
    _el(node, "name", org.name)
    _telecom(node, org.telecom)
    _address(node, org.street, org.postal_code, org.city)
    return node


def _record_target(root: etree._Element, doc: DmpDocument) -> None:
    patient = doc.patient
    ins, ins_oid = require_ins(patient)
    role = _el(_el(root, "recordTarget"), "patientRole")
    _el(role, "id", root=ins_oid, extension=ins)
    if doc.local_patient_id and doc.local_patient_oid:
        _el(role, "id", root=doc.local_patient_oid, extension=doc.local_patient_id)
    _address(role, patient.address, patient.postal_code, patient.city)
    person = _el(role, "patient", classCode="PSN")
    name = _el(person, "name")
    _el(name, "family", patient.birth_name, qualifier="BR")
    _el(name, "given", patient.first_names)
    first_names = patient.first_names.split()
    _el(name, "given", first_names[0] if first_names else patient.first_names, qualifier="BR")
    if patient.used_name:
        _el(name, "family", patient.used_name, qualifier="CL")
    if patient.used_first_name:
        _el(name, "given", patient.used_first_name, qualifier="CL")
    _code(person, "administrativeGenderCode", codes.gender_code(patient.sex))
    _el(person, "birthTime", value=birth_date(patient))
    place_addr = _el(_el(_el(person, "birthplace"), "place"), "addr")
    _el(place_addr, "county", patient.birthplace_code)


def _author(root: etree._Element, doc: DmpDocument) -> None:
    author_codes = codes.author_codes(doc.author)
    author = _el(root, "author")
    if author_codes.function is not None:
        _code(author, "functionCode", author_codes.function)
    _el(author, "time", value=paris_timestamp(doc.created_at))
    assigned = _el(author, "assignedAuthor")
    _el(assigned, "id", root=PS_ID_ROOT, extension=doc.author.id_nat)
    _code(assigned, "code", author_codes.specialty)
    _person(assigned, "assignedPerson", doc.author)
    _organisation(assigned, "representedOrganization", doc.organisation)


def _custodian_and_authenticator(root: etree._Element, doc: DmpDocument) -> None:
    custodian = _el(_el(root, "custodian"), "assignedCustodian")
    _organisation(custodian, "representedCustodianOrganization", doc.organisation)
    legal = _el(root, "legalAuthenticator")
    _el(legal, "time", value=paris_timestamp(doc.authenticated_at))
    _el(legal, "signatureCode", code="S")
    entity = _el(legal, "assignedEntity")
    _el(entity, "id", root=PS_ID_ROOT, extension=doc.legal_authenticator.id_nat)
    _person(entity, "assignedPerson", doc.legal_authenticator)


def _service_event(root: etree._Element, doc: DmpDocument) -> None:
    event = _el(_el(root, "documentationOf"), "serviceEvent")
    period = _el(event, "effectiveTime")
    _el(period, "low", value=_day(doc.service_start))
    if doc.service_stop is not None:
        _el(period, "high", value=_day(doc.service_stop))
    entity = _el(_el(event, "performer", typeCode="PRF"), "assignedEntity")
    _el(entity, "id", root=PS_ID_ROOT, extension=doc.author.id_nat)
    _person(entity, "assignedPerson", doc.author)
    org = _el(entity, "representedOrganization")
    _el(org, "id", root=STRUCTURE_ID_ROOT, extension=doc.organisation.id_nat)
    _el(org, "name", doc.organisation.name)
    setting = Code(
        doc.organisation.practice_setting_code,
        "1.2.250.1.213.1.1.4.9",
        doc.organisation.practice_setting_display,
        "practiceSettingCode",
    )
    _code(org, "standardIndustryClassCode", setting)


def _encounter(root: etree._Element, doc: DmpDocument) -> None:
    encounter = _el(_el(root, "componentOf"), "encompassingEncounter")
    _el(_el(encounter, "effectiveTime"), "low", value=_day(doc.service_start))
    facility = _el(_el(encounter, "location"), "healthCareFacility")
    org = doc.organisation
    _code(
        facility,
        "code",
        Code(org.facility_type_code, "1.2.250.1.71.4.2.4", org.facility_type_display),
    )


def _day(value: date) -> str:
    return value.strftime("%Y%m%d")


def build_cda(doc: DmpDocument, ids: FilingIds) -> bytes:
    """Return the CDA R2 N1 document (UTF-8 bytes, XML declaration) for one filing.

    :raises ValueError: for a patient without a valid INS, or an unmapped code.
    """
    type_code = codes.document_codes(doc.kind).type_code
    root = etree.Element(_NS + "ClinicalDocument", nsmap={None: V3, "xsi": XSI})
    _el(root, "realmCode", code="FR")
    _el(root, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    for template in TEMPLATE_IDS:
        _el(root, "templateId", root=template)
    _el(root, "id", root=ids.document_oid)
    _code(root, "code", type_code)
    _el(root, "title", doc.title)
    _el(root, "effectiveTime", value=paris_timestamp(doc.created_at))
    _code(root, "confidentialityCode", codes.CONFIDENTIALITY_NORMAL)
    _el(root, "languageCode", code="fr-FR")
    _el(root, "setId", root=ids.set_oid)
    _el(root, "versionNumber", value=str(ids.version_number))
    _record_target(root, doc)
    _author(root, doc)
    _custodian_and_authenticator(root, doc)
    _service_event(root, doc)
    if ids.replaces_document_oid:
        related = _el(root, "relatedDocument", typeCode="RPLC")
        _el(_el(related, "parentDocument"), "id", root=ids.replaces_document_oid)
    _encounter(root, doc)
    body = _el(_el(root, "component"), "nonXMLBody")
    text = _el(body, "text", mediaType="application/pdf", representation="B64")
    text.text = base64.b64encode(doc.pdf).decode("ascii")  # ASCII: no need to clean 100 KB
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
