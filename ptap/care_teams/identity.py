"""Validation of a patient's strict identity traits and INS (pure functions, no database)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from ptap.care_teams.models import IdentityStatus, Patient, Sex
from ptap.core import clock
from ptap.core.errors import InvalidInput
from ptap.core.ins import TEST_OIDS, InsOid, nir_error, normalise_nir

NAME_RE = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿŒœÆæ'’ -]+$")
#: Ligatures NFKD does not decompose.
LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss", "ẞ": "SS"})
CHECK_METHODS = {
    "identity_card": "Carte nationale d'identité",
    "passport": "Passeport",
    "residence_permit": "Titre de séjour",
    "family_record_book": "Livret de famille (mineur)",
    "insi": "Téléservice INSi",
    "insi_and_document": "Téléservice INSi et pièce d'identité",
}
#: High-trust documents (RNIV): what "Contrôle de la pièce d'identité" records.
DOCUMENT_TYPES = {
    "identity_card": "Carte nationale d'identité",
    "passport": "Passeport",
    "residence_permit": "Titre de séjour",
    "family_record_book": "Livret de famille (mineur)",
}
#: A document seen before the RNIV rules (migration 0024_rniv): its type was not recorded.
UNRECORDED_DOCUMENT = "unrecorded"
CHECK_METHODS[UNRECORDED_DOCUMENT] = "Pièce d'identité vue (type non enregistré)"
DOCUMENT_CHECKS = frozenset({*DOCUMENT_TYPES, UNRECORDED_DOCUMENT, "insi_and_document"})
INSI_METHODS = frozenset({"insi", "insi_and_document"})
HAND_REFUSED_STATUSES = frozenset({IdentityStatus.RECOVERED, IdentityStatus.QUALIFIED})


#: Apostrophe and hyphen look-alikes typed or pasted from documents (’ ‘ ʼ ` ´; ‐ ‑ ‒ – —).
_APOSTROPHES = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc`\u00b4", "'"))
_HYPHENS = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014", "-"))
#: What a normalised strict trait may hold: words of A-Z joined by one space, one apostrophe,
#: one hyphen or a double hyphen (the civil-status separator of double family names).
STRICT_TRAIT_RE = re.compile(r"^[A-Z]+(?:(?: |'|-|--)[A-Z]+)*$")


def normalise_trait(value: str) -> str:
    """Return a birth name or first-name list written as the INS rules store it.

    Upper case A-Z without diacritics (É -> E, Ç -> C), ligatures expanded (Œ -> OE,
    Æ -> AE, ß -> SS), apostrophe and hyphen look-alikes unified, no space around an
    apostrophe or a hyphen, runs of spaces collapsed, runs of three or more hyphens cut to a
    double hyphen, leading and trailing apostrophes, hyphens and spaces dropped. Any other
    character is kept, for `validate_identity` to refuse (docs/identity-vigilance.md).
    """
    text = value.translate(LIGATURES).translate(_APOSTROPHES).translate(_HYPHENS)
    decomposed = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r" *([-']) *", r"\1", text)
    text = re.sub(r"-{3,}", "--", text)
    text = re.sub(r"'{2,}", "'", text)
    return text.strip(" -'")


def search_key(value: str) -> str:
    """Return a name upper-cased without accents or punctuation, as search compares it."""
    decomposed = unicodedata.normalize("NFKD", value.translate(LIGATURES))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^A-Z]+", " ", plain.upper()).strip()


def names_search_key(*names: str) -> str:
    """Return every word of the given names (used, birth, first names), normalised as
    `search_key`, space-separated and framed by spaces, each compound name also glued
    ("LE GALL" adds "LEGALL"): the patients' `search_names` column, which the patient search
    matches word parts against in any order, the same on SQLite and PostgreSQL."""
    words: list[str] = []
    for name in names:
        parts = search_key(name).split()
        glued = ["".join(parts)] if len(parts) > 1 else []
        words += [w for w in (*parts, *glued) if w not in words]
    return f" {' '.join(words)} " if words else ""


def refresh_search_keys(patient: Patient) -> None:
    """Recompute the patient's three search keys from their names (after any name change):
    birth name, used name and every name word (`names_search_key`)."""
    patient.search_birth_name = search_key(patient.birth_name or "")
    patient.search_used_name = search_key(patient.used_name or "")
    refresh_search_names(patient)


def refresh_search_names(patient: Patient) -> None:
    """Recompute the patient's `search_names` key alone from their names."""
    names = (patient.used_name, patient.birth_name, patient.first_names, patient.used_first_name)
    patient.search_names = names_search_key(*(name or "" for name in names))


@dataclass(frozen=True)
class IdentityData:
    """Strict traits and INS as entered; validated by `validate_identity`."""

    birth_name: str
    first_names: str
    birth_year: int
    birth_month: int | None
    birth_day: int | None
    sex: str
    birthplace_code: str = ""
    used_name: str = ""
    used_first_name: str = ""
    ins_matricule: str = ""
    ins_oid: str = ""
    identity_status: str = IdentityStatus.PROVISIONAL
    identity_check_method: str = ""


def _check_name(value: str, field: str, label: str) -> None:
    if not value.strip():
        raise InvalidInput(f"{label} est obligatoire.", field=field)
    if not NAME_RE.match(value.strip()):
        raise InvalidInput(
            f"{label} ne doit contenir que des lettres, espaces, tirets et apostrophes.",
            field=field,
        )


def _check_birth_date(data: IdentityData) -> None:
    today = clock.paris_today()
    if not 1880 <= data.birth_year <= today.year:
        raise InvalidInput("Année de naissance invalide.", field="birth_date")
    if data.birth_month is None:
        if data.birth_day is not None:
            raise InvalidInput(
                "Un jour sans mois de naissance n'est pas valide.", field="birth_date"
            )
        return
    if not 1 <= data.birth_month <= 12:
        raise InvalidInput("Mois de naissance invalide.", field="birth_date")
    if data.birth_day is not None:
        try:
            born = date(data.birth_year, data.birth_month, data.birth_day)
        except ValueError as exc:
            raise InvalidInput("Date de naissance invalide.", field="birth_date") from exc
        if born > today:
            raise InvalidInput("La date de naissance est dans le futur.", field="birth_date")


def _check_ins(data: IdentityData, allow_test: bool) -> None:
    nir = normalise_nir(data.ins_matricule)
    if not nir:
        if data.ins_oid:
            raise InvalidInput("OID sans matricule INS.", field="ins_matricule")
        return
    error = nir_error(nir)
    if error:
        raise InvalidInput(error, field="ins_matricule")
    if data.ins_oid not in InsOid.__members__.values():
        raise InvalidInput(
            "OID INS inconnu : 1.2.250.1.213.1.4.8 (NIR), .4.9 (NIA), .4.10 ou .4.11 (tests).",
            field="ins_oid",
        )
    if data.ins_oid in TEST_OIDS and not allow_test:
        raise InvalidInput("Les identités de test sont refusées ici.", field="ins_oid")
    # Coherence between the matricule and the traits (sex 1/2, year, month when known).
    # The first digit is odd for men and even for women (1/2, 3/4 provisional, 7/8 NIA).
    if data.sex in ("M", "F") and (int(nir[0]) % 2 == 1) != (data.sex == "M"):
        raise InvalidInput("Le sexe ne correspond pas au matricule INS.", field="sex")
    if int(nir[1:3]) != data.birth_year % 100:
        raise InvalidInput(
            "L'année de naissance ne correspond pas au matricule INS.", field="birth_date"
        )
    nir_month = int(nir[3:5])
    if data.birth_month and 1 <= nir_month <= 12 and nir_month != data.birth_month:
        raise InvalidInput(
            "Le mois de naissance ne correspond pas au matricule INS.", field="birth_date"
        )


def _check_strict_trait(value: str, field: str, label: str) -> None:
    normalised = normalise_trait(value)
    if not normalised:
        raise InvalidInput(f"{label} est obligatoire.", field=field)
    if not STRICT_TRAIT_RE.match(normalised):
        raise InvalidInput(
            f"{label} ne doit contenir que des lettres, espaces, tirets et apostrophes.",
            field=field,
        )


def refuse_hand_status(data: IdentityData, current: tuple[str, str] | None) -> None:
    """Refuse a recovered or qualified status, or an INSi check, typed by hand.

    `current` is the record's (status, check method) when it already has them: keeping them
    unchanged is not a claim. Only an INSi answer recorded by the qualification service gives
    them (RNIV: an INS retrieved or verified through the teleservice).
    """
    status, method = current or (IdentityStatus.PROVISIONAL, "")
    if data.identity_status in HAND_REFUSED_STATUSES and data.identity_status != status:
        raise InvalidInput(
            "Ce statut ne se saisit pas : une identité est récupérée ou qualifiée par "
            "l'interrogation du téléservice INSi (bouton « Interroger INSi ») et, pour la "
            "qualifier, le contrôle d'une pièce d'identité à haut niveau de confiance.",
            field="identity_status",
        )
    if data.identity_check_method in INSI_METHODS and data.identity_check_method != method:
        raise InvalidInput(
            "L'appel au téléservice INSi ne se déclare pas : utilisez « Interroger INSi ».",
            field="identity_check_method",
        )


def validate_identity(data: IdentityData, *, allow_test_identities: bool) -> None:
    """Raise InvalidInput naming the first invalid field of the identity."""
    _check_strict_trait(data.birth_name, "birth_name", "Le nom de naissance")
    _check_strict_trait(data.first_names, "first_names", "La liste des prénoms")
    if data.used_name:
        _check_name(data.used_name, "used_name", "Le nom utilisé")
    if data.used_first_name:
        _check_name(data.used_first_name, "used_first_name", "Le prénom utilisé")
    if data.sex not in Sex.__members__.values():
        raise InvalidInput("Sexe invalide (F, M ou I).", field="sex")
    _check_birth_date(data)
    if data.birthplace_code and not re.fullmatch(r"\d{5}|2[AB]\d{3}", data.birthplace_code):
        raise InvalidInput(
            "Code INSEE du lieu de naissance invalide (5 caractères ; 99xxx à l'étranger).",
            field="birthplace_code",
        )
    _check_ins(data, allow_test_identities)
    if data.identity_status not in IdentityStatus.__members__.values():
        raise InvalidInput("Statut d'identité inconnu.", field="identity_status")
    # RNIV: validated = a high-trust document seen; recovered = INS returned by INSi;
    # qualified = both. Only the facts recorded by `qualification` make the last two.
    status = data.identity_status
    if data.identity_check_method and data.identity_check_method not in CHECK_METHODS:
        raise InvalidInput(
            "Mode de vérification de l'identité inconnu.", field="identity_check_method"
        )
    if status == IdentityStatus.VALIDATED and data.identity_check_method not in DOCUMENT_CHECKS:
        raise InvalidInput(
            "Une identité validée exige une pièce d'identité à haut niveau de confiance.",
            field="identity_check_method",
        )
    has_ins = bool(normalise_nir(data.ins_matricule))
    if status in (IdentityStatus.RECOVERED, IdentityStatus.QUALIFIED) and not has_ins:
        raise InvalidInput(
            "Une identité récupérée ou qualifiée a un matricule INS (téléservice INSi).",
            field="ins_matricule",
        )
    if status == IdentityStatus.QUALIFIED and data.identity_check_method != "insi_and_document":
        raise InvalidInput(
            "La qualification exige l'appel au téléservice INSi et une pièce d'identité.",
            field="identity_check_method",
        )
    if not data.birthplace_code and data.identity_status == IdentityStatus.QUALIFIED:
        raise InvalidInput(
            "Le lieu de naissance est un trait strict de l'identité qualifiée.",
            field="birthplace_code",
        )
