"""JSON shapes of pathway templates and patients' pathways in the API."""

from __future__ import annotations

from datetime import date
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from ptap.pathways.models import PathwayTemplate
from ptap.pathways.queries import PathwayRow


class TemplateOwner(BaseModel):
    """Who owns a new template: one team, or a territory (shared by its teams)."""

    model_config = ConfigDict(extra="forbid")

    team_id: int | None = Field(default=None, description="L'équipe propriétaire")
    territory_id: int | None = Field(
        default=None, description="Le territoire (modèle partagé par ses équipes)"
    )


class TemplateIn(TemplateOwner):
    """A new template: its owner and its content (title, theme, audience, sources, steps).

    `content` follows ptap.pathways.content.TemplateContent; errors are French and name the
    field (e.g. `steps.0.offset_days`).
    """

    content: dict[str, Any]


class TemplateUpdate(BaseModel):
    """A new draft content for a template (published versions never change)."""

    model_config = ConfigDict(extra="forbid")

    content: dict[str, Any]


class FhirImport(TemplateOwner):
    """A FHIR R4 PlanDefinition to import as a draft template (`dry_run`: preview only)."""

    resource: dict[str, Any]
    dry_run: bool = False


class TemplateOut(BaseModel):
    """A template: owner, lifecycle, version in force, and its draft content."""

    id: int
    team_id: int | None
    territory_id: int | None
    title: str
    theme: str
    status: str
    version: int | None
    draft: dict[str, Any]

    @classmethod
    def of(cls, template: PathwayTemplate) -> Self:
        """Build the output of a template."""
        current = template.current_version
        return cls(
            id=template.id,
            team_id=template.team_id,
            territory_id=template.territory_id,
            title=template.title,
            theme=template.theme,
            status=template.status,
            version=current.number if current else None,
            draft=template.draft,
        )


class ImportPreview(BaseModel):
    """What an import creates (or would create, with dry_run)."""

    template: TemplateOut | None
    content: dict[str, Any]


class PathwayStart(BaseModel):
    """Start a published template for the patient, from a start date."""

    model_config = ConfigDict(extra="forbid")

    template_id: int
    started_on: date


class PathwayStop(BaseModel):
    """Stop a pathway: `open_actions` "keep" (stay in the plan) or "cancel"."""

    model_config = ConfigDict(extra="forbid")

    open_actions: str = Field(description="keep : conservées ; cancel : annulées")
    reason: str = Field(default="", max_length=1000)


class StepOut(BaseModel):
    """One step: due date and state (done, due, late, stopped: the pathway stopped first)."""

    key: str
    title: str
    due_on: date
    state: str
    open_actions: int
    grid_key: str | None


class PathwayOut(BaseModel):
    """A patient's pathway and its timeline."""

    id: int
    title: str
    theme: str
    version: int
    started_on: date
    stopped: bool
    steps: list[StepOut]

    @classmethod
    def of(cls, row: PathwayRow) -> Self:
        """Build the output of a pathway row."""
        return cls(
            id=row.id,
            title=row.title,
            theme=row.theme,
            version=row.version_number,
            started_on=row.started_on,
            stopped=row.stopped,
            steps=[
                StepOut(
                    key=s.key,
                    title=s.title,
                    due_on=s.due_on,
                    state=s.state,
                    open_actions=s.open_actions,
                    grid_key=s.grid_key,
                )
                for s in row.steps
            ],
        )
