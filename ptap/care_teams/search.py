"""Patient search: what was typed, the filters, need-to-know first, as one SQL statement.

One box takes the names (used, birth, first names: any part, any order, accents and case
ignored), an INS (NIR or NIA digits, spaces allowed) and a birth date (jj/mm/aaaa or
aaaa-mm-jj), mixed in any order. Names match the `search_names` column the services keep
(identity.names_search_key), so SQLite and PostgreSQL answer alike without unaccent().

The plan columns and filters belong to care plans, a higher layer: it registers a
`FollowUpSource` here (as timeline providers do) and the list asks it for one page at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import sqlalchemy as sa

from ptap.care_teams.access import sharing_ever_recorded, visible_patient_ids
from ptap.care_teams.identity import search_key
from ptap.care_teams.models import Enrolment, Patient
from ptap.core.errors import InvalidInput
from ptap.core.ins import normalise_nir

_DATE_RE = re.compile(r"^(?:(\d{1,2})/)?(?:(\d{1,2})/)?(\d{4})$|^(\d{4})-(\d{2})-(\d{2})$")
#: A birth date inside the search box: jj/mm/aaaa (or jj.mm.aaaa, jj-mm-aaaa), aaaa-mm-jj, or
#: mm/aaaa; a lone year (aaaa) is told apart from an INS by its length.
_DATE_IN_TEXT = re.compile(
    r"(?<![\d/.-])(?:(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})|(\d{4})-(\d{1,2})-(\d{1,2})"
    r"|(\d{1,2})/(\d{4}))(?![\d/.-])"
)
_NIR_RE = re.compile(r"\d{5}(?:\d{2}|2[AB])\d{6}(?:\d{2})?")
BAD_DATE = "Date de naissance : jj/mm/aaaa, mm/aaaa, aaaa ou aaaa-mm-jj."
BAD_INS = (
    "Un matricule INS a 15 caractères, clé comprise (13 sans la clé). Les dates s'écrivent "
    "jj/mm/aaaa."
)


@dataclass(frozen=True)
class PatientSearch:
    """Criteria of the patient list: the search box (`text`), or the separate name (birth or
    used), INS and birth date of the API, and the filters."""

    text: str = ""
    name: str = ""
    ins: str = ""
    birth_date: str = ""
    team_id: int | None = None
    #: A plan status, or "none" (no plan yet); empty: any.
    plan_status: str = ""
    review_due: bool = False
    consent_to_collect: bool = False
    #: Only the patients whose open enrolment names this coordinator as referent.
    referent_id: int | None = None


@dataclass(frozen=True)
class Terms:
    """What the typed criteria mean once parsed."""

    words: tuple[str, ...] = ()
    #: A whole matricule (15 characters) or its 13-character body.
    nir: str = ""
    year: int | None = None
    month: int | None = None
    day: int | None = None

    @property
    def full_birth_date(self) -> date | None:
        """Return the birth date when day, month and year were all given."""
        if self.year and self.month and self.day:
            try:
                return date(self.year, self.month, self.day)
            except ValueError:
                return None
        return None

    @property
    def identifies(self) -> bool:
        """Tell whether the criteria name one person precisely enough for break-the-glass:
        a whole INS, or a name and a full birth date (a name alone never does)."""
        return len(self.nir) == 15 or (bool(self.words) and self.full_birth_date is not None)


def _date_parts(text: str) -> tuple[int, int | None, int | None]:
    match = _DATE_RE.match(text.strip())
    if not match:
        raise InvalidInput(BAD_DATE, field="birth_date")
    if match.group(4):
        return int(match.group(4)), int(match.group(5)), int(match.group(6))
    parts = [p for p in match.groups()[:3] if p]
    year = int(parts[-1])
    day = int(parts[0]) if len(parts) == 3 else None
    month = int(parts[-2]) if len(parts) >= 2 else None
    return year, month, day


def _from_text(text: str) -> Terms:
    """Split the search box into name words, an INS and a birth date."""
    dates = list(_DATE_IN_TEXT.finditer(text))
    if len(dates) > 1:
        raise InvalidInput("Indiquez une seule date de naissance.", field="q")
    year = month = day = None
    if dates:
        g = dates[0].groups()
        if g[2]:
            day, month, year = int(g[0]), int(g[1]), int(g[2])
        elif g[3]:
            day, month, year = int(g[5]), int(g[4]), int(g[3])
        else:
            month, year = int(g[6]), int(g[7])
        text = text[: dates[0].start()] + " " + text[dates[0].end() :]
    tokens = text.split()
    numeric = [t for t in tokens if any(c.isdigit() for c in t)]
    words = [w for t in tokens if t not in numeric for w in search_key(t).split()]
    nir = normalise_nir("".join(numeric))
    if nir and year is None and re.fullmatch(r"\d{4}", nir) and 1880 <= int(nir) <= 2100:
        year, nir = int(nir), ""  # a birth year alone
    elif nir and (len(nir) not in (13, 15) or not _NIR_RE.fullmatch(nir)):
        raise InvalidInput(BAD_INS, field="q")
    return Terms(tuple(dict.fromkeys(words)), nir, year, month, day)


def parse_terms(search: PatientSearch) -> Terms:
    """Parse the typed criteria; raise InvalidInput naming the field at fault."""
    terms = _from_text(search.text) if search.text.strip() else Terms()
    words = list(terms.words) + search_key(search.name).split()
    nir = terms.nir or normalise_nir(search.ins)
    year, month, day = terms.year, terms.month, terms.day
    if search.birth_date.strip():
        year, month, day = _date_parts(search.birth_date)
    return Terms(tuple(dict.fromkeys(words)), nir, year, month, day)


class FollowUpSource(Protocol):
    """Plan columns and filters of the patient list, provided by the care-plans domain."""

    def status_choices(self) -> list[tuple[str, str]]:
        """Return the plan-status filter's (value, label) pairs, "none" included."""

    def matching(self, plan_status: str, review_due: bool) -> sa.ColumnElement[bool]:
        """Return a condition on `Patient.id`: the patient's plan has this status (or none)
        and/or its review is due."""

    def follow_ups(self, patient_ids: list[int]) -> dict[int, FollowUp]:
        """Return each listed patient's plan summary (one query for the page)."""


@dataclass(frozen=True)
class FollowUp:
    """A patient's care plan as the list shows it."""

    status: str
    status_label: str
    next_review_on: date | None = None
    #: The review falls within the reminders' notice period, or is past.
    review_due: bool = False
    #: The review date is past.
    review_late: bool = False


_SOURCES: list[FollowUpSource] = []


def register_follow_up_source(source: FollowUpSource) -> FollowUpSource:
    """Install the provider of plan columns and filters (one; the last registered wins)."""
    _SOURCES[:] = [source]
    return source


def follow_up_source() -> FollowUpSource | None:
    """Return the registered provider of plan columns and filters, if any."""
    return _SOURCES[0] if _SOURCES else None


def visible_patients_query(user_id: int, search: PatientSearch | None = None) -> sa.Select[Any]:
    """Select the patients the user may see, matching the search and filters, by name."""
    stmt = sa.select(Patient).where(
        Patient.id.in_(visible_patient_ids(user_id, with_consent_to_collect=True)),
        Patient.merged_into_id.is_(None),
    )
    if search is not None:
        stmt = stmt.where(*_conditions(parse_terms(search)), *_filters(search))
    return stmt.order_by(Patient.search_birth_name, Patient.first_names, Patient.id)


def _conditions(terms: Terms) -> list[Any]:
    # The words hold only A-Z (search_key): nothing to escape in the LIKE patterns.
    found: list[Any] = [Patient.search_names.like(f"%{word}%") for word in terms.words]
    if len(terms.nir) == 15:
        found.append(Patient.ins_matricule == terms.nir)
    elif terms.nir:
        found.append(Patient.ins_matricule.like(f"{terms.nir}%"))
    if terms.year is not None:
        found.append(Patient.birth_year == terms.year)
    if terms.month:
        found.append(Patient.birth_month == terms.month)
    if terms.day:
        found.append(Patient.birth_day == terms.day)
    return found


def _filters(search: PatientSearch) -> list[Any]:
    found: list[Any] = []
    if search.team_id is not None:
        found.append(
            Patient.id.in_(
                sa.select(Enrolment.patient_id).where(
                    Enrolment.team_id == search.team_id, Enrolment.ended_at.is_(None)
                )
            )
        )
    if search.referent_id is not None:
        referred = sa.select(Enrolment.patient_id).where(
            Enrolment.referent_id == search.referent_id, Enrolment.ended_at.is_(None)
        )
        if search.team_id is not None:
            referred = referred.where(Enrolment.team_id == search.team_id)
        found.append(Patient.id.in_(referred))
    if search.consent_to_collect:
        found.append(Patient.sharing_consent.is_(False))
        found.append(~sharing_ever_recorded(Patient.id))
    source = follow_up_source()
    if source is not None and (search.plan_status or search.review_due):
        found.append(source.matching(search.plan_status, search.review_due))
    return found
