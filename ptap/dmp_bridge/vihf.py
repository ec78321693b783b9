"""The VIHF: the signed SAML 2.0 assertion that says who calls the DMP (SPEC-NOTES §1.3).

The assertion is issued by the structure (Issuer = DN of its seal certificate), names the user
(or the person responsible for an automated filing) in ``Subject/NameID`` and carries the
DMP attributes (VIHF_Version, Authentification_Mode INDIRECTE, structure, sector, subject
roles from JDV_J65-SubjectRole-DMP, patient INS, LPS identifiers). It is signed with an
enveloped XML-DSig signature (exc-c14n, rsa-sha256), placed right after ``Issuer`` as the
SAML schema requires.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import InvalidInput, InvalidSignature

from ptap.dmp_bridge.crypto import SigningIdentity
from ptap.dmp_bridge.ebrim import patient_cx
from ptap.dmp_bridge.ports import AccessMode, DmpAuthor, RequestContext

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
HL7_NS = "urn:hl7-org:v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_S = "{" + SAML_NS + "}"
_DS = "{" + DS_NS + "}"

X509_SUBJECT_NAME = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
AUTHN_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
#: TRE_R02 SecteurActivite, the code system of Secteur_Activite (JDV_J61).
SECTOR_SYSTEM = "1.2.250.1.71.4.2.4"
PURPOSE_OF_USE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
#: The reason of a bris-de-glace access (PTAP's attribute name, see build_vihf_assertion).
BREAK_GLASS_REASON = "Motif_Bris_De_Glace"
_MODE_DISPLAY = {
    AccessMode.NORMAL: "Accès normal",
    AccessMode.BREAK_GLASS: "Accès en bris de glace",
}


class VihfError(Exception):
    """The assertion cannot be built, or its signature is missing or wrong."""


@dataclass(frozen=True)
class SubjectRole:
    """One ``urn:oasis:names:tc:xacml:2.0:subject:role`` value (hl7 Role CE, JDV_J65)."""

    code: str
    code_system: str
    display_name: str


_TRE_G15 = "1.2.250.1.71.1.2.7"  # ProfessionSante
_TRE_R94 = "1.2.250.1.213.1.6.1.4"  # ProfessionSocial
_TRE_R95 = "1.2.250.1.213.1.6.1.109"  # UsagerTitre (psychologists)
#: JDV_J65 "99 Acteur caractérisé par son rôle" (first role of role-based professionals).
_ROLE_ACTOR = "1.2.250.1.213.1.6.1.140"
_TRE_R85 = "1.2.250.1.213.1.6.1.107"  # RolePriseCharge
_TRE_A00 = "1.2.250.1.213.1.1.4.6"  # ProducteurDocNonPS
_TRE_R38 = "1.2.250.1.71.4.2.5"  # savoir-faire (physicians' 2nd role)
_TRE_G05 = "1.2.250.1.71.4.2.6"  # pharmacists' CNOP section (2nd role)

#: First role of each PTAP profession (accounts.Profession values).
_PROFESSION_ROLES: dict[str, SubjectRole] = {
    "physician": SubjectRole("10", _TRE_G15, "Médecin"),
    "pharmacist": SubjectRole("21", _TRE_G15, "Pharmacien"),
    "nurse": SubjectRole("60", _TRE_G15, "Infirmier"),
    "physiotherapist": SubjectRole("70", _TRE_G15, "Masseur-Kinésithérapeute"),
    "occupational_therapist": SubjectRole("94", _TRE_G15, "Ergothérapeute"),
    "dietitian": SubjectRole("95", _TRE_G15, "Diététicien"),
    "psychologist": SubjectRole("93", _TRE_R95, "Psychologue"),
    "social_worker": SubjectRole("41", _TRE_R94, "Assistant de service social"),
    # Professionals characterised by their role: "99" then a TRE_R85 role (2nd occurrence).
    "care_coordinator": SubjectRole("99", _ROLE_ACTOR, "Acteur caractérisé par son rôle"),
    "public_health": SubjectRole("99", _ROLE_ACTOR, "Acteur caractérisé par son rôle"),
    "administrative": SubjectRole("SECRETARIAT_MEDICAL", _TRE_A00, "Secrétariat médical"),
}
#: Second role of the role-characterised professions (TRE_R85). 330 is in TRE_R85 since
#: 2021-10 and is the code the ANS gives for DAC coordinators (SPEC-NOTES §1.3), but the
#: JDV_J65 copy we have (2022-07) does not list it: to confirm with the DMP homologation.
_ROLE_BASED: dict[str, SubjectRole] = {
    "care_coordinator": SubjectRole("330", _TRE_R85, "Coordonnateur de parcours"),
    "public_health": SubjectRole("312", _TRE_R85, "Autre professionnel"),
}
#: Physicians' most frequent savoir-faire in coordination (JDV_J65, TRE_R38 "SM" codes).
_SPECIALTIES = {
    "SM04": "Cardiologie et maladies vasculaires (SM)",
    "SM18": "Gériatrie (SM)",
    "SM26": "Qualifié en médecine générale (SM)",
    "SM27": "Médecine interne (SM)",
    "SM29": "Médecine physique et réadaptation (SM)",
    "SM32": "Neurologie (SM)",
    "SM36": "Oncologie option médicale (SM)",
    "SM40": "Pédiatrie (SM)",
    "SM42": "Psychiatrie (SM)",
    "SM53": "Spécialiste en médecine générale (SM)",
    "SM54": "Médecine générale (SM)",
    "SM59": "Médecine d'urgence (SM)",
}
_PHARMACIST_SECTIONS = {
    "A": "Pharmacien titulaire d'officine",
    "D": "Pharmacien adjoint, remplaçant ou gérant",
    "DA": "Pharmacien adjoint",
    "G": "Pharmacien biologiste",
    "H": "Pharmacien d'établissement de santé",
}


def subject_roles(subject: DmpAuthor) -> tuple[SubjectRole, ...]:
    """Map a PTAP profession (and specialty) to the VIHF subject roles (JDV_J65).

    Physicians get their savoir-faire as 2nd role (SM54 general practice when unknown);
    pharmacists their CNOP section (A, officine, when unknown); role-characterised
    professionals "99" then their TRE_R85 role.
    """
    first = _PROFESSION_ROLES.get(subject.profession)
    if first is None:
        raise VihfError(f"Profession sans rôle VIHF connu : {subject.profession!r}")
    # The specialty may arrive in the JDV_J01 form "G15_10/SM54".
    specialty = subject.specialty.rsplit("/", 1)[-1].strip()
    if subject.profession == "physician":
        code = specialty or "SM54"
        return first, SubjectRole(code, _TRE_R38, _SPECIALTIES.get(code, code))
    if subject.profession == "pharmacist":
        code = specialty if specialty in _PHARMACIST_SECTIONS else "A"
        return first, SubjectRole(code, _TRE_G05, _PHARMACIST_SECTIONS[code])
    second = _ROLE_BASED.get(subject.profession)
    return (first, second) if second else (first,)


def _instant(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise VihfError("VIHF instants must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def _attribute(parent: etree._Element, name: str, value: str | None = None) -> etree._Element:
    attribute = etree.SubElement(parent, _S + "Attribute", Name=name)
    holder = etree.SubElement(attribute, _S + "AttributeValue")
    if value is not None:
        holder.text = value
    return holder


def _hl7_ce(holder: etree._Element, tag: str, **attrs: str) -> None:
    element = etree.SubElement(holder, "{" + HL7_NS + "}" + tag, nsmap={None: HL7_NS})
    for key, val in attrs.items():
        element.set(key, val)
    element.set("{" + XSI_NS + "}type", "CE")


def _patient_cx(context: RequestContext) -> str:
    """The patient's INS as a CX, formatted as in the XDS metadata (ebrim.patient_cx)."""
    try:
        return patient_cx(context.patient)
    except ValueError as exc:
        raise VihfError("Le patient n'a pas d'INS : pas d'accès au DMP possible") from exc


def build_vihf_assertion(
    context: RequestContext,
    signer: SigningIdentity,
    *,
    lps_name: str,
    lps_version: str,
    lps_homologation_id: str,
    vihf_version: str = "3.0",
    now: datetime,
    lifetime: timedelta = timedelta(minutes=5),
    lps_id: str = "",
    authn_context: str = AUTHN_UNSPECIFIED,
) -> etree._Element:
    """Build and sign the VIHF assertion for one request (a ``saml:Assertion`` element)."""
    assertion_id = f"_{uuid.uuid4()}"
    nsmap = {"saml": SAML_NS, "xsi": XSI_NS}
    root = etree.Element(
        _S + "Assertion",
        nsmap=nsmap,
        ID=assertion_id,
        IssueInstant=_instant(now),
        Version="2.0",
    )
    issuer = etree.SubElement(root, _S + "Issuer", Format=X509_SUBJECT_NAME)
    issuer.text = signer.subject_dn
    # signxml fills this placeholder, so the signature sits where the schema wants it.
    etree.SubElement(root, _DS + "Signature", nsmap={"ds": DS_NS}, Id="placeholder")
    subject = etree.SubElement(root, _S + "Subject")
    etree.SubElement(subject, _S + "NameID").text = context.subject.id_nat
    etree.SubElement(
        root, _S + "Conditions", NotBefore=_instant(now), NotOnOrAfter=_instant(now + lifetime)
    )
    authn = etree.SubElement(root, _S + "AuthnStatement", AuthnInstant=_instant(now))
    authn_ctx = etree.SubElement(authn, _S + "AuthnContext")
    etree.SubElement(authn_ctx, _S + "AuthnContextClassRef").text = authn_context

    statement = etree.SubElement(root, _S + "AttributeStatement")
    _attribute(statement, "VIHF_Version", vihf_version)
    _attribute(statement, "Authentification_Mode", "INDIRECTE")
    _attribute(statement, "Identifiant_Structure", context.organisation.id_nat)
    _attribute(
        statement, "Secteur_Activite", f"{context.organisation.facility_type_code}^{SECTOR_SYSTEM}"
    )
    subject_name = f"{context.subject.family_name} {context.subject.given_name}".strip()
    _attribute(statement, "urn:oasis:names:tc:xspa:1.0:subject:subject-id", subject_name)
    roles = etree.SubElement(statement, _S + "Attribute")
    roles.set("Name", "urn:oasis:names:tc:xacml:2.0:subject:role")
    for role in subject_roles(context.subject):
        holder = etree.SubElement(roles, _S + "AttributeValue")
        _hl7_ce(
            holder,
            "Role",
            code=role.code,
            codeSystem=role.code_system,
            displayName=role.display_name,
        )
    _attribute(statement, "urn:oasis:names:tc:xacml:2.0:resource:resource-id", _patient_cx(context))
    _attribute(statement, "Ressource_URN", "urn:dmp")
    mode = AccessMode(context.access_mode)
    _hl7_ce(
        _attribute(statement, "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"),
        "PurposeOfUse",
        code=str(mode),
        codeSystem="1.2.250.1.213.1.1.4.248",
        codeSystemName="mode acces VIHF 1.0",
        displayName=_MODE_DISPLAY[mode],
    )
    if mode == AccessMode.BREAK_GLASS:
        if not context.access_reason.strip():
            raise VihfError("Un accès en bris de glace doit porter son motif")
        # The reason travels with the mode (to confirm with the DMP homologation: the
        # attribute name is PTAP's, the DMPi guide that would name it is not public).
        _attribute(statement, BREAK_GLASS_REASON, context.access_reason.strip())
    _attribute(statement, "LPS_Nom", lps_name)
    _attribute(statement, "LPS_Version", lps_version)
    if lps_id:
        _attribute(statement, "LPS_ID", lps_id)
    _attribute(statement, "LPS_ID_HOMOLOGATION_DMP", lps_homologation_id)
    return _sign(root, signer)


@functools.lru_cache(maxsize=8)
def _private_key(key_pem: bytes) -> rsa.RSAPrivateKey:
    """Load a PEM key once: loading checks the RSA key, which costs ~20 ms every time."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise VihfError("La clé du certificat de cachet doit être RSA (rsa-sha256)")
    return key


def _sign(root: etree._Element, signer: SigningIdentity) -> etree._Element:
    xml_signer = XMLSigner(
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    xml_signer.namespaces = {"ds": DS_NS}
    signed: etree._Element = xml_signer.sign(
        root, key=_private_key(signer.key_pem), cert=signer.cert_pem.decode("ascii")
    )
    return signed


_EXPECTED = SignatureConfiguration(
    require_x509=True,
    signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
)


def embedded_certificate(assertion: etree._Element) -> bytes:
    """The PEM certificate carried in the signature's KeyInfo (what a test double trusts)."""
    text = assertion.findtext(f"{_DS}Signature/{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate")
    if not text or not text.strip():
        raise VihfError("Signature VIHF absente ou sans certificat")
    body = "".join(text.split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
    return pem.encode()


def verify_vihf_assertion(elem: etree._Element, cert_pem: bytes | str) -> None:
    """Check the assertion's enveloped signature against ``cert_pem``; raise VihfError if not."""
    if elem.tag != _S + "Assertion":
        raise VihfError("L'élément n'est pas une assertion SAML 2.0")
    if elem.find(_DS + "Signature") is None:
        raise VihfError("Assertion VIHF non signée")
    # Serialise then re-parse: the element may sit inside a SOAP envelope whose other
    # children must not be seen by the verifier (and signxml wants a standalone tree).
    standalone = etree.fromstring(etree.tostring(elem))
    cert = cert_pem.decode("ascii") if isinstance(cert_pem, bytes) else cert_pem
    try:
        result = XMLVerifier().verify(standalone, x509_cert=cert, expect_config=_EXPECTED)
    except (InvalidSignature, InvalidInput) as exc:
        raise VihfError(f"Signature VIHF invalide : {exc}") from exc
    signed = result.signed_xml if not isinstance(result, list) else None
    # Reject signature wrapping: what was verified must be this very assertion.
    if signed is None or signed.tag != _S + "Assertion" or signed.get("ID") != elem.get("ID"):
        raise VihfError("La signature VIHF ne couvre pas l'assertion")
