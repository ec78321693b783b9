"""JSON shapes of assessment grids and assessments in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from ptap.grids.models import Assessment, AssessmentGrid, AssessmentGridVersion


class GridIn(BaseModel):
    """A new grid: its stable key and its definition (sections, items, score, thresholds)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=60, description="Clé stable (minuscules, -, _)")
    definition: dict[str, Any] = Field(
        description="title, description, sections[{title, items[{key, label, type "
        "(yesno|choice|number|date|text), required, options[{code, label, points}], "
        "points_yes, points_no, help}]}], score_items[clé], thresholds[{label, min, max, alert, "
        "actions[]}]"
    )


class GridUpdate(BaseModel):
    """A new working definition of a grid (published versions are untouched)."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any]


class GridImport(BaseModel):
    """A FHIR R4 Questionnaire to import as a draft grid; `dry_run` only shows the plan."""

    model_config = ConfigDict(extra="forbid")

    resource: dict[str, Any] = Field(description="La ressource FHIR Questionnaire (JSON)")
    key: str = Field(default="", max_length=60, description="Clé, si le questionnaire n'en a pas")
    dry_run: bool = False


class GridImportOut(BaseModel):
    """What an import creates (or would create, for a dry run)."""

    key: str
    title: str
    sections: int
    items: int
    score_items: list[str]
    thresholds: list[str]
    created_id: int | None = None


class AssessmentImport(BaseModel):
    """A FHIR R4 QuestionnaireResponse to import as a draft assessment of the patient;
    `dry_run` only shows what would be created."""

    model_config = ConfigDict(extra="forbid")

    resource: dict[str, Any] = Field(
        description="La ressource FHIR QuestionnaireResponse (JSON) ; `questionnaire` nomme "
        "la grille et sa version publiée (…/Questionnaire/<clé>|<version>)"
    )
    dry_run: bool = False


class AssessmentImportOut(BaseModel):
    """What an assessment import creates (or would create, for a dry run): always a draft."""

    grid_key: str
    grid_title: str
    version: int
    answers: dict[str, Any]
    score: int | None
    band_label: str = Field(
        description="Interprétation du score si tous les éléments notés sont répondus (sinon vide)"
    )
    created_id: int | None = None


class GridOut(BaseModel):
    """A grid: its working definition and its version in force."""

    id: int
    key: str
    title: str
    status: str
    version: int
    draft: dict[str, Any]
    published: dict[str, Any] | None
    updated_at: datetime

    @classmethod
    def of(cls, grid: AssessmentGrid, version: AssessmentGridVersion | None) -> Self:
        """Build the output of a grid."""
        return cls(
            id=grid.id,
            key=grid.key,
            title=grid.title,
            status=grid.status,
            version=grid.current_number,
            draft=grid.draft,
            published=version.definition if version else None,
            updated_at=grid.updated_at,
        )


class AssessmentCreate(BaseModel):
    """Start an assessment of the patient with a published grid (by key)."""

    model_config = ConfigDict(extra="forbid")

    grid_key: str = Field(min_length=1, max_length=60)


class AssessmentSave(BaseModel):
    """Answers of a draft assessment (autosave), based on the revision last read."""

    model_config = ConfigDict(extra="forbid")

    answers: dict[str, Any]
    revision: int = Field(ge=0)


class AssessmentOut(BaseModel):
    """An assessment: answers, score, threshold band, status."""

    id: int
    patient_id: int
    grid_id: int
    grid_version_id: int
    author_id: int
    status: str
    answers: dict[str, Any]
    revision: int
    score: int | None
    band_label: str
    band_alert: bool
    created_at: datetime
    signed_at: datetime | None

    @classmethod
    def of(cls, assessment: Assessment, viewer_id: int | None = None) -> Self:
        """Build the output of an assessment; a draft's partial score only for its author."""
        out = cls.model_validate(assessment, from_attributes=True)
        if assessment.status != "signed" and viewer_id != assessment.author_id:
            out = out.model_copy(update={"score": None, "band_label": "", "band_alert": False})
        return out
