"""Pathway templates (parcours protocolisés), their immutable versions, and patients' pathways.

A template belongs either to a territory (shared by the teams of that territory) or to one
team. Its working copy (`draft`) is edited freely; publishing snapshots it into a numbered
`PathwayTemplateVersion`, which the database refuses to UPDATE or DELETE (like care-plan
versions). Retiring a template stops new starts; running pathways keep their version.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ptap.core.models import Base, make_append_only, utcnow


class TemplateStatus(StrEnum):
    """Lifecycle of a template: draft → published → retired."""

    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


TEMPLATE_STATUS_LABELS = {
    TemplateStatus.DRAFT: "Brouillon",
    TemplateStatus.PUBLISHED: "Publié",
    TemplateStatus.RETIRED: "Retiré",
}


class PathwayTemplate(Base):
    """A pathway template of a territory or of one team: a draft and its published versions."""

    __tablename__ = "pathway_templates"
    __table_args__ = (
        sa.CheckConstraint("(territory_id IS NULL) <> (team_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Shared by every team of this territory (exclusive with team_id).
    territory_id: Mapped[int | None] = mapped_column(sa.ForeignKey("territories.id"), index=True)
    #: Owned by this team only (exclusive with territory_id).
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("care_teams.id"), index=True)
    #: Copied from the draft at each save: what the library lists and searches.
    title: Mapped[str] = mapped_column(sa.String(300))
    theme: Mapped[str] = mapped_column(sa.String(200), default="")
    #: The working copy (TemplateContent as JSON).
    draft: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    draft_updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    current_version_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("pathway_template_versions.id", use_alter=True)
    )
    #: Set when retired: no new pathway starts from it; running pathways keep their version.
    retired_at: Mapped[datetime | None]
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    current_version: Mapped[PathwayTemplateVersion | None] = relationship(
        foreign_keys=[current_version_id], post_update=True
    )

    @property
    def status(self) -> TemplateStatus:
        """Draft until first published, then published until retired."""
        if self.retired_at is not None:
            return TemplateStatus.RETIRED
        if self.current_version_id is not None:
            return TemplateStatus.PUBLISHED
        return TemplateStatus.DRAFT


class PathwayTemplateVersion(Base):
    """A published template version (the database refuses UPDATE and DELETE)."""

    __tablename__ = "pathway_template_versions"
    __table_args__ = (sa.UniqueConstraint("template_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("pathway_templates.id"), index=True)
    number: Mapped[int]
    content: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    #: SHA-256 of the canonical content: publishing an unchanged draft creates nothing.
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


make_append_only(PathwayTemplateVersion.__table__)  # type: ignore[arg-type]


#: A patient follows a template at most once at a time (stopped pathways are history).
RUNNING = "stopped_at IS NULL"


class PatientPathway(Base):
    """A pathway a patient follows: the template version applied, the start, the steps' dates."""

    __tablename__ = "patient_pathways"
    __table_args__ = (
        sa.Index(
            "uq_patient_pathways_running",
            "patient_id",
            "template_id",
            unique=True,
            sqlite_where=sa.text(RUNNING),
            postgresql_where=sa.text(RUNNING),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("care_plans.id"))
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("pathway_templates.id"))
    template_version_id: Mapped[int] = mapped_column(sa.ForeignKey("pathway_template_versions.id"))
    started_on: Mapped[date]
    started_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: One entry per step: {"key", "title", "due_on" (ISO), "action_keys", "grid_key"}.
    #: Computed at start; the step's state is read from the plan's actions with those keys.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    stopped_at: Mapped[datetime | None]
    stopped_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    stop_reason: Mapped[str] = mapped_column(sa.Text, default="")

    version: Mapped[PathwayTemplateVersion] = relationship()
