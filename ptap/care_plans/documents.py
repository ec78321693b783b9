"""The printable PPCS of one version: its plain-data context and its PDF/A-1b rendering.

The document follows the four parts of the HAS PPCS (2019): general information, synthesis
(problems and needs by dimension, the person's expectations and preferences), action plan
(objectives and actions: what, type, who, when, status), shared objectives not achieved; then
the approvals of the version. The patient's strict identity traits, and the INS when the
identity is qualified, are repeated on every page (running header).

Archival format: PDF/A-1b, the variant the CI-SIS names for unstructured documents (PDF
embedded in a CDA R2 N1 document bound for the DMP). The document uses no transparency,
no image and only the embedded DejaVu fonts, the things PDF/A-1 forbids or requires.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_plans import queries
from ptap.care_plans.content import (
    ACTION_STATUS_LABELS,
    ACTION_TYPE_LABELS,
    DIMENSION_LABELS,
    PRIORITY_LABELS,
    Action,
    Dimension,
    PlanContent,
    Priority,
    load_content,
)
from ptap.care_plans.models import (
    APPROVAL_KIND_LABELS,
    APPROVAL_METHOD_LABELS,
    ApprovalKind,
    CarePlan,
    CarePlanVersion,
    PlanApproval,
    approval_participle,
)
from ptap.care_plans.standing import Standing, version_standing
from ptap.care_teams import queries as team_queries
from ptap.care_teams.models import (
    CONTACT_KIND_LABELS,
    IDENTITY_STATUS_LABELS,
    SEX_LABELS,
    STRUCTURE_KIND_LABELS,
    TEAM_ROLE_LABELS,
    Enrolment,
    Patient,
    PatientContact,
)
from ptap.care_teams.queries import CircleMember
from ptap.core.formatting import fr_date, ins_format, label, local_datetime
from ptap.core.ins import INS_OID_LABELS
from ptap.core.models import utcnow
from ptap.core.pdf import render_pdf
from ptap.extensions import db

TEMPLATE = "pdf/care_plan.html"
TITLE = "Plan personnalisé de coordination en santé"
#: PDF/A-1b: what the CI-SIS asks of a PDF filed in the DMP (core.pdf renders PDF/A-3b).
PDF_VARIANT = "pdf/a-1b"
PRIORITY_ORDER = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2}


@dataclass(frozen=True)
class VersionSources:
    """Everything the renderings of one version read, loaded in a handful of queries."""

    version: CarePlanVersion
    plan: CarePlan
    patient: Patient
    enrolment: Enrolment
    content: PlanContent
    #: Lead, assignees, author, GP, approvers and circle members, by id.
    users: dict[int, User]
    circle: list[CircleMember]
    contacts: list[PatientContact]
    approvals: list[tuple[PlanApproval, str]]
    #: Whether this version is the plan's current one (an older one has been replaced).
    is_current: bool


def _users(ids: Iterable[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(wanted)))}


def load_sources(version: CarePlanVersion) -> VersionSources:
    """Load the plan, patient, people and approvals a rendering of `version` needs."""
    plan = db.session.get_one(CarePlan, version.plan_id)
    patient = db.session.get_one(Patient, plan.patient_id)
    enrolment = db.session.scalars(
        sa.select(Enrolment)
        .where(Enrolment.id == plan.enrolment_id)
        .options(sa.orm.joinedload(Enrolment.team))
    ).one()
    content = load_content(version.content)
    circle = team_queries.circle(patient)
    approvals = queries.approvals(version.id)
    users = _users(
        [
            content.lead_user_id,
            version.created_by_id,
            patient.gp_user_id,
            *(a.assignee_user_id for _, a in content.actions()),
            *(a.recorded_by_id for a, _ in approvals),
            *(m.user_id for m in circle),
        ]
    )
    return VersionSources(
        version=version,
        plan=plan,
        patient=patient,
        enrolment=enrolment,
        content=content,
        users=users,
        circle=circle,
        contacts=team_queries.list_patient_contacts(patient.id),
        approvals=approvals,
        is_current=plan.current_version_id == version.id,
    )


def sources_standing(sources: VersionSources) -> Standing:
    """Return the true standing of the loaded version (page, PDF and FHIR say the same)."""
    return version_standing(
        sources.plan.status,
        published=True,
        current=sources.is_current,
        approvals={a.kind for a, _ in sources.approvals},
        end_reason=sources.enrolment.end_reason,
    )


# --- plain-data context ----------------------------------------------------------------------


@dataclass(frozen=True)
class ActionRow:
    """One action of the plan as printed."""

    what: str
    action_type: str
    who: str
    when: str
    status: str
    status_key: str
    reason: str = ""


@dataclass(frozen=True)
class ObjectiveBlock:
    """One shared objective, the problems it answers and its actions."""

    number: int
    title: str
    problems: list[str]
    actions: list[ActionRow]


@dataclass(frozen=True)
class DimensionBlock:
    """The problems and needs of one HAS dimension, highest priority first."""

    label: str
    problems: list[tuple[str, str, str]] = field(default_factory=list)


def person_label(user: User | None) -> str:
    """Return "First Last (profession)" for a user, "" for none."""
    if user is None:
        return ""
    return f"{user.full_name} ({user.profession_label})"


def circle_basis(member: CircleMember) -> str:
    """Say why someone is in the circle: "Coordination · Équipe X", "Invité pour ce patient"."""
    basis = member.basis
    role = TEAM_ROLE_LABELS.get(member.team_role, "")
    return f"{role} · {basis}" if role else basis


def assignee_label(action: Action, users: Mapping[int, User]) -> str:
    """Return who carries an action: a PTAP professional, a structure or outside person."""
    if action.assignee_user_id is not None:
        user = users.get(action.assignee_user_id)
        if user is not None:
            return person_label(user)
    return action.assignee_label or "Non attribuée"


def _identity(patient: Patient) -> dict[str, Any]:
    qualified = patient.is_qualified and bool(patient.ins_matricule)
    born = patient.born_on_label
    return {
        "birth_name": patient.birth_name,
        "used_name": patient.used_name if patient.used_name != patient.birth_name else "",
        "first_names": patient.first_names,
        "used_first_name": patient.used_first_name,
        "birth_date": patient.birth_date_label,
        "born": born,
        "sex": label(SEX_LABELS, patient.sex),
        "sex_code": patient.sex,
        "birthplace_code": patient.birthplace_code,
        "identity_status": label(IDENTITY_STATUS_LABELS, patient.identity_status),
        # The référentiel INS: the matricule is shown and shared only for a qualified identity.
        "qualified": qualified,
        "ins": ins_format(patient.ins_matricule) if qualified else "",
        "ins_nature": label(INS_OID_LABELS, patient.ins_oid or "") if qualified else "",
    }


def _problems(content: PlanContent) -> list[DimensionBlock]:
    blocks = []
    for dimension in Dimension:
        problems = sorted(
            (p for p in content.problems if p.dimension == dimension),
            key=lambda p: PRIORITY_ORDER[p.priority],
        )
        blocks.append(
            DimensionBlock(
                DIMENSION_LABELS[dimension],
                [(p.description, PRIORITY_LABELS[p.priority], p.priority.value) for p in problems],
            )
        )
    return blocks


def _objectives(content: PlanContent, users: Mapping[int, User]) -> list[ObjectiveBlock]:
    problems = {p.key: p.description for p in content.problems}
    return [
        ObjectiveBlock(
            number=n,
            title=objective.title,
            problems=[problems[k] for k in objective.problem_keys if k in problems],
            actions=[
                ActionRow(
                    what=a.what,
                    action_type=ACTION_TYPE_LABELS[a.action_type],
                    who=assignee_label(a, users),
                    when=fr_date(a.due_on) or "Sans échéance",
                    status=ACTION_STATUS_LABELS[a.status],
                    status_key=a.status.value,
                    reason=a.not_achieved_reason,
                )
                for a in objective.actions
            ],
        )
        for n, objective in enumerate(content.objectives, start=1)
    ]


def _approvals(sources: VersionSources) -> list[dict[str, Any]]:
    recorded = {a.kind: (a, name) for a, name in sources.approvals}
    rows = []
    for kind in ApprovalKind:
        found = recorded.get(kind)
        row: dict[str, Any] = {
            "label": APPROVAL_KIND_LABELS[kind],
            "recorded": found is not None,
            "recorded_word": approval_participle(kind, "enregistré"),
            "pending_word": f"Non {approval_participle(kind, 'recueilli')} à ce jour",
        }
        if found is not None:
            approval, name = found
            row |= {
                "at": local_datetime(approval.recorded_at),
                "by": name,
                "method": label(APPROVAL_METHOD_LABELS, approval.method),
                "note": approval.note,
            }
        rows.append(row)
    return rows


def _version(sources: VersionSources) -> dict[str, Any]:
    version = sources.version
    author = sources.users.get(version.created_by_id)
    return {
        "number": version.number,
        "date": fr_date(version.created_at.date()),
        "published_at": local_datetime(version.created_at),
        "author": author.full_name if author else "",
        "summary": version.change_summary,
        "provenance": version.provenance_label,
        "next_review_on": fr_date(version.next_review_on),
        "is_current": sources.is_current,
    }


def _general(sources: VersionSources) -> dict[str, Any]:
    """Part 1 beyond the identity: GP, lead, circle and the person's relatives."""
    patient, users = sources.patient, sources.users
    gp = users.get(patient.gp_user_id) if patient.gp_user_id else None
    lead = users.get(sources.content.lead_user_id) if sources.content.lead_user_id else None
    return {
        "gp": gp.full_name if gp else patient.gp_name,
        "lead": person_label(lead),
        "circle": [
            {"name": m.name, "profession": m.profession, "basis": circle_basis(m)}
            for m in sources.circle
        ],
        "contacts": [
            {
                "kind": label(CONTACT_KIND_LABELS, c.kind),
                "name": c.name,
                "relationship": c.relationship_label,
                "phone": c.phone,
            }
            for c in sources.contacts
        ],
    }


def version_document(sources: VersionSources, now: datetime | None = None) -> dict[str, Any]:
    """Build the PDF's plain-data context: identity, the four HAS parts, approvals."""
    content, team = sources.content, sources.enrolment.team
    return {
        "title": TITLE,
        "patient": _identity(sources.patient),
        "structure": {
            "name": team.structure.name,
            "kind": label(STRUCTURE_KIND_LABELS, team.structure.kind),
            "finess": team.structure.finess or "",
            "team": team.name,
        },
        "version": _version(sources),
        "plan_status": sources_standing(sources).label,
        "general": _general(sources),
        "dimensions": _problems(content),
        "expectations": content.expectations,
        "preferences": content.preferences,
        "objectives": _objectives(content, sources.users),
        "unmet": [{"objective": u.objective, "reason": u.reason} for u in content.unmet_objectives],
        "approvals": _approvals(sources),
        "generated_at": local_datetime(now or utcnow()),
    }


# --- rendering -------------------------------------------------------------------------------


def render_version_pdf(version: CarePlanVersion) -> bytes:
    """Render one version of a care plan as a PDF/A-1b document."""
    return render_pdf_from_sources(load_sources(version))


def render_pdf_from_sources(sources: VersionSources) -> bytes:
    """Render already loaded version sources as a PDF/A-1b document."""
    return render_pdf(TEMPLATE, version_document(sources), variant=PDF_VARIANT)
