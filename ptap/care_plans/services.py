"""Care-plan rules: drafts with conflict detection, publication, lifecycle, tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.care_plans import notices, queries
from ptap.care_plans.content import (
    OPEN_STATUSES,
    Action,
    ActionStatus,
    Objective,
    PlanContent,
    incomplete_message,
    load_content,
)
from ptap.care_plans.dmp import request_version_filing
from ptap.care_plans.models import (
    ONLINE_AGREEMENT_METHOD,
    ApprovalKind,
    CarePlan,
    CarePlanTask,
    CarePlanVersion,
    PlanApproval,
    PlanStatus,
)
from ptap.care_plans.permissions import CIRCLE_BASES
from ptap.care_teams import access
from ptap.care_teams.models import Enrolment, Patient
from ptap.core.errors import Conflict, InvalidInput, NotFound
from ptap.core.models import utcnow
from ptap.core.policy import require
from ptap.core.signals import care_plan_version_published, send_after_commit
from ptap.extensions import db

APPROVAL_METHODS = frozenset({"in_person", "phone", "signed_form", "meeting", "electronic"})


class DraftConflict(Conflict):
    """Someone saved the draft since this user loaded it; carries their version to show."""

    def __init__(self, plan: CarePlan, theirs: PlanContent, by: str, at: datetime) -> None:
        super().__init__(
            f"{by or 'Un autre professionnel'} a modifié ce plan pendant votre saisie. "
            "Vos changements ne sont pas enregistrés : comparez avec sa version ci-dessous.",
            field="base_revision",
        )
        self.theirs = theirs
        self.revision = plan.draft_revision
        self.by = by
        self.at = at


class InvalidAssignee(InvalidInput):
    """A lead or assignee who is not an active professional of the patient's circle.

    `field` stays `assignee_user_id` or `lead_user_id`; `path` locates the item in the content
    (e.g. `objectives.0.actions.1.assignee_user_id`) for the API's error paths.
    """

    def __init__(self, message: str, *, field: str, path: str) -> None:
        super().__init__(message, field=field)
        self.path = path


@dataclass(frozen=True)
class VersionProvenance:
    """Where a published version comes from, when another domain produced it (a meeting)."""

    kind: str
    ref: str
    label: str


def _audit(ctx: AuditContext, action: str, plan: CarePlan, reason: str = "") -> None:
    record_event(
        ctx,
        action,
        object_type="care_plan",
        object_id=plan.id,
        patient_id=plan.patient_id,
        reason=reason,
    )


def create_plan(user: User, enrolment: Enrolment, ctx: AuditContext) -> CarePlan:
    """Open the (single) care plan of an enrolment (the patient's coordinators), led by its
    creator until changed."""
    require(user, "patient.manage", db.session.get(Patient, enrolment.patient_id))
    existing = db.session.scalar(sa.select(CarePlan).where(CarePlan.enrolment_id == enrolment.id))
    if existing is not None:
        raise Conflict("Un plan existe déjà pour ce suivi.", field="enrolment_id")
    if enrolment.ended_at is not None:
        raise InvalidInput("Ce suivi est clos.", field="enrolment_id")
    plan = CarePlan(
        enrolment_id=enrolment.id,
        patient_id=enrolment.patient_id,
        created_by_id=user.id,
        draft_updated_by_id=user.id,
        draft=PlanContent(lead_user_id=user.id).model_dump(mode="json"),
    )
    require(user, "care_plan.edit", plan)
    db.session.add(plan)
    db.session.flush()
    _audit(ctx, "care_plan.create", plan)
    return plan


def _store_draft(user: User, plan: CarePlan, content: PlanContent) -> None:
    notices.tell_new_assignees(plan, load_content(plan.draft), content, user)
    plan.draft = content.model_dump(mode="json")
    plan.draft_revision += 1
    plan.draft_updated_at = utcnow()
    plan.draft_updated_by_id = user.id
    _sync_tasks(plan, content)


def save_draft(
    user: User, plan: CarePlan, content: PlanContent, base_revision: int, ctx: AuditContext
) -> CarePlan:
    """Replace the draft; refused with the other's version if it changed since `base_revision`."""
    require(user, "care_plan.edit", plan)
    if base_revision != plan.draft_revision:
        author = (
            db.session.get(User, plan.draft_updated_by_id) if plan.draft_updated_by_id else None
        )
        raise DraftConflict(
            plan,
            load_content(plan.draft),
            author.full_name if author else "",
            plan.draft_updated_at,
        )
    stored = load_content(plan.draft)
    if content.lead_user_id != stored.lead_user_id:
        # The lead may publish and move the lifecycle: naming one is not a mere edit.
        require(user, "care_plan.publish", plan)
    _check_assignees(plan, stored, content)
    _store_draft(user, plan, content)
    _audit(ctx, "care_plan.edit", plan)
    db.session.flush()
    return plan


def add_action(
    user: User, plan: CarePlan, objective_key: str, action: Action, ctx: AuditContext
) -> Action:
    """Append an action to an objective. Additions never conflict with others' edits."""
    require(user, "care_plan.edit", plan)
    content = load_content(plan.draft)
    objective = next((o for o in content.objectives if o.key == objective_key), None)
    if objective is None:
        raise NotFound("Objectif introuvable dans le plan.")
    stored = content.model_copy(deep=True)
    objective.actions.append(action)
    _check_assignees(plan, stored, content)
    _store_draft(user, plan, content)
    _audit(ctx, "care_plan.edit", plan, reason=f"action added: {action.key}")
    db.session.flush()
    return action


def prefill_draft(
    user: User,
    plan: CarePlan,
    additions: PlanContent,
    provenance: VersionProvenance,
    ctx: AuditContext,
) -> PlanContent:
    """Append another domain's problems and objectives to the draft (a pathway's prefill).

    Assignees must be of the circle, as in the editor. The draft remembers `provenance`, which
    the next published version records (several prefills before it are listed together).
    """
    require(user, "care_plan.edit", plan)
    stored = load_content(plan.draft)
    content = stored.model_copy(deep=True)
    content.problems.extend(additions.problems)
    content.objectives.extend(additions.objectives)
    content = PlanContent.model_validate(content.model_dump())
    _check_assignees(plan, stored, content)
    _store_draft(user, plan, content)
    pending = plan.draft_provenance
    if pending:
        provenance = VersionProvenance(
            kind=provenance.kind,
            ref=f"{pending['ref']},{provenance.ref}"[:80],
            label=f"{pending['label']} ; {provenance.label}"[:200],
        )
    plan.draft_provenance = {
        "kind": provenance.kind,
        "ref": provenance.ref,
        "label": provenance.label,
    }
    _audit(ctx, "care_plan.prefill", plan, reason=provenance.ref)
    db.session.flush()
    return content


def close_actions(
    user: User, plan: CarePlan, keys: set[str], reason: str, ctx: AuditContext
) -> int:
    """Cancel the open actions with these keys in the draft (a pathway stopped); return how many."""
    require(user, "care_plan.edit", plan)
    content = load_content(plan.draft)
    closed = 0
    for _, action in content.actions():
        if action.key in keys and action.status in OPEN_STATUSES:
            action.status = ActionStatus.CANCELLED
            closed += 1
    if closed:
        _store_draft(user, plan, content)
        _audit(ctx, "care_plan.close_actions", plan, reason=reason[:200])
        db.session.flush()
    return closed


def add_objective(user: User, plan: CarePlan, objective: Objective, ctx: AuditContext) -> Objective:
    """Append an objective to the draft."""
    require(user, "care_plan.edit", plan)
    content = load_content(plan.draft)
    stored = content.model_copy(deep=True)
    content.objectives.append(objective)
    _check_assignees(plan, stored, content)
    _store_draft(user, plan, content)
    _audit(ctx, "care_plan.edit", plan, reason=f"objective added: {objective.key}")
    db.session.flush()
    return objective


def update_action(
    user: User, plan: CarePlan, expected: Action, changed: Action, ctx: AuditContext
) -> Action:
    """Change one action; refused if someone else changed that action since `expected`."""
    require(user, "care_plan.edit", plan)
    content = load_content(plan.draft)
    found = content.find_action(expected.key)
    if found is None:
        raise NotFound("Action introuvable : elle a peut-être été supprimée.")
    objective, current = found
    if current != expected:
        author = (
            db.session.get(User, plan.draft_updated_by_id) if plan.draft_updated_by_id else None
        )
        raise DraftConflict(
            plan, content, author.full_name if author else "", plan.draft_updated_at
        )
    stored = content.model_copy(deep=True)
    updated = changed.model_copy(update={"key": expected.key})
    objective.actions[objective.actions.index(current)] = updated
    _check_assignees(plan, stored, content)
    _store_draft(user, plan, content)
    _audit(ctx, "care_plan.edit", plan, reason=f"action changed: {expected.key}")
    db.session.flush()
    return updated


def _people_paths(content: PlanContent) -> list[tuple[str, int, str | None]]:
    """List (path in the content, user id, action key or None for the lead) of named people."""
    named: list[tuple[str, int, str | None]] = []
    if content.lead_user_id is not None:
        named.append(("lead_user_id", content.lead_user_id, None))
    for i, objective in enumerate(content.objectives):
        for j, action in enumerate(objective.actions):
            if action.assignee_user_id is not None:
                path = f"objectives.{i}.actions.{j}.assignee_user_id"
                named.append((path, action.assignee_user_id, action.key))
    return named


def _check_assignees(plan: CarePlan, stored: PlanContent, content: PlanContent) -> None:
    """Refuse unknown or inactive people; a new lead or assignment must be of the circle.

    Assignments already in the stored draft are not checked against the circle again, so a
    professional who left does not block every later save (reassign them when convenient).
    """
    named = _people_paths(content)
    if not named:
        return
    ids = {user_id for _, user_id, _ in named}
    found = set(db.session.scalars(sa.select(User.id).where(User.id.in_(ids), User.active)))
    for path, user_id, _ in named:
        if user_id not in found:
            raise InvalidAssignee(
                "Un professionnel désigné n'existe pas ou n'est plus actif.",
                field="assignee_user_id",
                path=path,
            )
    # Reminders carry the action's text: only the circle may be named (not a visitor).
    patient = db.session.get(Patient, plan.patient_id)
    before = {(key, user_id) for _, user_id, key in _people_paths(stored)}
    checked: dict[int, bool] = {}
    for path, user_id, key in named:
        if (key, user_id) in before:
            continue
        if user_id not in checked:
            basis = access.access_basis(user_id, patient) if patient is not None else None
            checked[user_id] = basis in CIRCLE_BASES
        if not checked[user_id]:
            raise InvalidAssignee(
                "Ce professionnel ne fait pas partie du cercle de soins de la personne.",
                field="lead_user_id" if key is None else "assignee_user_id",
                path=path,
            )


def _sync_tasks(plan: CarePlan, content: PlanContent) -> None:
    """Mirror the draft's assigned actions into care_plan_tasks (the task lists' source)."""
    db.session.execute(sa.delete(CarePlanTask).where(CarePlanTask.plan_id == plan.id))
    if plan.status == PlanStatus.CLOSED:
        return
    for objective, action in content.actions():
        if action.assignee_user_id is None:
            continue
        db.session.add(
            CarePlanTask(
                plan_id=plan.id,
                patient_id=plan.patient_id,
                action_key=action.key,
                objective=objective.title[:500],
                what=action.what[:500],
                assignee_id=action.assignee_user_id,
                due_on=action.due_on,
                status=action.status,
            )
        )


def _only_follow_up(old: PlanContent, new: PlanContent) -> bool:
    """Tell whether `new` differs from `old` only by action statuses and their reasons."""

    def strip(content: PlanContent) -> PlanContent:
        copy = content.model_copy(deep=True)
        for _, action in copy.actions():
            action.status = action.status.__class__("planned")
            action.not_achieved_reason = ""
        return copy

    return strip(old) == strip(new)


def publish_version(
    user: User,
    plan: CarePlan,
    summary: str,
    ctx: AuditContext,
    *,
    provenance: VersionProvenance | None = None,
    complete_actions: bool = False,
) -> CarePlanVersion | None:
    """Publish the draft as the next immutable version; None when nothing changed.

    With `complete_actions` (the editor, the plan page and the API publish so), every open
    action must have who (a professional or a structure) and when, or be marked "à définir".

    While the plan is in force (active), only follow-up changes (action statuses) may be
    published; anything else needs a revision, which the GP and the patient approve again.
    """
    require(user, "care_plan.publish", plan)
    # Lock the plan row until commit (SQLite serialises writers anyway): a concurrent publish
    # waits here, then sees this version as current instead of computing the same number.
    db.session.refresh(plan, with_for_update=True)
    content = load_content(plan.draft)
    if content.next_review_on is None:
        raise InvalidInput(
            "La date de prochaine réévaluation est obligatoire.", field="next_review_on"
        )
    current = plan.current_version
    if current is not None and current.content_hash == content.digest():
        return None
    if complete_actions:
        check_actions_complete(content)
    if (
        plan.status == PlanStatus.ACTIVE
        and current is not None
        and not _only_follow_up(load_content(current.content), content)
    ):
        raise Conflict(
            "Le plan est en vigueur : passez-le en révision pour modifier autre "
            "chose que le suivi des actions.",
            field="status",
        )
    number = (current.number if current else 0) + 1
    if provenance is None and plan.draft_provenance:
        provenance = VersionProvenance(**plan.draft_provenance)
    plan.draft_provenance = None
    version = CarePlanVersion(
        plan_id=plan.id,
        number=number,
        content=content.model_dump(mode="json"),
        content_hash=content.digest(),
        change_summary=summary.strip(),
        next_review_on=content.next_review_on,
        created_by_id=user.id,
        provenance_kind=provenance.kind if provenance else "",
        provenance_ref=provenance.ref if provenance else "",
        provenance_label=provenance.label if provenance else "",
    )
    db.session.add(version)
    db.session.flush()
    plan.current_version = version
    plan.next_review_on = content.next_review_on
    if plan.status == PlanStatus.VALIDATED:
        # The GP validated an earlier version: this one needs its own approvals.
        plan.status = PlanStatus.UNDER_REVISION if _was_in_force(plan) else PlanStatus.DRAFT
    _audit(ctx, "care_plan.publish", plan, reason=f"version {number}")
    if plan.status == PlanStatus.ACTIVE:
        # Follow-up of a plan in force: the DMP gets the new version (it replaces the last).
        request_version_filing(plan, version, user)
    else:
        notices.tell_gp_to_validate(plan, version, user)
    db.session.flush()
    send_after_commit(
        care_plan_version_published,
        "care_plans",
        version_id=version.id,
        plan_id=plan.id,
        patient_id=plan.patient_id,
    )
    return version


def check_actions_complete(content: PlanContent) -> None:
    """Refuse a content with an open action lacking who or when and not marked "à définir".

    The message names the first such action (and says how many more there are).
    """
    gaps = content.incomplete_actions()
    if not gaps:
        return
    message = incomplete_message(*gaps[0])
    if len(gaps) > 1:
        others = len(gaps) - 1
        plural = "s" if others > 1 else ""
        message += f" ({others} autre{plural} action{plural} à compléter.)"
    raise InvalidInput(message, field="actions")


def list_actions_to_define(user: User) -> list[queries.UndefinedActionRow]:
    """Return the actions "à définir" of the patients this coordinator coordinates."""
    require(user, "care_plan.list_to_define")
    return queries.actions_to_define(user.id)


def record_approval(
    user: User, plan: CarePlan, kind: str, method: str, note: str, ctx: AuditContext
) -> PlanApproval:
    """Record the GP's validation or the patient's agreement of the current version."""
    if kind == ApprovalKind.GP_VALIDATION:
        require(user, "care_plan.validate", plan)
    elif kind == ApprovalKind.PATIENT_AGREEMENT:
        require(user, "care_plan.record_agreement", plan)
    else:
        raise InvalidInput("Type d'approbation inconnu.", field="kind")
    if method not in APPROVAL_METHODS:
        raise InvalidInput("Indiquez comment l'approbation a été recueillie.", field="method")
    version = plan.current_version
    if version is None:
        raise InvalidInput("Publiez d'abord une version du plan.", field="kind")
    if plan.status == PlanStatus.CLOSED:
        raise Conflict("Le plan est clos.", field="status")
    if _approval(version.id, kind) is not None:
        raise Conflict("Cette approbation est déjà enregistrée pour cette version.", field="kind")
    approval = PlanApproval(
        version_id=version.id, kind=kind, method=method, note=note.strip(), recorded_by_id=user.id
    )
    db.session.add(approval)
    if kind == ApprovalKind.GP_VALIDATION and plan.status in (
        PlanStatus.DRAFT,
        PlanStatus.UNDER_REVISION,
    ):
        plan.status = PlanStatus.VALIDATED
    if kind == ApprovalKind.GP_VALIDATION:
        # A version the GP validated is filed into the patient's DMP (through the outbox).
        request_version_filing(plan, version, user)
    _audit(ctx, f"care_plan.{kind}", plan, reason=f"version {version.number}: {method}")
    notice = _APPROVAL_NOTICES[ApprovalKind(kind)](version)
    notices.tell_coordinators(plan, user, f"care_plan_{kind}", notice)
    db.session.flush()
    return approval


def record_electronic_agreement(
    plan: CarePlan, version: CarePlanVersion, filed_with: User, note: str, ctx: AuditContext
) -> PlanApproval:
    """Record the person's agreement given in their own space (method "electronic").

    The caller (ptap.patient_space) has authorised the patient-side account. The approval is
    filed with `filed_with` (the plan's lead: approvals name a professional); the note and the
    audit event name who agreed. The lifecycle then goes on as today (activation).
    """
    if plan.status == PlanStatus.CLOSED:
        raise Conflict("Le plan est clos.", field="status")
    if plan.current_version_id != version.id:
        raise Conflict(
            "Cette version n'est plus celle en cours : une version plus récente a été publiée.",
            field="version",
        )
    if _approval(version.id, ApprovalKind.PATIENT_AGREEMENT) is not None:
        raise Conflict("Votre accord est déjà enregistré pour cette version.", field="kind")
    approval = PlanApproval(
        version_id=version.id,
        kind=ApprovalKind.PATIENT_AGREEMENT,
        method=ONLINE_AGREEMENT_METHOD,
        note=note.strip(),
        recorded_by_id=filed_with.id,
    )
    try:
        with db.session.begin_nested():  # a double submission loses on the unique index
            db.session.add(approval)
    except sa.exc.IntegrityError as exc:
        raise Conflict(
            "Votre accord est déjà enregistré pour cette version.", field="kind"
        ) from exc
    _audit(ctx, "care_plan.patient_agreement", plan, reason=f"version {version.number}: electronic")
    notice = _APPROVAL_NOTICES[ApprovalKind.PATIENT_AGREEMENT](version)
    # The lead is told too (the actor excluded by tell_coordinators is nobody here).
    notices.tell_coordinators(plan, _NOBODY, "care_plan_patient_agreement", notice)
    db.session.flush()
    return approval


class _Nobody:
    """An actor id no user has: tell_coordinators then leaves no one out."""

    id = 0


_NOBODY: Any = _Nobody()


_NOTICE_SUBJECT = "Plan de coordination d'une personne suivie"
_APPROVAL_NOTICES = {
    ApprovalKind.GP_VALIDATION: lambda v: (
        f"{_NOTICE_SUBJECT} : le médecin a validé la version {v.number}."
    ),
    ApprovalKind.PATIENT_AGREEMENT: lambda v: (
        f"{_NOTICE_SUBJECT} : l'accord de la personne est recueilli pour la version {v.number}."
    ),
}


def _was_in_force(plan: CarePlan) -> bool:
    """Tell whether an earlier version had both approvals (the plan was in force before)."""
    both = (
        sa.select(PlanApproval.version_id)
        .join(CarePlanVersion, CarePlanVersion.id == PlanApproval.version_id)
        .where(CarePlanVersion.plan_id == plan.id)
        .group_by(PlanApproval.version_id)
        .having(sa.func.count(sa.distinct(PlanApproval.kind)) == 2)
    )
    return (db.session.scalar(sa.select(sa.func.count()).select_from(both.subquery())) or 0) > 0


def _approval(version_id: int, kind: str) -> PlanApproval | None:
    return db.session.scalar(
        sa.select(PlanApproval).where(
            PlanApproval.version_id == version_id, PlanApproval.kind == kind
        )
    )


def activate_plan(user: User, plan: CarePlan, ctx: AuditContext) -> CarePlan:
    """Put a validated plan in force; the patient's agreement to this version is required."""
    require(user, "care_plan.publish", plan)
    version = plan.current_version
    # A revision that ended without a new version goes back in force on the approvals it had.
    revalidated = (
        plan.status == PlanStatus.UNDER_REVISION
        and version is not None
        and _approval(version.id, ApprovalKind.GP_VALIDATION) is not None
    )
    if version is None or not (plan.status == PlanStatus.VALIDATED or revalidated):
        raise Conflict("Le plan doit d'abord être validé par le médecin.", field="status")
    if _approval(version.id, ApprovalKind.PATIENT_AGREEMENT) is None:
        raise Conflict("L'accord de la personne sur cette version est requis.", field="status")
    plan.status = PlanStatus.ACTIVE
    _audit(ctx, "care_plan.activate", plan)
    notices.tell_coordinators(
        plan,
        user,
        "care_plan_active",
        f"{_NOTICE_SUBJECT} : la version {version.number} est en vigueur.",
    )
    db.session.flush()
    return plan


def start_revision(user: User, plan: CarePlan, ctx: AuditContext) -> CarePlan:
    """Open a revision of a plan in force (its next version will need approvals again)."""
    require(user, "care_plan.publish", plan)
    if plan.status != PlanStatus.ACTIVE:
        raise Conflict("Seul un plan en vigueur peut être révisé.", field="status")
    plan.status = PlanStatus.UNDER_REVISION
    _audit(ctx, "care_plan.revise", plan)
    db.session.flush()
    return plan


def close_plan(user: User, plan: CarePlan, reason: str, ctx: AuditContext) -> CarePlan:
    """Close the plan with a reason; its tasks leave the task lists."""
    require(user, "care_plan.publish", plan)
    if not reason.strip():
        raise InvalidInput("Indiquez le motif de clôture.", field="close_reason")
    plan.status = PlanStatus.CLOSED
    plan.closed_at = utcnow()
    plan.close_reason = reason.strip()
    _sync_tasks(plan, load_content(plan.draft))
    _audit(ctx, "care_plan.close", plan, reason=reason.strip())
    db.session.flush()
    return plan
