"""Outside services in a patient's circle (SSIAD, CCAS, aide à domicile, pharmacy...).

Each is named by a FINESS number (checked with the platform's one FINESS validator), a free
name, or both. Ending one sets its end date and keeps the row: the circle's history. The same
FINESS is at most once among a circle's running services; the partial unique index
`uq_circle_structures_patient_finess_open` decides, even when two people add it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams.models import (
    CIRCLE_STRUCTURE_KIND_TAGS,
    CircleStructure,
    CircleStructureKind,
    Patient,
    Structure,
)
from ptap.care_teams.organisation import normalise_finess
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, NotFound
from ptap.core.formatting import label
from ptap.core.identifiers import is_valid_finess
from ptap.core.models import utcnow
from ptap.core.policy import require
from ptap.extensions import db

INVALID_FINESS = (
    "Numéro FINESS invalide : il compte 9 chiffres, le dernier étant une clé de contrôle. "
    "Vérifiez le numéro, ou laissez ce champ vide et indiquez seulement le nom."
)
NAME_OR_FINESS = "Indiquez le numéro FINESS ou le nom de la structure."
DUPLICATE_FINESS = (
    "Cette structure (même numéro FINESS) intervient déjà auprès de la personne : "
    "modifiez la ligne existante plutôt que d'en ajouter une seconde."
)

#: Editable fields and their maximum lengths (the columns').
_LIMITS = {"name": 200, "contact_person": 200, "phone": 30, "email": 255, "address": 300}


@dataclass(frozen=True)
class StructureData:
    """What is typed about an outside service of the circle."""

    kind: str
    finess: str = ""
    name: str = ""
    contact_person: str = ""
    phone: str = ""
    email: str = ""
    address: str = ""
    note: str = ""
    started_on: date | None = None


def _checked(data: StructureData) -> dict[str, object]:
    """Return the column values of `data`, or raise InvalidInput naming the field at fault."""
    if data.kind not in CircleStructureKind.__members__.values():
        raise InvalidInput("Choisissez le type de structure.", field="kind")
    number = normalise_finess(data.finess) or None
    if number is not None and not is_valid_finess(number):
        raise InvalidInput(INVALID_FINESS, field="finess")
    values: dict[str, object] = {"kind": data.kind, "finess": number}
    for name, limit in _LIMITS.items():
        value = str(getattr(data, name)).strip()
        if len(value) > limit:
            raise InvalidInput("Texte trop long.", field=name)
        values[name] = value
    if number is None and not values["name"]:
        raise InvalidInput(NAME_OR_FINESS, field="name")
    if values["email"] and "@" not in str(values["email"]):
        raise InvalidInput("Adresse e-mail invalide.", field="email")
    values["note"] = data.note.strip()
    values["started_on"] = data.started_on or clock.paris_today()
    values["structure_id"] = (
        db.session.scalar(sa.select(Structure.id).where(Structure.finess == number))
        if number
        else None
    )
    return values


def _flush_unique() -> None:
    """Flush; a second running row with the same FINESS becomes the French Conflict."""
    try:
        db.session.flush()
    except IntegrityError as exc:  # the partial unique index, also when two requests race
        raise Conflict(DUPLICATE_FINESS, field="finess") from exc


def add_circle_structure(
    user: User, patient: Patient, data: StructureData, ctx: AuditContext
) -> CircleStructure:
    """Add an outside service to the patient's circle."""
    require(user, "patient.structures.manage", patient)
    row = CircleStructure(patient_id=patient.id, added_by_id=user.id, **_checked(data))
    db.session.add(row)
    _flush_unique()
    record_event(
        ctx,
        "circle.structure_add",
        object_type="circle_structure",
        object_id=row.id,
        patient_id=patient.id,
        reason=f"{row.kind}: {row.finess or row.name}",
    )
    return row


NOT_IN_CIRCLE = "Structure introuvable dans ce cercle de soins."


def get_circle_structure(patient: Patient, structure_id: int) -> CircleStructure:
    """Return one outside service of this patient's circle, or raise NotFound."""
    row = db.session.get(CircleStructure, structure_id)
    if row is None or row.patient_id != patient.id:
        raise NotFound(NOT_IN_CIRCLE)
    return row


def _require_manage(user: User, patient: Patient, row: CircleStructure) -> None:
    """Check that `user` may manage this patient's services and that `row` is one of them."""
    require(user, "patient.structures.manage", patient)
    if row.patient_id != patient.id:
        raise NotFound(NOT_IN_CIRCLE)


def update_circle_structure(
    user: User, patient: Patient, row: CircleStructure, data: StructureData, ctx: AuditContext
) -> CircleStructure:
    """Change what is known about a running outside service; audited with the fields changed."""
    _require_manage(user, patient, row)
    if row.ended_on is not None:
        raise Conflict("Cette intervention est terminée : elle n'est plus modifiable.")
    values = _checked(data)
    if data.started_on is None:
        values["started_on"] = row.started_on
    changed = sorted(k for k, v in values.items() if getattr(row, k) != v)
    if not changed:
        return row
    for key in changed:
        setattr(row, key, values[key])
    row.updated_by_id = user.id
    row.updated_at = utcnow()
    _flush_unique()
    record_event(
        ctx,
        "circle.structure_update",
        object_type="circle_structure",
        object_id=row.id,
        patient_id=patient.id,
        reason=", ".join(changed),
    )
    return row


def end_circle_structure(
    user: User, patient: Patient, row: CircleStructure, ended_on: date, ctx: AuditContext
) -> CircleStructure:
    """End an outside service's intervention on `ended_on`; the row stays as history."""
    _require_manage(user, patient, row)
    if row.ended_on is not None:
        raise Conflict("Cette intervention est déjà terminée.")
    if ended_on > clock.paris_today():
        raise InvalidInput("La date de fin ne peut pas être dans le futur.", field="ended_on")
    if ended_on < row.started_on:
        raise InvalidInput("La date de fin précède le début de l'intervention.", field="ended_on")
    row.ended_on = ended_on
    row.ended_by_id = user.id
    db.session.flush()
    record_event(
        ctx,
        "circle.structure_end",
        object_type="circle_structure",
        object_id=row.id,
        patient_id=patient.id,
        reason=f"ended on {ended_on.isoformat()}",
    )
    return row


# --- reads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CircleStructureRow:
    """An outside service as the pages show it."""

    id: int
    kind: str
    kind_label: str
    label: str
    finess: str
    contact_person: str
    phone: str
    email: str
    address: str
    note: str
    started_on: date
    ended_on: date | None


def _label(row: CircleStructure, known_name: str | None) -> str:
    return row.name or known_name or f"Structure FINESS {row.finess}"


def display_name(row: CircleStructure) -> str:
    """Return the name shown for an outside service (its own, the known structure's, or its
    FINESS number)."""
    return _label(row, row.structure.name if row.structure else None)


def list_circle_structures(patient_id: int) -> list[CircleStructureRow]:
    """Return the patient's outside services: running ones first, then ended, newest first."""
    rows = db.session.execute(
        sa.select(CircleStructure, Structure.name)
        .outerjoin(Structure, Structure.id == CircleStructure.structure_id)
        .where(CircleStructure.patient_id == patient_id)
        .order_by(
            CircleStructure.ended_on.is_not(None),
            CircleStructure.ended_on.desc(),
            CircleStructure.started_on.desc(),
            CircleStructure.id.desc(),
        )
    ).all()
    return [
        CircleStructureRow(
            id=r.id,
            kind=r.kind,
            kind_label=label(CIRCLE_STRUCTURE_KIND_TAGS, r.kind),
            label=_label(r, known),
            finess=r.finess or "",
            contact_person=r.contact_person,
            phone=r.phone,
            email=r.email,
            address=r.address,
            note=r.note,
            started_on=r.started_on,
            ended_on=r.ended_on,
        )
        for r, known in rows
    ]


def circle_structure_names(patient_id: int) -> list[str]:
    """Return the names of the patient's running outside services (suggestions for a plan
    action's "structure" field), sorted, without repeats."""
    rows = db.session.execute(
        sa.select(CircleStructure, Structure.name)
        .outerjoin(Structure, Structure.id == CircleStructure.structure_id)
        .where(CircleStructure.patient_id == patient_id, CircleStructure.ended_on.is_(None))
    ).all()
    return sorted({_label(r, known) for r, known in rows}, key=str.casefold)
