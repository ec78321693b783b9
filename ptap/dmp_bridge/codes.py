"""Code tables of the DMP filing: document kinds, authors, confidentiality, submission sets.

Every code and display name below is copied from the ANS value sets (TestContenuCDA 3.0
``jeuxDeValeurs/`` and the DMP tables derived from the NOS: ASS_X16, JDV_J59, JDV_J60);
``tests/dmp_bridge/test_codes.py`` checks each pair against those files, because the
schematrons compare code and displayName in some places.
"""

from __future__ import annotations

from dataclasses import dataclass

from ptap.dmp_bridge.ports import Confidentiality, DmpAuthor, DocumentKind

LOINC = "2.16.840.1.113883.6.1"
#: TRE_A03 ClasseDocument (JDV_J57-ClassCode-DMP).
CLASS_SYSTEM = "1.2.250.1.213.1.1.4.1"
#: TRE_A11 IheFormatCode.
IHE_FORMAT_SYSTEM = "1.3.6.1.4.1.19376.1.2.3"
#: TRE_A02 ProfessionSavFaire-CISIS: "G15_<profession>[/<savoir-faire>]" codes of JDV_J01.
PROFESSION_SYSTEM = "1.2.250.1.213.1.1.4.5"
#: TRE_R85 RolePriseCharge (coordinators and other role-based professionals).
ROLE_SYSTEM = "1.2.250.1.213.1.6.1.107"
#: TRE_R94 ProfessionSocial.
SOCIAL_PROFESSION_SYSTEM = "1.2.250.1.213.1.6.1.4"
#: TRE_R95 UsagerTitre (psychologists, osteopaths...).
USAGE_TITLE_SYSTEM = "1.2.250.1.213.1.6.1.109"
HL7_CONFIDENTIALITY_SYSTEM = "2.16.840.1.113883.5.25"
#: TRE_A07 XdsConfidentialityCode (DMP visibility codes).
DMP_CONFIDENTIALITY_SYSTEM = "1.2.250.1.213.1.1.4.13"
HL7_GENDER_SYSTEM = "2.16.840.1.113883.5.1"
HL7_PARTICIPATION_FUNCTION_SYSTEM = "2.16.840.1.113883.5.88"


@dataclass(frozen=True)
class Code:
    """A coded value: code, code system (OID, or a scheme name such as URN/ASTM), label."""

    code: str
    system: str
    display: str
    system_name: str = ""

    def hl7v2(self) -> str:
        """Return the CE form ``code^display^system`` used in XDS slots (authorSpecialty)."""
        return f"{self.code}^{self.display}^{self.system}"


@dataclass(frozen=True)
class DocumentCodes:
    """typeCode (CDA ``code``), XDS classCode and formatCode of one kind of document."""

    type_code: Code
    class_code: Code
    format_code: Code


#: N1 documents: PDF embedded in a nonXMLBody (XDS-SD), JDV_J60.
PDF_FORMAT = Code(
    "urn:ihe:iti:xds-sd:pdf:2008", IHE_FORMAT_SYSTEM, "Document à corps non structuré en Pdf/A-1"
)

#: JDV_J07 typeCode → ASS_X16 classCode (JDV_J57); there is no CI-SIS model for the PPCS.
DOCUMENT_CODES: dict[DocumentKind, DocumentCodes] = {
    DocumentKind.PPCS: DocumentCodes(
        Code("18776-5", LOINC, "Plan personnalisé de soins", "LOINC"),
        Code("44", CLASS_SYSTEM, "Plan de soins, protocole de soins"),
        PDF_FORMAT,
    ),
    DocumentKind.REFERRAL_LETTER: DocumentCodes(
        Code("96349-6", LOINC, "Lettre d'adressage", "LOINC"),
        Code("10", CLASS_SYSTEM, "Compte rendu"),
        PDF_FORMAT,
    ),
    DocumentKind.MEETING_REPORT: DocumentCodes(
        Code("34794-8", LOINC, "CR de réunion de concertation pluridisciplinaire", "LOINC"),
        Code("10", CLASS_SYSTEM, "Compte rendu"),
        PDF_FORMAT,
    ),
    DocumentKind.VISIT_REPORT: DocumentCodes(
        Code("11488-4", LOINC, "CR ou fiche de consultation ou de visite", "LOINC"),
        Code("10", CLASS_SYSTEM, "Compte rendu"),
        PDF_FORMAT,
    ),
}

#: Submission set contentTypeCode (JDV_J59): a DAC's activity is not one of the typed ones.
CONTENT_TYPE = Code("97", "1.2.250.1.213.2.2", "Type d'activité indifférencié")

#: The XAdES signature of the submission set, filed as an extra document (DRIMbox, ASS_X16, J60).
SIGNATURE_CLASS = Code("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature")
SIGNATURE_TYPE = Code("E1762", "ASTM", "Full Document")
SIGNATURE_FORMAT = Code("http://www.w3.org/2000/09/xmldsig#", "URN", "Default signature style")
#: IHE DSG purpose of signature "Source" (ASTM E1762 signature types).
SIGNATURE_EVENT = Code("1.2.840.10065.1.12.1.14", "1.2.840.10065.1.12", "Source")

#: CDA confidentialityCode: always N for the DMP (JDV_J08); R/V are not shared.
CONFIDENTIALITY_NORMAL = Code("N", HL7_CONFIDENTIALITY_SYSTEM, "Normal", "Confidentiality")
#: Extra XDS confidentialityCode occurrences (JDV_J08, TRE_A07).
DMP_VISIBILITY: dict[Confidentiality, Code] = {
    Confidentiality.MASKED_FROM_PROFESSIONALS: Code(
        "MASQUE_PS", DMP_CONFIDENTIALITY_SYSTEM, "Masqué aux professionnels de santé"
    ),
    Confidentiality.HIDDEN_FROM_PATIENT: Code(
        "INVISIBLE_PATIENT", DMP_CONFIDENTIALITY_SYSTEM, "Non visible par le patient"
    ),
    Confidentiality.HIDDEN_FROM_REPRESENTATIVES: Code(
        "INVISIBLE_REPRESENTANTS_LEGAUX",
        DMP_CONFIDENTIALITY_SYSTEM,
        "Non visible par les représentants légaux du patient",
    ),
}

#: administrativeGenderCode (JDV_J143) by DmpPatient.sex.
GENDERS: dict[str, Code] = {
    "F": Code("F", HL7_GENDER_SYSTEM, "Féminin"),
    "M": Code("M", HL7_GENDER_SYSTEM, "Masculin"),
    "I": Code("UN", HL7_GENDER_SYSTEM, "Inconnu"),
}

_PHYSICIAN = Code("G15_10", PROFESSION_SYSTEM, "Médecin")
#: Physician specialties (TRE_R38 savoir-faire) a coordination platform meets; other specialties
#: fall back to the bare profession "Médecin", which JDV_J01 also accepts.
PHYSICIAN_SPECIALTIES: dict[str, Code] = {
    code: Code(f"G15_10/{code}", PROFESSION_SYSTEM, f"Médecin - {label} (SM)")
    for code, label in {
        "SM18": "Gériatrie",
        "SM26": "Qualifié en Médecine Générale",
        "SM32": "Neurologie",
        "SM40": "Pédiatrie",
        "SM42": "Psychiatrie",
        "SM49": "Santé publique et Médecine sociale",
        "SM53": "Spécialiste en Médecine Générale",
        "SM54": "Médecine Générale",
        "SM75": "Santé publique",
    }.items()
}

#: assignedAuthor/code (JDV_J01) by PTAP profession (accounts.Profession values).
PROFESSIONS: dict[str, Code] = {
    "physician": _PHYSICIAN,
    "nurse": Code("G15_60", PROFESSION_SYSTEM, "Infirmier"),
    "pharmacist": Code("G15_21", PROFESSION_SYSTEM, "Pharmacien"),
    "physiotherapist": Code("G15_70", PROFESSION_SYSTEM, "Masseur-Kinésithérapeute"),
    "social_worker": Code("41", SOCIAL_PROFESSION_SYSTEM, "Assistant de service social"),
    "dietitian": Code("G15_95", PROFESSION_SYSTEM, "Diététicien"),
    "psychologist": Code("93", USAGE_TITLE_SYSTEM, "Psychologue"),
    "occupational_therapist": Code("G15_94", PROFESSION_SYSTEM, "Ergothérapeute"),
    "care_coordinator": Code("330", ROLE_SYSTEM, "Coordonnateur de parcours"),
    "administrative": Code("331", ROLE_SYSTEM, "Secrétaire assistante médico-administrative"),
    # No profession code fits a public-health officer who is not a physician.
    "public_health": Code("312", ROLE_SYSTEM, "Autre professionnel"),
}

#: author/functionCode (JDV_J47) by code; its display name is the XDS authorRole.
FUNCTIONS: dict[str, Code] = {
    "PCP": Code("PCP", HL7_PARTICIPATION_FUNCTION_SYSTEM, "Médecin traitant"),
    "ATTPHYS": Code(
        "ATTPHYS",
        HL7_PARTICIPATION_FUNCTION_SYSTEM,
        "Référent - Responsable du patient dans la structure de soins",
    ),
    "330": Code("330", ROLE_SYSTEM, "Coordonnateur de parcours"),
    "353": Code("353", ROLE_SYSTEM, "Membre de l'équipe de soins"),
}


@dataclass(frozen=True)
class AuthorCodes:
    """The codes describing an author: specialty (JDV_J01) and function (JDV_J47) if any."""

    specialty: Code
    function: Code | None


def document_codes(kind: DocumentKind) -> DocumentCodes:
    """Return the typeCode, classCode and formatCode of a kind of document."""
    return DOCUMENT_CODES[DocumentKind(kind)]


def author_codes(author: DmpAuthor) -> AuthorCodes:
    """Map a PTAP profession (and physician specialty, function) to the CDA/XDS author codes.

    :raises ValueError: for an unknown profession or function code.
    """
    try:
        specialty = PROFESSIONS[author.profession]
    except KeyError:
        raise ValueError(f"profession {author.profession!r} has no DMP author code") from None
    if author.profession == "physician" and author.specialty:
        specialty = PHYSICIAN_SPECIALTIES.get(author.specialty.upper(), _PHYSICIAN)
    function = None
    if author.function_code:
        try:
            function = FUNCTIONS[author.function_code]
        except KeyError:
            raise ValueError(f"function code {author.function_code!r} is not in JDV_J47") from None
    return AuthorCodes(specialty=specialty, function=function)


def confidentiality_codes(values: tuple[Confidentiality, ...]) -> list[Code]:
    """Return the XDS confidentialityCode list: N first, then the DMP visibility codes asked."""
    codes = [CONFIDENTIALITY_NORMAL]
    for value in values:
        extra = DMP_VISIBILITY.get(Confidentiality(value))
        if extra is not None and extra not in codes:
            codes.append(extra)
    return codes


def gender_code(sex: str) -> Code:
    """Return the administrativeGenderCode of a DmpPatient.sex value (F, M, I)."""
    try:
        return GENDERS[sex.upper()]
    except KeyError:
        raise ValueError(f"sex {sex!r} is not F, M or I") from None
