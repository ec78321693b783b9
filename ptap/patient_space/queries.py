"""Reads of the patient space, shaped for plain-French pages (no ORM walking in templates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.models import AuditEvent, Outcome
from ptap.care_plans import queries as plan_queries
from ptap.care_plans.content import ACTION_STATUS_LABELS, ActionStatus, load_content
from ptap.care_plans.models import ApprovalKind, CarePlan, CarePlanVersion, PlanStatus
from ptap.care_teams import queries as team_queries
from ptap.care_teams.circle import current_consent, list_coordinator_ids
from ptap.care_teams.models import ConsentKind, Patient
from ptap.care_teams.timeline import TimelineEntry, register_provider
from ptap.core import clock
from ptap.core.formatting import label
from ptap.extensions import db
from ptap.filings import queries as filing_queries
from ptap.patient_space.models import (
    RELATIONSHIP_LABELS,
    RIGHT_LABELS,
    PatientAccount,
    PatientInvitation,
    PlanResponse,
)

MON_ESPACE_SANTE_URL = "https://www.monespacesante.fr/"


@dataclass(frozen=True)
class NextAction:
    """One planned action, said simply: what, who, when."""

    what: str
    who: str
    when: date | None
    status: str
    #: Still to do (planned or in progress).
    open: bool = True
    #: Still to do and its date has passed.
    overdue: bool = False


@dataclass(frozen=True)
class ObjectiveView:
    """One shared objective and its actions."""

    title: str
    actions: list[NextAction]


@dataclass(frozen=True)
class PlanView:
    """A plan version as the person reads it."""

    plan_id: int
    version_id: int
    number: int
    published_at: datetime
    problems: list[str]
    expectations: str
    objectives: list[ObjectiveView]
    next_review_on: date | None
    #: The re-evaluation date has passed (the team is to set a new one).
    review_overdue: bool
    in_force: bool
    awaiting_agreement: bool
    agreed: bool
    #: The person already asked for a change on this version.
    change_asked: bool = False
    lead_name: str = ""

    def upcoming(self, limit: int = 3) -> list[NextAction]:
        """The next actions still to do, soonest first (undated ones last)."""
        todo = [a for o in self.objectives for a in o.actions if a.open]
        todo.sort(key=lambda a: (a.when is None, a.when or date.max))
        return todo[:limit]


@dataclass(frozen=True)
class VersionRow:
    """An earlier version, in the list."""

    number: int
    published_at: datetime
    change_summary: str


def _names(user_ids: set[int]) -> dict[int, User]:
    if not user_ids:
        return {}
    return {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(user_ids)))}


def plan_of(patient_id: int) -> CarePlan | None:
    """Return the person's plan (one per enrolment; the latest open one)."""
    return plan_queries.find_plan_for_patient(patient_id)


def plan_view(plan: CarePlan, version: CarePlanVersion) -> PlanView:
    """Turn a version into what the person reads: problems, objectives, next actions."""
    content = load_content(version.content)
    today = clock.paris_today()
    users = _names(
        {a.assignee_user_id for _, a in content.actions() if a.assignee_user_id}
        | ({content.lead_user_id} if content.lead_user_id else set())
    )
    objectives = []
    for objective in content.objectives:
        actions = [
            NextAction(
                what=a.what,
                who=(
                    f"{users[a.assignee_user_id].full_name} "
                    f"({users[a.assignee_user_id].profession_label})"
                    if a.assignee_user_id in users
                    else (a.assignee_label or "À préciser par l'équipe")
                ),
                when=a.due_on,
                status=label(ACTION_STATUS_LABELS, a.status),
                open=a.status in (ActionStatus.PLANNED, ActionStatus.IN_PROGRESS),
                overdue=(
                    a.status in (ActionStatus.PLANNED, ActionStatus.IN_PROGRESS)
                    and a.due_on is not None
                    and a.due_on < today
                ),
            )
            for a in objective.actions
            if a.status != ActionStatus.CANCELLED
        ]
        objectives.append(ObjectiveView(objective.title, actions))
    kinds = {a.kind for a, _ in plan_queries.approvals(version.id)}
    current = plan.current_version_id == version.id
    agreed = ApprovalKind.PATIENT_AGREEMENT in kinds
    asked = db.session.scalar(
        sa.select(sa.func.count()).where(
            PlanResponse.version_id == version.id, PlanResponse.kind == "change"
        )
    )
    lead = users.get(content.lead_user_id) if content.lead_user_id else None
    return PlanView(
        plan_id=plan.id,
        version_id=version.id,
        number=version.number,
        published_at=version.created_at,
        problems=[p.description for p in content.problems],
        expectations=content.expectations,
        objectives=objectives,
        next_review_on=version.next_review_on,
        review_overdue=version.next_review_on < today,
        in_force=current and plan.status == PlanStatus.ACTIVE,
        awaiting_agreement=current and not agreed and plan.status != PlanStatus.CLOSED,
        agreed=agreed,
        change_asked=bool(asked),
        lead_name=lead.full_name if lead else "",
    )


def earlier_versions(plan: CarePlan) -> list[VersionRow]:
    """Return the versions before the current one, newest first."""
    rows = db.session.scalars(
        sa.select(CarePlanVersion)
        .where(
            CarePlanVersion.plan_id == plan.id,
            CarePlanVersion.id != (plan.current_version_id or 0),
        )
        .order_by(CarePlanVersion.number.desc())
    )
    return [VersionRow(v.number, v.created_at, v.change_summary) for v in rows]


@dataclass(frozen=True)
class CirclePerson:
    """A professional of the circle."""

    name: str
    profession: str
    is_coordinator: bool
    #: The team (or "Invité pour ce patient") they are in the circle through.
    team: str = ""


def circle_people(patient: Patient) -> list[CirclePerson]:
    """Return the care circle: names and professions, coordinators first."""
    coordinators = set(list_coordinator_ids(patient))
    seen: set[int] = set()
    people = []
    for member in team_queries.circle(patient):
        if member.user_id in seen:
            continue
        seen.add(member.user_id)
        people.append(
            CirclePerson(
                member.name, member.profession, member.user_id in coordinators, member.basis
            )
        )
    return sorted(people, key=lambda p: (not p.is_coordinator, p.name))


@dataclass(frozen=True)
class DocumentRow:
    """A document the team filed to the person's DMP."""

    title: str
    filed_at: datetime


def filed_documents(patient_id: int) -> list[DocumentRow]:
    """Return the documents filed to the DMP (not those the person asked to hide from self)."""
    rows = filing_queries.list_patient_submissions(patient_id)
    return [
        DocumentRow(r.submission.title or "Document", r.submission.requested_at)
        for r in rows
        if r.submission.status == "filed"
        and r.submission.operation == "file"
        and r.submission.confidentiality == "normal"
    ]


@dataclass(frozen=True)
class ConsentView:
    """The sharing choice in force, said simply."""

    sharing_given: bool
    since: datetime | None
    dmp_opposition: bool


def consent_view(patient: Patient) -> ConsentView:
    """Return the current consent choices."""
    sharing = current_consent(patient.id, ConsentKind.SHARING)
    return ConsentView(
        sharing_given=patient.sharing_consent,
        since=sharing.recorded_at if sharing else None,
        dmp_opposition=patient.dmp_opposition,
    )


# --- professionals' side -------------------------------------------------------------------


@dataclass(frozen=True)
class AccountRow:
    """A patient-side account or a pending invitation, on the professionals' page."""

    id: int
    name: str
    email: str
    relationship: str
    rights: list[str]
    legal_basis: str
    last_login_at: datetime | None = None
    expires_at: datetime | None = None
    ended_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _rights(grant: PatientAccount | PatientInvitation) -> list[str]:
    return [label(RIGHT_LABELS, r) for r in sorted(grant.right_set)]


def list_accounts(patient_id: int) -> list[AccountRow]:
    """Return the person's patient-side accounts (live first)."""
    rows = db.session.scalars(
        sa.select(PatientAccount)
        .where(PatientAccount.patient_id == patient_id)
        .order_by(PatientAccount.ended_at.is_not(None), PatientAccount.id)
    )
    return [
        AccountRow(
            a.id,
            a.display_name,
            a.email,
            label(RELATIONSHIP_LABELS, a.relationship),
            _rights(a),
            a.legal_basis,
            last_login_at=a.last_login_at,
            ended_at=a.ended_at,
        )
        for a in rows
    ]


def list_pending_invitations(patient_id: int, now: datetime) -> list[AccountRow]:
    """Return the invitations not used, not revoked and not expired."""
    rows = db.session.scalars(
        sa.select(PatientInvitation)
        .where(
            PatientInvitation.patient_id == patient_id,
            PatientInvitation.used_at.is_(None),
            PatientInvitation.revoked_at.is_(None),
            PatientInvitation.expires_at > now,
        )
        .order_by(PatientInvitation.id)
    )
    return [
        AccountRow(
            i.id,
            i.display_name,
            i.email,
            label(RELATIONSHIP_LABELS, i.relationship),
            _rights(i),
            i.legal_basis,
            expires_at=i.expires_at,
        )
        for i in rows
    ]


# --- timeline: every patient-side act ------------------------------------------------------

_TIMELINE_TITLES = {
    "patient_space.invite": "Invitation à l'espace patient envoyée",
    "patient_space.revoke_invitation": "Invitation à l'espace patient annulée",
    "patient_space.accept": "Espace patient ouvert",
    "patient_space.sign_in": "Connexion à l'espace patient",
    "patient_space.sign_out": "Déconnexion de l'espace patient",
    "patient_space.end_access": "Accès à l'espace patient terminé",
    "patient_space.plan_agree": "Accord au plan donné en ligne",
    "patient_space.plan_change": "Demande de changement du plan, en ligne",
    "patient_space.consent_change": "Choix de partage changé en ligne",
    "patient_space.read": "Consultation de l'espace patient",
}


@register_provider
def patient_space_events(patient_id: int) -> list[TimelineEntry]:
    """Return one timeline entry per patient-side act (from the audit trail, one query)."""
    events = db.session.scalars(
        sa.select(AuditEvent)
        .where(
            AuditEvent.patient_id == patient_id,
            AuditEvent.outcome == Outcome.SUCCESS,
            AuditEvent.action.in_(list(_TIMELINE_TITLES)),
        )
        .order_by(AuditEvent.id)
    )
    return [
        TimelineEntry(
            at=e.occurred_at,
            kind="patient_space",
            title=_TIMELINE_TITLES[e.action],
            detail=e.reason if e.action.startswith("patient_space.plan") else "",
            actor=_actor(e.actor_label),
        )
        for e in events
    ]


def _actor(audit_label: str) -> str:
    # "espace patient #3 (caregiver) x@y" -> "Espace patient (aidant·e)"
    for key, text in RELATIONSHIP_LABELS.items():
        if f"({key.value})" in audit_label:
            return f"Espace patient : {text.lower()}"
    return "" if audit_label.startswith("espace patient") else ""
