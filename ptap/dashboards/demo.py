"""A few demo facts so that the demo coordinator's dashboard has something of every kind.

Runs after the care-teams demo (and whatever other domains add): on the demo coordinator's
first team it gives a handful of patients without a plan a published PPCS with actions (some
overdue, re-evaluations soon or late), an unacknowledged urgent message, a failed and a blocked
DMP filing and an emergency access to review (requests and care-pathway breaks come with the
intake demo). Idempotent: a marker message says it ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext
from ptap.care_plans import services as plans
from ptap.care_plans.content import Action, Objective, PlanContent
from ptap.care_plans.dmp import request_version_filing
from ptap.care_plans.models import CarePlan
from ptap.care_teams import circle
from ptap.care_teams.access import active_team_ids
from ptap.care_teams.models import CareTeam, Enrolment, IdentityStatus, Patient, TeamMembership
from ptap.core import clock
from ptap.dmp_bridge import DmpSubmission, SubmissionStatus
from ptap.extensions import db
from ptap.messaging import services as messaging
from ptap.messaging.models import Message

MARKER = "demo-dashboard-urgent"
AUDIT_LABEL = "démonstration"


def _ctx(user: User) -> AuditContext:
    return AuditContext(actor_id=user.id, actor_label=AUDIT_LABEL)


def load_dashboard_demo(users: Mapping[str, User]) -> bool:
    """Add the dashboard's demo facts unless already there; commits. True if it added them."""
    coordinator = users.get("coordination")
    if coordinator is None or db.session.scalar(
        sa.select(Message.id).where(Message.client_id == MARKER)
    ):
        return False
    team = db.session.scalar(
        sa.select(CareTeam)
        .where(CareTeam.id.in_(active_team_ids(coordinator.id, role="coordinator")))
        .order_by(CareTeam.id)
    )
    if team is None:
        return False
    members = list(
        db.session.scalars(
            sa.select(User)
            .join(TeamMembership, TeamMembership.user_id == User.id)
            .where(TeamMembership.team_id == team.id, User.id != coordinator.id)
            .order_by(User.id)
        )
    )
    without_plan = list(
        db.session.scalars(
            sa.select(Patient)
            .join(Enrolment, Enrolment.patient_id == Patient.id)
            .where(
                Enrolment.team_id == team.id,
                Enrolment.ended_at.is_(None),
                Patient.sharing_consent.is_(True),
                Patient.identity_status == IdentityStatus.QUALIFIED,
                ~sa.exists().where(CarePlan.enrolment_id == Enrolment.id),
            )
            .order_by(Patient.id)
            .limit(8)
        )
    )
    if len(without_plan) < 8 or len(members) < 2:
        return False
    _plans(coordinator, team, members, without_plan)
    _messages_and_accesses(coordinator, team, members, without_plan)
    db.session.commit()
    return True


def _plans(coordinator: User, team: CareTeam, members: list[User], patients: list[Patient]) -> None:
    today = clock.paris_today()
    # (days to the first action's due date, days to the re-evaluation) per patient.
    shapes = [(-12, 5), (-4, 40), (-1, -3), (6, 10), (-20, 90), (15, 12), (30, 120), (-2, 60)]
    for n, (patient, (due, review)) in enumerate(zip(patients, shapes, strict=True)):
        enrolment = db.session.scalar(
            sa.select(Enrolment).where(
                Enrolment.patient_id == patient.id,
                Enrolment.team_id == team.id,
                Enrolment.ended_at.is_(None),
            )
        )
        if enrolment is None:
            continue
        plan = plans.create_plan(coordinator, enrolment, _ctx(coordinator))
        nurse, other = members[n % len(members)], members[(n + 1) % len(members)]
        content = PlanContent(
            lead_user_id=coordinator.id,
            objectives=[
                Objective(
                    title="Sécuriser le maintien à domicile",
                    actions=[
                        Action(
                            what="Passage infirmier pour le pilulier",
                            assignee_user_id=nurse.id,
                            due_on=today + timedelta(days=due),
                        ),
                        Action(
                            what="Point avec l'aidante sur les aides à domicile",
                            assignee_user_id=other.id,
                            due_on=today + timedelta(days=due + 21),
                        ),
                    ],
                )
            ],
            next_review_on=today + timedelta(days=review),
        )
        plans.save_draft(coordinator, plan, content, plan.draft_revision, _ctx(coordinator))
        version = plans.publish_version(coordinator, plan, "Première version", _ctx(coordinator))
        if n in (1, 4) and version is not None:
            request_version_filing(plan, version, coordinator)
    db.session.flush()
    rows = db.session.scalars(
        sa.select(DmpSubmission)
        .where(
            DmpSubmission.team_id == team.id,
            DmpSubmission.patient_id.in_([patients[1].id, patients[4].id]),
        )
        .order_by(DmpSubmission.id)
    ).all()
    reasons = [
        (SubmissionStatus.FAILED, "Le DMP a refusé le document : structure du CDA invalide."),
        (SubmissionStatus.BLOCKED, "L'identité de la personne n'est plus qualifiée."),
    ]
    for row, (status, reason) in zip(rows, reasons, strict=False):
        row.status, row.status_reason = status, reason


def _messages_and_accesses(
    coordinator: User, team: CareTeam, members: list[User], patients: list[Patient]
) -> None:
    nurse = members[0]
    conversation = messaging.get_or_create_patient_conversation(nurse, patients[2])
    draft = messaging.MessageDraft(
        MARKER,
        "Chute ce matin au domicile, pas de fracture apparente. Qui peut passer cet après-midi ?",
        priority="urgent",
    )
    messaging.send_message(nurse, conversation, draft, _ctx(nurse))
    outsider = db.session.scalar(
        sa.select(User)
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .where(
            TeamMembership.team_id != team.id,
            User.role == "professional",
            User.id.not_in([m.id for m in members]),
        )
        .order_by(User.id)
    )
    if outsider is not None:
        circle.open_break_glass(
            outsider,
            patients[5],
            "Appel du SAMU : personne inconsciente, besoin de connaître ses traitements.",
            _ctx(outsider),
        )
