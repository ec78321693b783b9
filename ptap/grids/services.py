"""Assessment grids (write, publish, retire) and assessments (start, autosave, sign, alert).

Grid versions are immutable once published (database triggers); publishing an unchanged draft
creates no version. A signed assessment is frozen by the database; a score in an alerting band
raises exactly one alert (a unique row), told to the coordinators of the patient's teams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from ptap.accounts.models import User
from ptap.accounts.notifications import NotificationDraft, notify_all
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams import circle
from ptap.care_teams.models import Patient
from ptap.core.errors import Conflict, InvalidInput, PermissionDenied
from ptap.core.models import utcnow
from ptap.core.policy import require
from ptap.core.sql import insert_if_absent
from ptap.extensions import db
from ptap.grids import queries
from ptap.grids.definition import (
    KEY_RE,
    GridDefinition,
    band_for,
    clean_answers,
    compute_score,
    missing_required,
    parse_definition,
)
from ptap.grids.fhir import parse_questionnaire, parse_questionnaire_response, response_target
from ptap.grids.models import (
    Assessment,
    AssessmentAlert,
    AssessmentGrid,
    AssessmentGridVersion,
    AssessmentStatus,
    GridStatus,
)
from ptap.grids.permissions import can_edit_assessment

ALERT_KIND = "assessment_alert"


def _audit_grid(ctx: AuditContext, action: str, grid: AssessmentGrid, reason: str = "") -> None:
    record_event(ctx, action, object_type="assessment_grid", object_id=grid.id, reason=reason)


def check_key(key: str) -> str:
    """Return the grid key if well-formed; raise InvalidInput naming the field otherwise."""
    key = (key or "").strip()
    if not KEY_RE.match(key):
        raise InvalidInput(
            "La clé de la grille est obligatoire : minuscules, chiffres, - et _ "
            "(60 caractères au plus).",
            field="key",
        )
    return key


def create_grid(user: User, key: str, raw: Any, ctx: AuditContext) -> AssessmentGrid:
    """Create a grid (a draft) under a stable key; its definition is checked first."""
    require(user, "grids.manage")
    key = check_key(key)
    definition = parse_definition(raw)
    now = utcnow()
    if not insert_if_absent(
        AssessmentGrid,
        key=key,
        title=definition.title,
        status=GridStatus.DRAFT,
        draft=definition.to_json(),
        current_number=0,
        created_by_id=user.id,
        created_at=now,
        updated_at=now,
    ):
        raise InvalidInput(f"Une grille porte déjà la clé « {key} ».", field="key")
    grid = queries.get_grid_by_key(key)
    _audit_grid(ctx, "grid.create", grid)
    return grid


def save_grid_draft(user: User, grid: AssessmentGrid, raw: Any, ctx: AuditContext) -> None:
    """Replace the grid's working definition (published versions are untouched)."""
    require(user, "grids.manage")
    if grid.status == GridStatus.RETIRED:
        raise Conflict("Cette grille est retirée : elle ne se modifie plus.")
    definition = parse_definition(raw)
    grid.draft = definition.to_json()
    grid.title = definition.title
    grid.updated_at = utcnow()
    db.session.flush()
    _audit_grid(ctx, "grid.save", grid)


def publish_grid(
    user: User, grid: AssessmentGrid, ctx: AuditContext
) -> AssessmentGridVersion | None:
    """Publish the draft as the next version; None when it equals the version in force."""
    require(user, "grids.manage")
    if grid.status == GridStatus.RETIRED:
        raise Conflict("Cette grille est retirée : elle ne se publie plus.")
    definition = parse_definition(grid.draft)
    digest = definition.content_hash()
    current = queries.find_current_version(grid)
    if current is not None and current.content_hash == digest:
        return None
    version = AssessmentGridVersion(
        grid_id=grid.id,
        number=grid.current_number + 1,
        definition=definition.to_json(),
        content_hash=digest,
        published_by_id=user.id,
    )
    db.session.add(version)
    grid.current_number = version.number
    grid.status = GridStatus.PUBLISHED
    grid.updated_at = utcnow()
    db.session.flush()
    _audit_grid(ctx, "grid.publish", grid, f"v{version.number}")
    return version


def retire_grid(user: User, grid: AssessmentGrid, ctx: AuditContext) -> None:
    """Retire a grid: no new assessment with it; past assessments keep their version."""
    require(user, "grids.manage")
    if grid.status == GridStatus.RETIRED:
        return
    grid.status = GridStatus.RETIRED
    grid.retired_at = grid.updated_at = utcnow()
    db.session.flush()
    _audit_grid(ctx, "grid.retire", grid)


# --- assessments ---------------------------------------------------------------------------


def _audit(ctx: AuditContext, action: str, assessment: Assessment, reason: str = "") -> None:
    record_event(
        ctx,
        action,
        object_type="assessment",
        object_id=assessment.id,
        patient_id=assessment.patient_id,
        reason=reason,
    )


def start_assessment(
    user: User, patient: Patient, grid: AssessmentGrid, ctx: AuditContext
) -> Assessment:
    """Start filling the grid's version in force for the patient (a draft of the user's)."""
    require(user, "assessments.fill", patient)
    version = queries.find_current_version(grid)
    if grid.status != GridStatus.PUBLISHED or version is None:
        raise InvalidInput("Cette grille n'est pas publiée.", field="grid_id")
    assessment = Assessment(
        patient_id=patient.id,
        grid_id=grid.id,
        grid_version_id=version.id,
        author_id=user.id,
        status=AssessmentStatus.DRAFT,
        answers={},
    )
    db.session.add(assessment)
    db.session.flush()
    _audit(ctx, "assessment.create", assessment, f"{grid.key} v{version.number}")
    return assessment


def _require_editable(user: User, assessment: Assessment, patient: Patient) -> None:
    if assessment.status == AssessmentStatus.SIGNED:
        raise Conflict("Cette évaluation est signée : elle ne se modifie plus.")
    if not can_edit_assessment(user, assessment, patient):
        raise PermissionDenied("Seul l'auteur de l'évaluation peut la modifier.")


def _update_draft(assessment: Assessment, based_on: int | None, **values: Any) -> bool:
    """Write `values` only if the assessment is still an unsigned draft at this revision."""
    db.session.flush()
    stmt = sa.update(Assessment).where(
        Assessment.id == assessment.id, Assessment.signed_at.is_(None)
    )
    if based_on is not None:
        stmt = stmt.where(Assessment.revision == based_on)
    result = db.session.execute(stmt.values(**values).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        db.session.expire(assessment)
        return False
    for key, value in values.items():
        set_committed_value(assessment, key, value)
    return True


def save_assessment(
    user: User,
    assessment: Assessment,
    patient: Patient,
    raw_answers: Any,
    revision: int,
    ctx: AuditContext,
) -> Assessment:
    """Autosave a draft's answers; a save based on an older revision is a conflict."""
    _require_editable(user, assessment, patient)
    definition = queries.version_definition(assessment.grid_version_id)
    answers = clean_answers(definition, raw_answers)
    score = compute_score(definition, answers)
    if not _update_draft(
        assessment,
        revision,
        answers=answers,
        score=score,
        revision=revision + 1,
        updated_at=utcnow(),
    ):
        raise Conflict(
            "L'évaluation a été modifiée ou signée entre-temps : rechargez la page.",
        )
    _audit(ctx, "assessment.save", assessment)
    return assessment


def sign_assessment(
    user: User, assessment: Assessment, patient: Patient, ctx: AuditContext
) -> Assessment:
    """Sign a complete draft: its score and band are fixed, and an alerting band raises the
    assessment's one alert to the coordinators of the patient's teams."""
    _require_editable(user, assessment, patient)
    definition = queries.version_definition(assessment.grid_version_id)
    missing = missing_required(definition, assessment.answers)
    if missing:
        raise InvalidInput(
            f"Répondez à « {missing[0].label} » avant de signer"
            + (f" ({len(missing)} réponses obligatoires manquent)." if len(missing) > 1 else "."),
            field=f"answers.{missing[0].key}",
        )
    score = compute_score(definition, assessment.answers)
    band = band_for(definition, score)
    now = utcnow()
    if not _update_draft(
        assessment,
        None,
        status=AssessmentStatus.SIGNED,
        score=score,
        band_label=band.label if band else "",
        band_alert=bool(band and band.alert),
        signed_at=now,
        updated_at=now,
    ):
        raise Conflict("Cette évaluation est déjà signée.")
    _audit(ctx, "assessment.sign", assessment, f"score {score}" if score is not None else "")
    if band is not None and band.alert:
        raise_alert(assessment, patient, definition)
    return assessment


def raise_alert(assessment: Assessment, patient: Patient, definition: GridDefinition) -> bool:
    """Record the assessment's alert once and notify the coordinators of the patient's teams;
    False (nothing done) when it was already raised."""
    coordinators = circle.list_coordinator_ids(patient)
    if not insert_if_absent(
        AssessmentAlert,
        assessment_id=assessment.id,
        patient_id=patient.id,
        label=assessment.band_label,
        notified_count=len(coordinators),
        created_at=utcnow(),
    ):
        return False
    # The title names the grid and the band, not the patient: the link opens the record,
    # through need-to-know.
    title = f"Évaluation « {definition.title} » : seuil « {assessment.band_label} » atteint."
    link = f"/assessments/{assessment.id}"
    notify_all([NotificationDraft(uid, ALERT_KIND, title[:300], link) for uid in coordinators])
    return True


def import_grid(user: User, raw: Any, key: str, ctx: AuditContext) -> AssessmentGrid:
    """Create a draft grid from a FHIR Questionnaire (refused whole if anything is not
    representable); the caller previews it first with ptap.grids.fhir.parse_questionnaire."""
    require(user, "grids.manage")
    plan = parse_questionnaire(raw, key)
    grid = create_grid(user, plan.key, plan.definition.to_json(), ctx)
    _audit_grid(ctx, "grid.import", grid, "FHIR Questionnaire")
    return grid


#: The provenance an imported assessment's audit event carries (the model has no notes field).
IMPORTED_FROM_FHIR = "importé depuis FHIR"


@dataclass(frozen=True)
class AssessmentImportPlan:
    """What importing a QuestionnaireResponse creates: a draft of this grid version."""

    grid: AssessmentGrid
    version: AssessmentGridVersion
    definition: GridDefinition
    answers: dict[str, Any]
    score: int | None


def plan_assessment_import(user: User, patient: Patient, raw: Any) -> AssessmentImportPlan:
    """Check a FHIR QuestionnaireResponse for the patient and return what its import creates:
    the published grid version it names, its answers checked against it and the score;
    refuse (InvalidInput naming the field) an unknown or retired grid, an unpublished
    version, an unknown item, a wrong answer type or a subject naming another patient."""
    require(user, "assessments.fill", patient)
    target = response_target(raw)
    if target.patient_id is not None and target.patient_id != patient.id:
        raise InvalidInput(
            "Le champ « subject » désigne un autre patient que celui de l'import.",
            field="resource.subject",
        )
    where = "resource.questionnaire"
    grid = queries.find_grid_by_key(target.key)
    if grid is None:
        raise InvalidInput(f"Grille inconnue : « {target.key} » (questionnaire).", field=where)
    if grid.status == GridStatus.RETIRED:
        raise InvalidInput(
            f"La grille « {grid.title} » est retirée : plus de nouvelle évaluation avec elle.",
            field=where,
        )
    version = queries.find_version(grid.id, target.number)
    if version is None:
        raise InvalidInput(
            f"La version {target.number} de la grille « {grid.title} » n'est pas publiée.",
            field=where,
        )
    definition = parse_definition(version.definition)
    answers = parse_questionnaire_response(raw, definition)
    return AssessmentImportPlan(
        grid, version, definition, answers, compute_score(definition, answers)
    )


def import_assessment(
    user: User, patient: Patient, plan: AssessmentImportPlan, ctx: AuditContext
) -> Assessment:
    """Create the planned assessment as a DRAFT of the importing professional's (never
    signed: they review and sign it in the filling screen); the audit event records that it
    was imported from FHIR."""
    require(user, "assessments.fill", patient)
    assessment = Assessment(
        patient_id=patient.id,
        grid_id=plan.grid.id,
        grid_version_id=plan.version.id,
        author_id=user.id,
        status=AssessmentStatus.DRAFT,
        answers=plan.answers,
        score=plan.score,
    )
    db.session.add(assessment)
    db.session.flush()
    _audit(
        ctx,
        "assessment.import",
        assessment,
        f"{IMPORTED_FROM_FHIR} : {plan.grid.key} v{plan.version.number}",
    )
    return assessment
