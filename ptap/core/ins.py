"""The national health identity (INS): NIR/NIA format, control key and OIDs."""

from __future__ import annotations

import re
from enum import StrEnum


class InsOid(StrEnum):
    """The OID that qualifies an INS matricule (ANS, référentiel INS)."""

    NIR = "1.2.250.1.213.1.4.8"
    NIA = "1.2.250.1.213.1.4.9"
    TEST_NIR = "1.2.250.1.213.1.4.10"
    TEST_NIA = "1.2.250.1.213.1.4.11"


INS_OID_LABELS = {
    InsOid.NIR: "NIR",
    InsOid.NIA: "NIA",
    InsOid.TEST_NIR: "NIR de test",
    InsOid.TEST_NIA: "NIA de test",
}

# sex (1 digit), birth year (2), month (2), department (2: digits, 2A or 2B), commune (3),
# order number (3), key (2).
_NIR_RE = re.compile(r"^[1-478]\d{2}\d{2}(?:\d{2}|2[AB])\d{3}\d{3}\d{2}$")


def normalise_nir(value: str) -> str:
    """Return the matricule without spaces or dots, upper-cased (2a → 2A)."""
    return re.sub(r"[\s.]", "", value).upper()


def _numeric_body(body13: str) -> int:
    # Corsica: 2A counts as 19 and 2B as 18 when computing the key.
    return int(body13.replace("2A", "19").replace("2B", "18"))


def nir_key(body13: str) -> str:
    """Return the 2-digit control key of a 13-character NIR/NIA body: 97 - (body mod 97)."""
    return f"{97 - _numeric_body(body13) % 97:02d}"


def is_valid_nir(value: str) -> bool:
    """Tell whether `value` is a well-formed NIR/NIA with a correct key."""
    nir = normalise_nir(value)
    if not _NIR_RE.match(nir):
        return False
    return nir_key(nir[:13]) == nir[13:]


def nir_error(value: str) -> str | None:
    """Return a French message saying what is wrong with a NIR/NIA, or None if it is valid."""
    nir = normalise_nir(value)
    if len(nir) != 15:
        return "Le matricule INS compte 15 caractères (13 + clé de 2 chiffres)."
    if not _NIR_RE.match(nir):
        return "Le matricule INS n'a pas le format d'un NIR ou d'un NIA."
    if nir_key(nir[:13]) != nir[13:]:
        return "La clé de contrôle du matricule INS est incorrecte."
    return None


TEST_OIDS = frozenset({InsOid.TEST_NIR, InsOid.TEST_NIA})


def with_key(body13: str) -> str:
    """Return a 13-character NIR/NIA body followed by its control key."""
    return body13 + nir_key(body13)
