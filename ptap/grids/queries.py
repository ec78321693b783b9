"""Reads of assessment grids and assessments (a pathway step finds a grid by its key)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.core.errors import NotFound
from ptap.extensions import db
from ptap.grids.definition import GridDefinition, parse_definition
from ptap.grids.models import (
    Assessment,
    AssessmentAlert,
    AssessmentGrid,
    AssessmentGridVersion,
    AssessmentStatus,
    GridStatus,
)


def get_grid(grid_id: int) -> AssessmentGrid:
    """Return the grid or raise NotFound."""
    grid = db.session.get(AssessmentGrid, grid_id)
    if grid is None:
        raise NotFound("Grille introuvable.")
    return grid


def find_grid_by_key(key: str) -> AssessmentGrid | None:
    """Return the grid with this stable key, if any (what a pathway step references)."""
    return db.session.scalar(sa.select(AssessmentGrid).where(AssessmentGrid.key == key))


def get_grid_by_key(key: str) -> AssessmentGrid:
    """Return the grid with this stable key or raise NotFound."""
    grid = find_grid_by_key(key)
    if grid is None:
        raise NotFound("Grille introuvable.")
    return grid


def list_grids(*, published_only: bool = False) -> list[AssessmentGrid]:
    """Return the grids by title (only those open to new assessments if asked)."""
    stmt = sa.select(AssessmentGrid).order_by(AssessmentGrid.title, AssessmentGrid.id)
    if published_only:
        stmt = stmt.where(AssessmentGrid.status == GridStatus.PUBLISHED)
    return list(db.session.scalars(stmt))


def find_current_version(grid: AssessmentGrid) -> AssessmentGridVersion | None:
    """Return the version in force of the grid (None before its first publication)."""
    if grid.current_number == 0:
        return None
    return db.session.scalar(
        sa.select(AssessmentGridVersion).where(
            AssessmentGridVersion.grid_id == grid.id,
            AssessmentGridVersion.number == grid.current_number,
        )
    )


def list_versions(grid_id: int) -> list[AssessmentGridVersion]:
    """Return the grid's published versions, newest first."""
    return list(
        db.session.scalars(
            sa.select(AssessmentGridVersion)
            .where(AssessmentGridVersion.grid_id == grid_id)
            .order_by(AssessmentGridVersion.number.desc())
        )
    )


def find_version(grid_id: int, number: int) -> AssessmentGridVersion | None:
    """Return the grid's published version of that number, if any."""
    return db.session.scalar(
        sa.select(AssessmentGridVersion).where(
            AssessmentGridVersion.grid_id == grid_id, AssessmentGridVersion.number == number
        )
    )


def get_version(version_id: int) -> AssessmentGridVersion:
    """Return a grid version or raise NotFound."""
    version = db.session.get(AssessmentGridVersion, version_id)
    if version is None:
        raise NotFound("Version de grille introuvable.")
    return version


def version_definition(version_id: int) -> GridDefinition:
    """Return the definition of a published version (it was checked when published)."""
    return parse_definition(get_version(version_id).definition)


def get_assessment(assessment_id: int) -> Assessment:
    """Return an assessment or raise NotFound (callers then load its patient, audited)."""
    assessment = db.session.get(Assessment, assessment_id)
    if assessment is None:
        raise NotFound("Évaluation introuvable.")
    return assessment


@dataclass(frozen=True)
class AssessmentRow:
    """One assessment as lists show it."""

    id: int
    grid_id: int
    grid_key: str
    grid_title: str
    version: int
    status: str
    score: int | None
    band_label: str
    band_alert: bool
    author_name: str
    author_id: int
    created_at: datetime
    signed_at: datetime | None
    alerted: bool


def patient_assessment_rows(
    patient_id: int, *, grid_id: int | None = None, signed_only: bool = False
) -> list[AssessmentRow]:
    """Return the patient's assessments, newest first, in one query."""
    stmt = (
        sa.select(
            Assessment,
            AssessmentGrid.key,
            AssessmentGrid.title,
            AssessmentGridVersion.number,
            User.first_name,
            User.last_name,
            AssessmentAlert.id,
        )
        .join(AssessmentGrid, AssessmentGrid.id == Assessment.grid_id)
        .join(AssessmentGridVersion, AssessmentGridVersion.id == Assessment.grid_version_id)
        .join(User, User.id == Assessment.author_id)
        .outerjoin(AssessmentAlert, AssessmentAlert.assessment_id == Assessment.id)
        .where(Assessment.patient_id == patient_id)
        .order_by(sa.func.coalesce(Assessment.signed_at, Assessment.created_at).desc())
        .order_by(Assessment.id.desc())
    )
    if grid_id is not None:
        stmt = stmt.where(Assessment.grid_id == grid_id)
    if signed_only:
        stmt = stmt.where(Assessment.status == AssessmentStatus.SIGNED)
    return [
        AssessmentRow(
            id=a.id,
            grid_id=a.grid_id,
            grid_key=key,
            grid_title=title,
            version=number,
            status=a.status,
            # A draft's score is partial and may change: shown only once signed.
            score=a.score if a.status == AssessmentStatus.SIGNED else None,
            band_label=a.band_label if a.status == AssessmentStatus.SIGNED else "",
            band_alert=a.band_alert if a.status == AssessmentStatus.SIGNED else False,
            author_name=f"{first} {last}".strip(),
            author_id=a.author_id,
            created_at=a.created_at,
            signed_at=a.signed_at,
            alerted=alert_id is not None,
        )
        for a, key, title, number, first, last, alert_id in db.session.execute(stmt)
    ]


def find_alert(assessment_id: int) -> AssessmentAlert | None:
    """Return the alert the assessment raised, if any."""
    return db.session.scalar(
        sa.select(AssessmentAlert).where(AssessmentAlert.assessment_id == assessment_id)
    )


@dataclass(frozen=True)
class GridRef:
    """A grid as a pathway step shows it, and when the patient signed it (oldest first)."""

    id: int
    key: str
    title: str
    published: bool
    signatures: tuple[datetime, ...] = ()

    @property
    def last_signed_at(self) -> datetime | None:
        """The patient's last signature of this grid, if any."""
        return self.signatures[-1] if self.signatures else None


def grid_refs(keys: Sequence[str], patient_id: int | None = None) -> dict[str, GridRef]:
    """Return the grids with these keys, by key, with every signature of the patient's
    assessments of each (one query whatever the number of keys)."""
    if not keys:
        return {}
    signed = Assessment.signed_at if patient_id is not None else sa.null()
    stmt = (
        sa.select(
            AssessmentGrid.id,
            AssessmentGrid.key,
            AssessmentGrid.title,
            AssessmentGrid.status,
            signed,
        )
        .where(AssessmentGrid.key.in_(sorted(set(keys))))
        .order_by(AssessmentGrid.id, signed)
    )
    if patient_id is not None:
        stmt = stmt.outerjoin(
            Assessment,
            sa.and_(
                Assessment.grid_id == AssessmentGrid.id,
                Assessment.patient_id == patient_id,
                Assessment.status == AssessmentStatus.SIGNED,
                Assessment.signed_at.is_not(None),
            ),
        )
    found: dict[str, GridRef] = {}
    for grid_id, key, title, status, when in db.session.execute(stmt):
        ref = found.get(key) or GridRef(grid_id, key, title, status == GridStatus.PUBLISHED)
        if when is not None:
            ref = GridRef(ref.id, key, title, ref.published, (*ref.signatures, when))
        found[key] = ref
    return found


def signatures(
    patient_ids: Sequence[int], keys: Sequence[str]
) -> dict[tuple[int, str], list[datetime]]:
    """Return when each patient signed assessments of each grid (oldest first), by (patient
    id, grid key), in one query whatever the numbers (pathway timelines, reminders,
    dashboards)."""
    if not patient_ids or not keys:
        return {}
    rows = db.session.execute(
        sa.select(Assessment.patient_id, AssessmentGrid.key, Assessment.signed_at)
        .join(AssessmentGrid, AssessmentGrid.id == Assessment.grid_id)
        .where(
            Assessment.patient_id.in_(sorted(set(patient_ids))),
            AssessmentGrid.key.in_(sorted(set(keys))),
            Assessment.status == AssessmentStatus.SIGNED,
            Assessment.signed_at.is_not(None),
        )
        .order_by(Assessment.patient_id, AssessmentGrid.key, Assessment.signed_at)
    )
    found: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    for patient_id, key, when in rows:
        if when is not None:  # the query excludes them; the column is nullable
            found[(patient_id, key)].append(when)
    return dict(found)
