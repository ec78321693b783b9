"""Ready-made data for the plan page: the four HAS parts, its forms, what the user may do.

Templates get these dataclasses and no ORM object to walk; every decision about what to show
(overdue, awaiting approval, which lifecycle step is offered) is taken here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ptap.accounts.models import User
from ptap.care_plans import queries
from ptap.care_plans.content import (
    ACTION_STATUS_LABELS,
    ACTION_TYPE_LABELS,
    DIMENSION_LABELS,
    OPEN_STATUSES,
    PRIORITY_LABELS,
    Action,
    Dimension,
    Objective,
    PlanContent,
    load_content,
)
from ptap.care_plans.forms import (
    ActionForm,
    ActionStatusForm,
    ApprovalForm,
    CloseForm,
    ObjectiveForm,
    Person,
    PublishForm,
)
from ptap.care_plans.models import (
    APPROVAL_KIND_LABELS,
    APPROVAL_METHOD_LABELS,
    ONLINE_AGREEMENT_LABEL,
    ONLINE_AGREEMENT_METHOD,
    ApprovalKind,
    CarePlan,
    CarePlanVersion,
    PlanApproval,
    PlanStatus,
    approval_participle,
)
from ptap.care_plans.standing import version_standing
from ptap.care_plans.views.rows import (
    ActionRow,
    ApprovalRow,
    ContactRow,
    Editing,
    GeneralInfo,
    ObjectiveBlock,
    PlanForms,
    PlanParts,
    ProblemGroup,
    ProblemRow,
    Progress,
    ProgressStep,
    UnmetRow,
    VersionInfo,
)
from ptap.care_teams import access
from ptap.care_teams import queries as team_queries
from ptap.care_teams.models import CONTACT_KIND_LABELS, Patient
from ptap.core import clock
from ptap.core.policy import can


def _label(labels: Mapping[Any, str], value: str) -> str:
    return labels.get(value, value)


def today() -> date:
    """Return today's date in France (due dates are calendar days)."""
    return clock.paris_today()


# --- builders ---------------------------------------------------------------------------------


def user_ids(content: PlanContent, *more: int | None) -> list[int]:
    """Return the ids of the users a content names (lead, assignees), plus `more`."""
    ids = {a.assignee_user_id for _, a in content.actions() if a.assignee_user_id}
    ids |= {i for i in (content.lead_user_id, *more) if i}
    return sorted(ids)


def people_of(patient: Patient, content: PlanContent) -> list[Person]:
    """Return who may be named in the plan: the circle, plus anyone it already names."""
    people: dict[int, str] = {
        m.user_id: f"{m.name} ({m.profession})" for m in team_queries.circle(patient)
    }
    missing = [i for i in user_ids(content) if i not in people]
    for uid, name in team_queries.user_names(missing).items():
        people[uid] = f"{name} (hors du cercle)"
    return list(people.items())


def who(action: Action, names: dict[int, str]) -> str:
    """Return who carries out an action: a professional, a structure, both, or nobody yet."""
    parts = []
    if action.assignee_user_id:
        parts.append(names.get(action.assignee_user_id, "Professionnel inconnu"))
    if action.assignee_label:
        parts.append(action.assignee_label)
    if action.to_define:
        parts.append("À définir")
    return " · ".join(parts) or "Non attribuée"


def action_row(
    action: Action,
    names: dict[int, str],
    on: date,
    form: ActionStatusForm | None = None,
    mark: str = "",
) -> ActionRow:
    """Return the display row of an action (overdue: open and past its due date)."""
    return ActionRow(
        key=action.key,
        what=action.what,
        type_label=ACTION_TYPE_LABELS[action.action_type],
        who=who(action, names),
        due_on=action.due_on,
        status=action.status.value,
        status_label=ACTION_STATUS_LABELS[action.status],
        overdue=action.status in OPEN_STATUSES and action.due_on is not None and action.due_on < on,
        not_achieved_reason=action.not_achieved_reason,
        form=form,
        mark=mark,
    )


def objective_block(
    objective: Objective,
    problems: dict[str, str],
    names: dict[int, str],
    on: date,
    editing: Editing | None = None,
) -> ObjectiveBlock:
    """Return one objective with its actions; with `editing`, its inline forms."""
    forms = editing.forms if editing else None
    rows = []
    for action in objective.actions:
        form = None
        if editing and forms is not None:
            form = forms.action_status.get(action.key) or ActionStatusForm.for_action(
                action, action.key, formdata=None
            )
        mark = forms.marks.get(action.key, "") if forms else ""
        rows.append(action_row(action, names, on, form, mark))
    add_form = None
    if editing and forms is not None:
        add_form = forms.add_action.get(objective.key) or ActionForm.for_objective(
            objective.key, editing.people, formdata=None
        )
    message = forms.messages.get(objective.key) if forms else None
    add_open = add_form is not None and (
        bool(add_form.errors) or (forms is not None and objective.key in forms.opened)
    )
    focus = ""
    if add_open and add_form is not None:
        focus = f"#{add_form.what.id}"
    elif message:
        focus = f"#objective-{objective.key}-message"
    return ObjectiveBlock(
        key=objective.key,
        title=objective.title,
        problems=[problems[k] for k in objective.problem_keys if k in problems],
        actions=rows,
        add_form=add_form,
        message=message,
        add_open=add_open,
        focus=focus,
    )


def plan_parts(
    content: PlanContent, names: dict[int, str], on: date, editing: Editing | None = None
) -> PlanParts:
    """Return parts 2 to 4 of a content, ready to render."""
    groups = []
    for dimension in Dimension:
        rows = [
            ProblemRow(p.key, p.description, p.priority.value, PRIORITY_LABELS[p.priority])
            for p in content.problems
            if p.dimension == dimension
        ]
        if rows:
            groups.append(ProblemGroup(dimension.value, DIMENSION_LABELS[dimension], rows))
    problems = {p.key: p.description for p in content.problems}
    return PlanParts(
        problem_groups=groups,
        expectations=content.expectations,
        preferences=content.preferences,
        objectives=[objective_block(o, problems, names, on, editing) for o in content.objectives],
        unmet=[UnmetRow(u.objective, u.reason) for u in content.unmet_objectives],
        lead=names.get(content.lead_user_id or 0, ""),
        next_review_on=content.next_review_on,
    )


#: Who gave an agreement recorded online (patient space): the person or their representative.
ONLINE_BY = "la personne, dans son espace patient"


def approval_rows(
    version: CarePlanVersion | None,
    recorded_rows: list[tuple[PlanApproval, str]] | None = None,
) -> list[ApprovalRow]:
    """Return both approvals of a version, recorded or awaited (`recorded_rows` when the
    caller already loaded them, e.g. for a list of versions)."""
    if recorded_rows is None:
        recorded_rows = queries.approvals(version.id) if version else []
    recorded = {a.kind: (a, name) for a, name in recorded_rows}
    rows = []
    for kind in ApprovalKind:
        label = APPROVAL_KIND_LABELS[kind]
        if kind in recorded:
            approval, name = recorded[kind]
            rows.append(
                ApprovalRow(
                    kind.value,
                    label,
                    True,
                    done_word=approval_participle(kind, "recueilli"),
                    # An agreement given online is filed under the plan's lead (the row needs
                    # a professional); the person gave it: the note says who exactly.
                    by=ONLINE_BY if approval.method == ONLINE_AGREEMENT_METHOD else name,
                    at=approval.recorded_at,
                    method=ONLINE_AGREEMENT_LABEL
                    if approval.method == ONLINE_AGREEMENT_METHOD
                    else APPROVAL_METHOD_LABELS.get(approval.method, approval.method),
                    note=approval.note,
                )
            )
        else:
            rows.append(ApprovalRow(kind.value, label, False))
    return rows


def general_info(
    plan: CarePlan,
    patient: Patient,
    content: PlanContent,
    version: CarePlanVersion | None,
    names: dict[int, str],
    on: date,
) -> GeneralInfo:
    """Return part 1: status, lead, GP, circle, caregivers, version, re-evaluation, approvals."""
    gp = f"Dr {names[patient.gp_user_id]}" if patient.gp_user_id in names else patient.gp_name
    info = None
    if version is not None:
        info = VersionInfo(
            version.number,
            version.created_at,
            names.get(version.created_by_id, ""),
            version.change_summary,
            version.provenance_label,
        )
    review = content.next_review_on
    approvals = approval_rows(version)
    standing = version_standing(
        plan.status,
        published=version is not None,
        current=version is None or version.id == plan.current_version_id,
        approvals={a.kind for a in approvals if a.done},
    )
    return GeneralInfo(
        status=standing.code,
        status_label=standing.label,
        lead=names.get(content.lead_user_id or 0, ""),
        gp=gp,
        circle=team_queries.circle(patient),
        contacts=[
            ContactRow(c.name, _label(CONTACT_KIND_LABELS, c.kind), c.relationship_label, c.phone)
            for c in team_queries.list_patient_contacts(patient.id)
        ],
        version=info,
        next_review_on=review,
        review_overdue=review is not None and review < on and plan.status != PlanStatus.CLOSED,
        approvals=approvals,
    )


# --- the progress bar ------------------------------------------------------------------------

PROGRESS_LABELS = (
    "Brouillon",
    "Publiée",
    "Validée par le médecin",
    "Accord de la personne",
    "En vigueur",
)


def progress(
    plan: CarePlan,
    patient: Patient,
    version: CarePlanVersion | None,
    approvals: Collection[str],
    lead: str,
    gp: str,
) -> Progress:
    """Return the true step of the plan from its status, current version and approvals.

    :param approvals: the approval kinds recorded for the current version.
    :param lead: the plan lead's name ("" if none); :param gp: the GP's name ("" if unknown).
    """
    status = plan.status
    # A plan in force was validated and agreed (activate_plan requires both), even when its
    # current version is a follow-up one (action statuses) without approvals of its own.
    in_force = status == PlanStatus.ACTIVE
    validated = in_force or ApprovalKind.GP_VALIDATION in approvals
    agreed = in_force or ApprovalKind.PATIENT_AGREEMENT in approvals
    revision = status == PlanStatus.UNDER_REVISION
    by_lead = f"{lead} (responsable du plan)" if lead else "la coordination"
    # The revision of a plan in force whose next version is not published yet: the steps
    # are those of the coming version.
    revision_draft = revision and validated and agreed
    if version is None or revision_draft:
        current = 0
        todo = f"Publication de la {'révision' if revision_draft else 'version'} par {by_lead}"
    elif status == PlanStatus.ACTIVE:
        current, todo = 4, ""
    elif not validated:
        current = 1
        todo = (
            f"Validation attendue du Dr {gp} (médecin traitant)"
            if gp
            else "Validation attendue d'un médecin du cercle"
        )
    elif not agreed:
        current = 2
        todo = f"Accord de {patient.display_name} à recueillir et enregistrer par la coordination"
    else:
        current, todo = 3, f"Mise en vigueur par {by_lead}"
    reached = (
        True,
        version is not None and not revision_draft,
        validated and not revision_draft,
        agreed and not revision_draft,
        status == PlanStatus.ACTIVE,
    )
    closed = status == PlanStatus.CLOSED
    steps = [
        ProgressStep(
            label,
            "current" if i == current and not closed else "done" if reached[i] else "todo",
        )
        for i, label in enumerate(PROGRESS_LABELS)
    ]
    if closed:
        steps.append(ProgressStep("Clos", "current"))
        todo = ""
    phase = "Plan clos" if closed else "Révision en cours" if revision else ""
    return Progress(
        steps=steps,
        phase=phase,
        todo=todo,
        version_number=version.number if version is not None and not revision_draft else None,
    )


def plan_progress(plan: CarePlan, patient: Patient) -> Progress:
    """Return the progress bar of a plan (for pages that do not build the whole plan page)."""
    content = load_content(plan.draft)
    version = plan.current_version
    names = team_queries.user_names(user_ids(content, patient.gp_user_id))
    done = {a.kind for a, _ in queries.approvals(version.id)} if version else set()
    return progress(plan, patient, version, done, *_lead_and_gp(patient, content, names))


def _lead_and_gp(patient: Patient, content: PlanContent, names: dict[int, str]) -> tuple[str, str]:
    lead = names.get(content.lead_user_id or 0, "")
    gp = names.get(patient.gp_user_id or 0, "") or (patient.gp_name or "").removeprefix("Dr ")
    return lead, gp


# --- the plan page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lifecycle:
    """The lifecycle steps offered to this user now (None: not offered)."""

    can_publish: bool
    #: The publish form, only when the draft differs from the current version.
    publish: PublishForm | None
    next_number: int
    unpublished: bool
    gp_validation: ApprovalForm | None
    patient_agreement: ApprovalForm | None
    activate: bool
    activate_blocked: str
    revise: bool
    close: CloseForm | None
    error: str

    @property
    def any(self) -> bool:
        return bool(
            self.can_publish
            or self.gp_validation
            or self.patient_agreement
            or self.activate
            or self.revise
            or self.close
        )


@dataclass(frozen=True)
class PlanPage:
    """Everything the plan page shows."""

    patient: Patient
    general: GeneralInfo
    parts: PlanParts
    can_edit: bool
    objective_form: ObjectiveForm | None
    lifecycle: Lifecycle
    draft_changed_at: datetime
    draft_changed_by: str
    closed: bool
    close_reason: str
    #: The user reads through an emergency (break-the-glass) access: read only, traced.
    break_glass: bool
    progress: Progress


def _lifecycle(
    user: User, plan: CarePlan, approvals: list[ApprovalRow], unpublished: bool, forms: PlanForms
) -> Lifecycle:
    status = plan.status
    version = plan.current_version
    done = {a.kind for a in approvals if a.done}
    open_plan = status != PlanStatus.CLOSED
    publish = can(user, "care_plan.publish", plan)

    def approval(kind: ApprovalKind, action: str) -> ApprovalForm | None:
        if not (version and open_plan and kind not in done and can(user, action, plan)):
            return None
        return forms.approvals.get(kind) or ApprovalForm(prefix=kind.value, formdata=None)

    blocked = ""
    if status == PlanStatus.VALIDATED and ApprovalKind.PATIENT_AGREEMENT not in done:
        blocked = "L'accord de la personne sur cette version doit d'abord être enregistré."
    return Lifecycle(
        can_publish=publish,
        publish=(forms.publish or PublishForm(formdata=None)) if publish and unpublished else None,
        next_number=(version.number if version else 0) + 1,
        unpublished=unpublished,
        gp_validation=approval(ApprovalKind.GP_VALIDATION, "care_plan.validate"),
        patient_agreement=approval(ApprovalKind.PATIENT_AGREEMENT, "care_plan.record_agreement"),
        activate=publish and status == PlanStatus.VALIDATED,
        activate_blocked=blocked,
        revise=publish and status == PlanStatus.ACTIVE,
        close=(forms.close or CloseForm(formdata=None)) if publish else None,
        error=forms.lifecycle_error,
    )


def plan_page(user: User, plan: CarePlan, patient: Patient, forms: PlanForms | None) -> PlanPage:
    """Return the plan page: the draft in the four parts, with what this user may do."""
    forms = forms or PlanForms()
    content = load_content(plan.draft)
    version = plan.current_version
    on = today()
    names = team_queries.user_names(
        user_ids(
            content,
            patient.gp_user_id,
            version.created_by_id if version else None,
            plan.draft_updated_by_id,
        )
    )
    can_edit = can(user, "care_plan.edit", plan)
    editing = Editing(people_of(patient, content), forms) if can_edit else None
    general = general_info(plan, patient, content, version, names, on)
    unpublished = version is None or version.content_hash != content.digest()
    return PlanPage(
        patient=patient,
        general=general,
        parts=plan_parts(content, names, on, editing),
        can_edit=can_edit,
        objective_form=(forms.objective or ObjectiveForm(formdata=None)) if can_edit else None,
        lifecycle=_lifecycle(user, plan, general.approvals, unpublished, forms),
        draft_changed_at=plan.draft_updated_at,
        draft_changed_by=names.get(plan.draft_updated_by_id or 0, ""),
        closed=plan.status == PlanStatus.CLOSED,
        close_reason=plan.close_reason,
        break_glass=access.access_basis(user.id, patient) == access.AccessBasis.BREAK_GLASS,
        progress=progress(
            plan,
            patient,
            version,
            {a.kind for a in general.approvals if a.done},
            *_lead_and_gp(patient, content, names),
        ),
    )


def objective_fragment(
    plan: CarePlan, patient: Patient, key: str, forms: PlanForms
) -> ObjectiveBlock | None:
    """Return one objective of the draft with its forms (the htmx answer), or None if gone."""
    content = load_content(plan.draft)
    objective = next((o for o in content.objectives if o.key == key), None)
    if objective is None:
        return None
    names = team_queries.user_names(user_ids(content))
    problems = {p.key: p.description for p in content.problems}
    editing = Editing(people_of(patient, content), forms)
    return objective_block(objective, problems, names, today(), editing)
