"""Care plans (one per enrolment), their immutable versions, approvals, tasks and reminders."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ptap.core.models import Base, make_append_only, utcnow


class PlanStatus(StrEnum):
    """Lifecycle of a PPCS: draft → validated → active → under revision → closed."""

    DRAFT = "draft"
    VALIDATED = "validated"
    ACTIVE = "active"
    UNDER_REVISION = "under_revision"
    CLOSED = "closed"


PLAN_STATUS_LABELS = {
    PlanStatus.DRAFT: "Brouillon",
    PlanStatus.VALIDATED: "Validé par le médecin",
    PlanStatus.ACTIVE: "En vigueur",
    PlanStatus.UNDER_REVISION: "En révision",
    PlanStatus.CLOSED: "Clos",
}


class CarePlan(Base):
    """The PPCS of one enrolment: a working draft and the numbered versions published from it."""

    __tablename__ = "care_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(sa.ForeignKey("enrolments.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default=PlanStatus.DRAFT)
    #: The working copy (PlanContent as JSON), edited by the circle.
    draft: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: Bumped at every draft save: a save based on an older revision is a conflict.
    draft_revision: Mapped[int] = mapped_column(default=0)
    draft_updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    draft_updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    current_version_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("care_plan_versions.id", use_alter=True)
    )
    #: Copied from the current version: what the review reminder reads.
    next_review_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str] = mapped_column(sa.Text, default="")
    #: Where the draft's additions come from when another domain prefilled it (a pathway):
    #: {"kind", "ref", "label"}; the next published version records it, then it is cleared.
    draft_provenance: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    current_version: Mapped[CarePlanVersion | None] = relationship(
        foreign_keys=[current_version_id], post_update=True
    )


class CarePlanVersion(Base):
    """An immutable published version (the database refuses UPDATE and DELETE)."""

    __tablename__ = "care_plan_versions"
    __table_args__ = (sa.UniqueConstraint("plan_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("care_plans.id"), index=True)
    number: Mapped[int]
    content: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    #: SHA-256 of the canonical content: publishing an unchanged draft creates nothing.
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    change_summary: Mapped[str] = mapped_column(sa.Text, default="")
    next_review_on: Mapped[date]
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Confidentiality the patient asked for (ptap.care_teams.models.Confidentiality).
    confidentiality: Mapped[str] = mapped_column(sa.String(40), default="normal")
    #: Where the version comes from when not from the plan editor: "meeting" for decisions of
    #: a multidisciplinary meeting ("" otherwise). Generic: care plans know no other domain.
    provenance_kind: Mapped[str] = mapped_column(sa.String(20), default="")
    #: The producer's reference, e.g. "meeting:12/item:40".
    provenance_ref: Mapped[str] = mapped_column(sa.String(80), default="")
    #: What history, comparison and the PDF show, e.g. "Décidé en concertation du 03/12/2026".
    provenance_label: Mapped[str] = mapped_column(sa.String(200), default="")


make_append_only(CarePlanVersion.__table__)  # type: ignore[arg-type]


class ApprovalKind(StrEnum):
    """The two approvals a version needs before the plan is in force."""

    GP_VALIDATION = "gp_validation"
    PATIENT_AGREEMENT = "patient_agreement"


APPROVAL_KIND_LABELS = {
    ApprovalKind.GP_VALIDATION: "Validation par le médecin",
    ApprovalKind.PATIENT_AGREEMENT: "Accord de la personne",
}
#: "La validation" is feminine, "l'accord" masculine: participles agree with the kind.
_FEMININE_KINDS = frozenset({ApprovalKind.GP_VALIDATION})


def approval_participle(kind: str, masculine: str) -> str:
    """Return `masculine` (e.g. "recueilli") agreed with the approval kind's gender."""
    return masculine + "e" if kind in _FEMININE_KINDS else masculine


APPROVAL_METHOD_LABELS = {
    "in_person": "En présence de la personne",
    "phone": "Par téléphone",
    "signed_form": "Document signé",
    "meeting": "En concertation pluriprofessionnelle",
    "electronic": "Dans PTAP",
}
#: The method of an agreement the person (or their representative) gave in their own space:
#: never chosen by a professional (not in APPROVAL_METHOD_LABELS' form choices).
ONLINE_AGREEMENT_METHOD = "patient_space"
ONLINE_AGREEMENT_LABEL = "En ligne, dans son espace patient"


class PlanApproval(Base):
    """A GP validation or a patient agreement of one version: who, when, how."""

    __tablename__ = "care_plan_approvals"
    __table_args__ = (sa.UniqueConstraint("version_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("care_plan_versions.id"))
    kind: Mapped[str] = mapped_column(sa.String(30))
    method: Mapped[str] = mapped_column(sa.String(30))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CarePlanTask(Base):
    """An action with an assignee, mirrored from the draft for task lists and reminders."""

    __tablename__ = "care_plan_tasks"
    __table_args__ = (
        sa.UniqueConstraint("plan_id", "action_key"),
        sa.Index("ix_care_plan_tasks_assignee_due", "assignee_id", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("care_plans.id"))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"))
    action_key: Mapped[str] = mapped_column(sa.String(32))
    objective: Mapped[str] = mapped_column(sa.String(500))
    what: Mapped[str] = mapped_column(sa.String(500))
    assignee_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    due_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(sa.String(20))


class ReminderLog(Base):
    """One reminder sent; the unique key makes a second run or a restart send nothing twice."""

    __tablename__ = "care_plan_reminders"
    __table_args__ = (sa.UniqueConstraint("kind", "plan_id", "item_key", "target_on", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: due_soon, overdue or review_due.
    kind: Mapped[str] = mapped_column(sa.String(20))
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("care_plans.id"))
    #: The action's key, or "" for the plan's re-evaluation.
    item_key: Mapped[str] = mapped_column(sa.String(32), default="")
    #: The due date or re-evaluation date reminded about.
    target_on: Mapped[date]
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
