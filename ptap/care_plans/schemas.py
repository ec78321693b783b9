"""JSON shapes of care plans in the API: the plan and its draft, versions, approvals, tasks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import DEFAULT_REF_TEMPLATE, GenerateJsonSchema, JsonSchemaMode

from ptap.care_plans import content as ppcs
from ptap.care_plans.content import PlanContent, load_content
from ptap.care_plans.models import (
    ApprovalKind,
    CarePlan,
    CarePlanVersion,
    PlanApproval,
    PlanStatus,
)
from ptap.care_plans.queries import TaskRow
from ptap.care_plans.standing import version_standing
from ptap.care_teams.schemas import PersonRef

#: The PPCS models keep short names (Problem, Action...) in Python; in the OpenAPI document
#: they are prefixed, or `Problem` would replace the problem+json component.
_CONTENT_NAMES = frozenset(
    name
    for name, value in vars(ppcs).items()
    if isinstance(value, type) and value.__module__ == ppcs.__name__ and name != "PlanContent"
)


class _PlanSchemaNames(GenerateJsonSchema):
    def normalize_name(self, name: str) -> str:
        normalized = super().normalize_name(name)
        return f"Plan{normalized}" if normalized in _CONTENT_NAMES else normalized


class _ApiModel(BaseModel):
    """Base of the care-plan API shapes: PPCS definitions get unambiguous schema names."""

    @classmethod
    def model_json_schema(
        cls,
        by_alias: bool | None = None,
        ref_template: str = DEFAULT_REF_TEMPLATE,
        schema_generator: type[GenerateJsonSchema] = _PlanSchemaNames,
        mode: JsonSchemaMode = "validation",
        **kwargs: Any,
    ) -> dict[str, Any]:
        if schema_generator is GenerateJsonSchema:
            schema_generator = _PlanSchemaNames
        return super().model_json_schema(by_alias, ref_template, schema_generator, mode, **kwargs)


def _person(user_id: int | None, names: Mapping[int, str]) -> PersonRef | None:
    return PersonRef(id=user_id, name=names.get(user_id, "")) if user_id is not None else None


# --- Output ----------------------------------------------------------------------------------


class ApprovalOut(_ApiModel):
    """The GP's validation or the patient's agreement of one version: who, when, how."""

    kind: ApprovalKind
    method: str
    note: str
    recorded_by: PersonRef
    recorded_at: datetime

    @classmethod
    def of(cls, approval: PlanApproval, recorded_by_name: str) -> Self:
        """Build the output of an approval and the name of who recorded it."""
        return cls(
            kind=ApprovalKind(approval.kind),
            method=approval.method,
            note=approval.note,
            recorded_by=PersonRef(id=approval.recorded_by_id, name=recorded_by_name),
            recorded_at=approval.recorded_at,
        )


def _approvals(rows: Sequence[tuple[PlanApproval, str]]) -> list[ApprovalOut]:
    return [ApprovalOut.of(approval, name) for approval, name in rows]


class DraftOut(_ApiModel):
    """The working copy: its content and the revision a save must be based on."""

    revision: int = Field(description="À renvoyer comme base_revision lors de l'enregistrement")
    content: PlanContent
    updated_by: PersonRef | None
    updated_at: datetime

    @classmethod
    def of(cls, plan: CarePlan, names: Mapping[int, str]) -> Self:
        """Build the draft of `plan`; `names` maps user ids to names."""
        return cls(
            revision=plan.draft_revision,
            content=load_content(plan.draft),
            updated_by=_person(plan.draft_updated_by_id, names),
            updated_at=plan.draft_updated_at,
        )


class PlanOut(_ApiModel):
    """The patient's PPCS: status, current version and its approvals, and the draft."""

    id: int
    patient_id: int
    enrolment_id: int
    status: PlanStatus
    status_label: str
    current_version: int | None = Field(description="Numéro de la version en cours ; null avant")
    next_review_on: date | None = Field(description="Prochaine réévaluation (version en cours)")
    approvals: list[ApprovalOut] = Field(description="Approbations de la version en cours")
    unpublished_changes: bool = Field(
        description="Le brouillon diffère de la version en cours (ou rien n'est publié)"
    )
    draft: DraftOut
    created_at: datetime
    closed_at: datetime | None
    close_reason: str

    @classmethod
    def of(
        cls,
        plan: CarePlan,
        approvals: Sequence[tuple[PlanApproval, str]],
        names: Mapping[int, str],
    ) -> Self:
        """Build the output of `plan` with the approvals of its current version."""
        version = plan.current_version
        draft = DraftOut.of(plan, names)
        return cls(
            id=plan.id,
            patient_id=plan.patient_id,
            enrolment_id=plan.enrolment_id,
            status=PlanStatus(plan.status),
            status_label=version_standing(
                plan.status,
                published=version is not None,
                approvals={a.kind for a, _ in approvals},
            ).label,
            current_version=version.number if version else None,
            next_review_on=plan.next_review_on,
            approvals=_approvals(approvals),
            unpublished_changes=version is None or version.content_hash != draft.content.digest(),
            draft=draft,
            created_at=plan.created_at,
            closed_at=plan.closed_at,
            close_reason=plan.close_reason,
        )


class VersionProvenanceOut(_ApiModel):
    """Where a version comes from, e.g. kind "meeting", ref "meeting:12/item:40"."""

    kind: str
    ref: str
    label: str = Field(description="« Décidé en concertation du 03/12/2026 »")


class VersionSummaryOut(_ApiModel):
    """A published version in the list, without its content."""

    number: int
    created_by: PersonRef
    created_at: datetime
    change_summary: str
    next_review_on: date
    approvals: list[ApprovalOut]
    provenance: VersionProvenanceOut | None = Field(
        default=None,
        description="D'où vient la version quand elle n'a pas été rédigée dans l'éditeur du "
        "plan (kind meeting : décidée en concertation)",
    )

    @classmethod
    def fields_of(
        cls,
        version: CarePlanVersion,
        created_by_name: str,
        approvals: Sequence[tuple[PlanApproval, str]],
    ) -> dict[str, Any]:
        """Return the metadata fields of `version` (shared with VersionOut)."""
        return {
            "number": version.number,
            "created_by": PersonRef(id=version.created_by_id, name=created_by_name),
            "created_at": version.created_at,
            "change_summary": version.change_summary,
            "next_review_on": version.next_review_on,
            "approvals": _approvals(approvals),
            "provenance": VersionProvenanceOut(
                kind=version.provenance_kind,
                ref=version.provenance_ref,
                label=version.provenance_label,
            )
            if version.provenance_kind
            else None,
        }

    @classmethod
    def of(
        cls,
        version: CarePlanVersion,
        created_by_name: str,
        approvals: Sequence[tuple[PlanApproval, str]],
    ) -> Self:
        """Build the summary of `version`."""
        return cls(**cls.fields_of(version, created_by_name, approvals))


class VersionList(_ApiModel):
    """The plan's published versions, newest first."""

    items: list[VersionSummaryOut]


class VersionOut(VersionSummaryOut):
    """A published version: its immutable content and metadata."""

    published: Literal[True] = Field(
        default=True,
        description="Toujours true ici ; une publication sans changement répond 200 "
        '{"published": false, "reason": ...} et ne crée pas de version',
    )
    content: PlanContent

    @classmethod
    def of(
        cls,
        version: CarePlanVersion,
        created_by_name: str,
        approvals: Sequence[tuple[PlanApproval, str]],
    ) -> Self:
        """Build the output of `version` with its content."""
        return cls(
            **cls.fields_of(version, created_by_name, approvals),
            content=load_content(version.content),
        )


class TaskOut(_ApiModel):
    """One of my open actions in a patient's plan."""

    patient: PersonRef = Field(description="La personne suivie (id et nom d'usage)")
    plan_href: str
    action_key: str
    objective: str
    what: str
    due_on: date | None
    status: str
    overdue: bool

    @classmethod
    def of(cls, row: TaskRow) -> Self:
        """Build the output of a task-list row."""
        return cls(
            patient=PersonRef(id=row.patient_id, name=row.patient_name),
            plan_href=f"/api/v1/patients/{row.patient_id}/care-plan",
            action_key=row.action_key,
            objective=row.objective,
            what=row.what,
            due_on=row.due_on,
            status=row.status,
            overdue=row.overdue,
        )


# --- Input -----------------------------------------------------------------------------------


class PlanCreate(_ApiModel):
    """Request body to open the patient's plan (its creator becomes its lead)."""

    model_config = ConfigDict(extra="forbid")

    enrolment_id: int | None = Field(
        default=None, description="Le suivi concerné ; facultatif si la personne n'en a qu'un"
    )


class DraftUpdate(_ApiModel):
    """Request body to replace the draft, based on the revision the author loaded."""

    model_config = ConfigDict(extra="forbid")

    base_revision: int = Field(
        ge=0, description="draft.revision lu ; 409 avec le brouillon d'autrui s'il a changé"
    )
    content: PlanContent


class VersionCreate(_ApiModel):
    """Request body to publish the draft as the next version."""

    model_config = ConfigDict(extra="forbid")

    change_summary: str = Field(default="", max_length=2000)


class ApprovalCreate(_ApiModel):
    """Request body to record the GP's validation or the patient's agreement."""

    model_config = ConfigDict(extra="forbid")

    kind: ApprovalKind
    method: Literal["in_person", "phone", "signed_form", "meeting", "electronic"]
    note: str = Field(default="", max_length=2000)


class PlanClose(_ApiModel):
    """Request body to close the plan."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)
