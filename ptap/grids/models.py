"""Assessment grids (grilles d'évaluation): versioned questionnaires, and the assessments
professionals fill with them for a patient (draft, then signed), with their alerts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ptap.core.models import Base, make_append_only, utcnow


class GridStatus(StrEnum):
    """Lifecycle of a grid: draft (never published) → published → retired."""

    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


GRID_STATUS_LABELS = {
    GridStatus.DRAFT: "Brouillon",
    GridStatus.PUBLISHED: "Publiée",
    GridStatus.RETIRED: "Retirée",
}


class AssessmentStatus(StrEnum):
    """An assessment is a draft (autosaved) until its author signs it; then it never changes."""

    DRAFT = "draft"
    SIGNED = "signed"


ASSESSMENT_STATUS_LABELS = {
    AssessmentStatus.DRAFT: "Brouillon",
    AssessmentStatus.SIGNED: "Signée",
}


class AssessmentGrid(Base):
    """A grid: a working draft and the numbered, immutable versions published from it."""

    __tablename__ = "assessment_grids"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stable identifier (e.g. "fragilite-domicile"): pathway steps and FHIR `name` use it.
    key: Mapped[str] = mapped_column(sa.String(60), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(20), default=GridStatus.DRAFT)
    #: The working definition (ptap.grids.definition.GridDefinition as JSON).
    draft: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: Number of the version in force (0 before the first publication).
    current_number: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class AssessmentGridVersion(Base):
    """A published version of a grid (the database refuses UPDATE and DELETE)."""

    __tablename__ = "assessment_grid_versions"
    __table_args__ = (sa.UniqueConstraint("grid_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment_grids.id"), index=True)
    number: Mapped[int]
    definition: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    #: SHA-256 of the canonical definition: publishing an unchanged draft creates nothing.
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    published_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


make_append_only(AssessmentGridVersion.__table__)  # type: ignore[arg-type]


class Assessment(Base):
    """One grid filled for a patient by a professional; frozen by the database once signed."""

    __tablename__ = "assessments"
    __table_args__ = (sa.Index("ix_assessments_patient_grid", "patient_id", "grid_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"))
    grid_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment_grids.id"))
    grid_version_id: Mapped[int] = mapped_column(sa.ForeignKey("assessment_grid_versions.id"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(sa.String(20), default=AssessmentStatus.DRAFT)
    #: Answers by item key (bool, option code, number, ISO date or text).
    answers: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: Bumped at every save: an autosave based on an older revision is a conflict.
    revision: Mapped[int] = mapped_column(default=0)
    score: Mapped[int | None]
    #: The threshold band the score falls in ("" when none), copied at signature.
    band_label: Mapped[str] = mapped_column(sa.String(200), default="")
    band_alert: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    signed_at: Mapped[datetime | None]


def signed_frozen_ddl(dialect: str) -> list[str]:
    """Return the statements that make a signed assessment refuse UPDATE and DELETE."""
    message = "a signed assessment is immutable"
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER assessments_signed_no_{verb.lower()} BEFORE {verb} ON assessments "
            f"WHEN OLD.signed_at IS NOT NULL BEGIN SELECT RAISE(ABORT, '{message}'); END"
            for verb in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION assessments_signed_frozen() RETURNS trigger AS $$ "
            f"BEGIN IF OLD.signed_at IS NOT NULL THEN RAISE EXCEPTION '{message}'; END IF; "
            "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
            "CREATE TRIGGER assessments_signed_no_change BEFORE UPDATE OR DELETE ON assessments "
            "FOR EACH ROW EXECUTE FUNCTION assessments_signed_frozen()",
        ]
    return []


def _install_signed_frozen(target: sa.Table, connection: sa.Connection, **_: object) -> None:
    for statement in signed_frozen_ddl(connection.dialect.name):
        connection.exec_driver_sql(statement)


sa.event.listen(Assessment.__table__, "after_create", _install_signed_frozen)


class AssessmentAlert(Base):
    """The alert a signed assessment raised (score in an alerting band): one per assessment,
    told to the coordinators of the patient's teams by an in-app notification."""

    __tablename__ = "assessment_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Unique: signing twice, or a retried request, can never raise a second alert.
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("assessments.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    label: Mapped[str] = mapped_column(sa.String(200))
    #: How many coordinators were notified.
    notified_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
