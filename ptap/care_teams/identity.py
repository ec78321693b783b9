"""Validation of a patient's strict identity traits and INS (pure functions, no database)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from ptap.care_teams.models import IdentityStatus, Sex
from ptap.core import clock
from ptap.core.errors import InvalidInput
from ptap.core.ins import TEST_OIDS, InsOid, nir_error, normalise_nir

NAME_RE = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿŒœÆæ' -]+$")
#: Ligatures NFKD does not decompose.
LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE"})
CHECK_METHODS = {
    "identity_card": "Carte nationale d'identité",
    "passport": "Passeport",
    "residence_permit": "Titre de séjour",
    "family_record_book": "Livret de famille (mineur)",
    "insi": "Téléservice INSi",
    "insi_and_document": "Téléservice INSi et pièce d'identité",
}
DOCUMENT_CHECKS = frozenset(
    {"identity_card", "passport", "residence_permit", "family_record_book", "insi_and_document"}
)


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


def validate_identity(data: IdentityData, *, allow_test_identities: bool) -> None:
    """Raise InvalidInput naming the first invalid field of the identity."""
    _check_name(data.birth_name, "birth_name", "Le nom de naissance")
    _check_name(data.first_names, "first_names", "La liste des prénoms")
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
    # qualified = both.
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
