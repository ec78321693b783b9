"""Demo meetings for `ptap demo`: two past meetings of the coordinator's team whose decisions
produced plan versions ("Décidé en concertation du …"), and an upcoming one with its agenda
drawn from the team's suggestions. Everything goes through the services, each step at its
own moment (clock.frozen); nothing is added when the team already has meetings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.audit.services import AuditContext
from ptap.care_plans.content import OPEN_STATUSES, load_content
from ptap.care_plans.models import CarePlan, CarePlanVersion, PlanStatus
from ptap.care_teams.access import active_team_ids, is_team_member
from ptap.care_teams.models import CareTeam, Enrolment, Patient
from ptap.core import clock
from ptap.core.policy import CLINICAL_ROLES
from ptap.extensions import db
from ptap.meetings import queries, services
from ptap.meetings.decisions import DecisionInput
from ptap.meetings.models import Meeting, MeetingAgendaItem
from ptap.meetings.present import team_members

AUDIT_LABEL = "ptap demo"
#: Days before today of the past meetings, and after today of the upcoming one.
PAST_DAYS = (56, 21)
UPCOMING_DAYS = 7
PATIENTS_PER_MEETING = 3


def _at(days: int) -> datetime:
    """Return 14:00 (Paris) `days` from today (negative: in the past)."""
    day = clock.paris_today() + timedelta(days=days)
    return datetime.combine(day, time(14, 0), tzinfo=clock.PARIS)


def load_meetings_demo(users: Mapping[str, User]) -> bool:
    """Add the demo meetings unless the coordinator's team has some; commits. True if added."""
    coordinator = users.get("coordination")
    if coordinator is None:
        return False
    team = db.session.scalar(
        sa.select(CareTeam)
        .where(CareTeam.id.in_(active_team_ids(coordinator.id, role="coordinator")))
        .order_by(CareTeam.id)
    )
    if team is None or db.session.scalar(sa.select(Meeting.id).where(Meeting.team_id == team.id)):
        return False
    members = [m for m in team_members(team.id) if m.id != coordinator.id]
    present = _quorum_people(coordinator, members)
    if len(present) < 3:
        return False
    ctx = AuditContext(actor_id=coordinator.id, actor_label=AUDIT_LABEL)
    secretary = present[1]
    used: set[int] = set()
    for days in PAST_DAYS:
        _past_meeting(team, coordinator, secretary, present, -days, used, ctx)
    _upcoming_meeting(team, coordinator, secretary, members, users, ctx)
    db.session.commit()
    return True


def _quorum_people(coordinator: User, members: Sequence[User]) -> list[User]:
    """The coordinator and members of different professions first (at least three people)."""
    chosen, professions = [coordinator], {coordinator.profession}
    for member in members:
        if member.profession not in professions and member.role in CLINICAL_ROLES:
            chosen.append(member)
            professions.add(member.profession)
    return chosen[:4]


def _data(title: str, starts: datetime, chair: User, secretary: User) -> services.MeetingData:
    return services.MeetingData(
        title=title,
        starts_at=starts,
        duration_minutes=90,
        place="Salle de réunion du DAC (démo)",
        video_url="https://visio.example.test/rcp-demo",
        chair_id=chair.id,
        secretary_id=secretary.id,
    )


def _decidable(team_id: int, before: datetime, used: set[int]) -> list[CarePlan]:
    """Plans of the team whose last version predates the meeting, draft unchanged since."""
    rows = db.session.scalars(
        sa.select(CarePlan)
        .join(Enrolment, Enrolment.id == CarePlan.enrolment_id)
        .join(Patient, Patient.id == CarePlan.patient_id)
        .where(
            Enrolment.team_id == team_id,
            Enrolment.ended_at.is_(None),
            Patient.sharing_consent.is_(True),
            CarePlan.status != PlanStatus.CLOSED,
            CarePlan.draft_updated_at < before,
            CarePlan.patient_id.not_in(used),
        )
        .order_by(CarePlan.id)
    ).all()
    plans = []
    for plan in rows:
        current: CarePlanVersion | None = plan.current_version
        if (
            current is None  # an unfinished draft: a meeting does not publish it
            or current.created_at >= before
            or load_content(plan.draft).digest() != current.content_hash
        ):
            continue
        plans.append(plan)
        if len(plans) == PATIENTS_PER_MEETING:
            break
    return plans


def _decisions(plan: CarePlan, day_after: datetime, assignee: User) -> list[DecisionInput]:
    """Decisions that fit the plan's lifecycle: follow-up only while in force (plus one
    revision request), new actions and a re-evaluation date otherwise."""
    content = load_content(plan.draft)
    open_actions = [a for _, a in content.actions() if a.status in OPEN_STATUSES]
    review = (day_after + timedelta(days=90)).date()
    if plan.status == PlanStatus.ACTIVE:
        decisions = [
            DecisionInput("update_action", {"action_key": a.key, "status": "in_progress"})
            for a in open_actions[:1]
        ]
        if decisions:
            return decisions
        return [
            DecisionInput(
                "request_revision",
                {"reason": "Situation qui évolue : les escaliers deviennent dangereux"},
            ),
            DecisionInput("set_review_date", {"next_review_on": review.isoformat()}),
        ]
    decisions = [
        DecisionInput("set_review_date", {"next_review_on": review.isoformat()}),
    ]
    if content.objectives:
        decisions.insert(
            0,
            DecisionInput(
                "add_action",
                {
                    "objective_key": content.objectives[0].key,
                    "what": "Point téléphonique avec l'aidant principal",
                    "action_type": "coordination",
                    "assignee_user_id": assignee.id,
                    "due_on": (day_after + timedelta(days=14)).date().isoformat(),
                },
            ),
        )
    return decisions


def _past_meeting(
    team: CareTeam,
    chair: User,
    secretary: User,
    present: Sequence[User],
    days: int,
    used: set[int],
    ctx: AuditContext,
) -> None:
    starts = _at(days)
    with clock.frozen(starts - timedelta(days=10)):
        meeting = services.schedule_meeting(
            chair,
            team,
            _data("Concertation pluriprofessionnelle mensuelle", starts, chair, secretary),
            ctx,
        )
        services.invite_members(chair, meeting, [p.id for p in present], ctx)
        plans = _decidable(team.id, starts, used)
        items = [
            services.add_agenda_item(
                chair,
                meeting,
                db.session.get_one(Patient, plan.patient_id),
                ctx,
                reason="review_due",
            )
            for plan in plans
        ]
    with clock.frozen(starts + timedelta(minutes=5)):
        for person in present:
            participant = queries.find_participant(meeting.id, person.id)
            if participant is not None:
                services.record_attendance(chair, meeting, participant, "present", ctx)
        services.start_meeting(chair, meeting, ctx)
    for n, (plan, item) in enumerate(zip(plans, items, strict=True), 1):
        with clock.frozen(starts + timedelta(minutes=10 + 15 * n)):
            services.set_current_item(chair, meeting, item, ctx)
            services.record_decisions(
                chair,
                item,
                "Situation revue en équipe : le maintien à domicile reste possible avec un "
                "renforcement des passages.",
                _decisions(plan, starts + timedelta(days=1), secretary),
                plan.current_version_id,
                ctx,
            )
        used.add(plan.patient_id)
    with clock.frozen(starts + timedelta(minutes=85)):
        services.close_meeting(chair, meeting, ctx)


def _upcoming_meeting(
    team: CareTeam,
    chair: User,
    secretary: User,
    members: Sequence[User],
    users: Mapping[str, User],
    ctx: AuditContext,
) -> None:
    starts = _at(UPCOMING_DAYS)
    meeting = services.schedule_meeting(
        chair,
        team,
        _data(
            "Concertation pluriprofessionnelle de la semaine prochaine", starts, chair, secretary
        ),
        ctx,
    )
    services.invite_members(chair, meeting, [m.id for m in members[:8]], ctx)
    items: list[MeetingAgendaItem] = []
    suggestions = queries.suggest_agenda(team, user=chair)
    # One patient of each reason first, so the agenda shows every kind of suggestion.
    firsts = list({s.reason: s for s in reversed(suggestions)}.values())
    rest = [s for s in suggestions if s not in firsts]
    for suggestion in [*firsts, *rest][:5]:
        patient = db.session.get_one(Patient, suggestion.patient_id)
        items.append(
            services.add_agenda_item(chair, meeting, patient, ctx, reason=suggestion.reason)
        )
    guest = next(
        (
            u
            for u in users.values()
            if u.role in CLINICAL_ROLES and u.active and not is_team_member(u.id, team.id)
        ),
        None,
    )
    if guest is not None and items:
        services.invite_guest(chair, meeting, guest, [items[0].patient_id], ctx)
