"""Meeting reads: a team's and a patient's meetings, the agenda a viewer may see, the quorum
check and the agenda suggestions computed from the team's data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_plans.content import OPEN_STATUSES
from ptap.care_plans.models import CarePlan, CarePlanTask, PlanStatus
from ptap.care_teams import access
from ptap.care_teams.models import CareTeam, Enrolment, Patient
from ptap.core import clock
from ptap.core.errors import NotFound
from ptap.core.patient_flags import URGENT_UNACKNOWLEDGED, flagged_patients
from ptap.core.policy import can, is_clinician
from ptap.extensions import db
from ptap.meetings.models import (
    AGENDA_REASON_LABELS,
    DEFAULT_MIN_PRESENT,
    DEFAULT_MIN_PROFESSIONS,
    AgendaReason,
    Attendance,
    Meeting,
    MeetingAgendaItem,
    MeetingDecision,
    MeetingGuestPatient,
    MeetingParticipant,
    MeetingQuorum,
    MeetingStatus,
    ParticipantRole,
)
from ptap.meetings.permissions import participating_meeting_ids

#: Plans whose re-evaluation falls within this many days are suggested.
REVIEW_HORIZON_DAYS = 30


@dataclass(frozen=True)
class QuorumRule:
    """A team's quorum: at least `min_present` present, of `min_professions` professions."""

    min_present: int = DEFAULT_MIN_PRESENT
    min_professions: int = DEFAULT_MIN_PROFESSIONS


@dataclass(frozen=True)
class QuorumCheck:
    """Whether the meeting has its quorum now, and what is missing (French sentences)."""

    ok: bool
    present: int
    professions: int
    rule: QuorumRule
    missing: list[str] = field(default_factory=list)

    def message(self) -> str:
        """Return the French sentence a refused decision shows."""
        return "Quorum non atteint : " + " ; ".join(self.missing) + "."


@dataclass(frozen=True)
class AgendaSuggestion:
    """A patient the team's data suggests for the agenda, and why (first reason wins)."""

    patient_id: int
    reason: str
    reason_label: str
    detail: str = ""


def get_quorum(team_id: int) -> QuorumRule:
    """Return the team's quorum (the defaults when its coordinators set none)."""
    row = db.session.scalar(sa.select(MeetingQuorum).where(MeetingQuorum.team_id == team_id))
    if row is None:
        return QuorumRule()
    return QuorumRule(row.min_present, row.min_professions)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n <= 1 else many}"


def check_quorum(meeting: Meeting) -> QuorumCheck:
    """Count the participants marked present and their distinct professions against the
    team's quorum; say in French what is missing."""
    rule = get_quorum(meeting.team_id)
    rows = db.session.execute(
        sa.select(MeetingParticipant.user_id, MeetingParticipant.profession_code).where(
            MeetingParticipant.meeting_id == meeting.id,
            MeetingParticipant.attendance == Attendance.PRESENT,
        )
    ).all()
    present = len(rows)
    professions = len({code for _, code in rows if code})
    missing = []
    if present < rule.min_present:
        missing.append(
            f"{_plural(present, 'professionnel présent', 'professionnels présents')} "
            f"sur {rule.min_present} requis (il en manque {rule.min_present - present})"
        )
    if professions < rule.min_professions:
        missing.append(
            f"{_plural(professions, 'profession représentée', 'professions représentées')} "
            f"sur {rule.min_professions} requises (il en manque "
            f"{rule.min_professions - professions})"
        )
    return QuorumCheck(not missing, present, professions, rule, missing)


def get_meeting(meeting_id: int) -> Meeting:
    """Return the meeting or raise NotFound."""
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound("Concertation introuvable.")
    return meeting


def get_meeting_for(user: User, meeting_id: int) -> Meeting:
    """Return the meeting if the user may see it; NotFound otherwise (existence not revealed)."""
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None or not can(user, "meeting.read", meeting):
        raise NotFound("Concertation introuvable.")
    return meeting


def get_item(meeting: Meeting, item_id: int) -> MeetingAgendaItem:
    """Return an agenda item of this meeting, or raise NotFound."""
    item = db.session.get(MeetingAgendaItem, item_id)
    if item is None or item.meeting_id != meeting.id:
        raise NotFound("Ce point ne figure pas à l'ordre du jour de cette concertation.")
    return item


def find_item_for_patient(meeting_id: int, patient_id: int) -> MeetingAgendaItem | None:
    """Return the agenda item of this patient in the meeting, or None."""
    return db.session.scalar(
        sa.select(MeetingAgendaItem).where(
            MeetingAgendaItem.meeting_id == meeting_id, MeetingAgendaItem.patient_id == patient_id
        )
    )


def list_items(meeting_id: int) -> list[MeetingAgendaItem]:
    """Return the whole agenda in order (for services and jobs, not for display)."""
    return list(
        db.session.scalars(
            sa.select(MeetingAgendaItem)
            .where(MeetingAgendaItem.meeting_id == meeting_id)
            .order_by(MeetingAgendaItem.position, MeetingAgendaItem.id)
        )
    )


def find_participant(meeting_id: int, user_id: int) -> MeetingParticipant | None:
    """Return the user's participation in the meeting, or None."""
    return db.session.scalar(
        sa.select(MeetingParticipant).where(
            MeetingParticipant.meeting_id == meeting_id, MeetingParticipant.user_id == user_id
        )
    )


def list_participants(meeting_id: int) -> list[MeetingParticipant]:
    """Return the participants: members first, then guests, in invitation order."""
    return list(
        db.session.scalars(
            sa.select(MeetingParticipant)
            .where(MeetingParticipant.meeting_id == meeting_id)
            .order_by(MeetingParticipant.role.desc(), MeetingParticipant.id)
        )
    )


def guest_patient_ids(participant_id: int) -> set[int]:
    """Return the patients a guest is invited for."""
    return set(
        db.session.scalars(
            sa.select(MeetingGuestPatient.patient_id).where(
                MeetingGuestPatient.participant_id == participant_id
            )
        )
    )


def visible_agenda(user: User, meeting: Meeting) -> list[MeetingAgendaItem]:
    """Return the agenda items whose patient the user may see now (need-to-know); a guest sees
    only the patients they are invited for, even those whose circle they belong to otherwise."""
    stmt = (
        sa.select(MeetingAgendaItem)
        .where(
            MeetingAgendaItem.meeting_id == meeting.id,
            MeetingAgendaItem.patient_id.in_(access.visible_patient_ids(user.id, circle_only=True)),
        )
        .order_by(MeetingAgendaItem.position, MeetingAgendaItem.id)
    )
    participant = find_participant(meeting.id, user.id)
    if participant is not None and participant.role == ParticipantRole.GUEST:
        stmt = stmt.where(
            MeetingAgendaItem.patient_id.in_(
                sa.select(MeetingGuestPatient.patient_id).where(
                    MeetingGuestPatient.participant_id == participant.id
                )
            )
        )
    return list(db.session.scalars(stmt))


def count_items(meeting_id: int) -> int:
    """Return how many patients are on the agenda (seen or not by the viewer)."""
    total = db.session.scalar(
        sa.select(sa.func.count(MeetingAgendaItem.id)).where(
            MeetingAgendaItem.meeting_id == meeting_id
        )
    )
    return int(total or 0)


def hidden_agenda_count(user: User, meeting: Meeting, shown: int | None = None) -> int:
    """Return how many agenda patients the user may not see (shown as a number only), for the
    team's members only: a guest does not even learn the agenda's size (0).

    `shown` is how many agenda items the viewer sees, when the caller already loaded them."""
    if not access.is_team_member(user.id, meeting.team_id):
        return 0
    if shown is None:
        shown = len(visible_agenda(user, meeting))
    return count_items(meeting.id) - shown


def meetings_query(user_id: int, team_id: int | None = None) -> sa.Select[Any]:
    """Select the meetings of the user's teams and those the user is invited to."""
    invited = participating_meeting_ids(user_id)
    stmt = sa.select(Meeting).where(
        sa.or_(Meeting.team_id.in_(access.active_team_ids(user_id)), Meeting.id.in_(invited))
    )
    if team_id is not None:
        stmt = stmt.where(Meeting.team_id == team_id)
    return stmt


def decisions_of(item_ids: Sequence[int]) -> dict[int, list[MeetingDecision]]:
    """Return the recorded decisions of these items, in order, by item (one query)."""
    by_item: dict[int, list[MeetingDecision]] = {i: [] for i in item_ids}
    if not item_ids:
        return by_item
    for decision in db.session.scalars(
        sa.select(MeetingDecision)
        .where(MeetingDecision.item_id.in_(list(item_ids)))
        .order_by(MeetingDecision.item_id, MeetingDecision.position)
    ):
        by_item[decision.item_id].append(decision)
    return by_item


def meetings_for_team(
    team_id: int, *, upcoming: bool | None = None, now: datetime | None = None, limit: int = 100
) -> list[Meeting]:
    """Return the team's meetings: upcoming ones soonest first, past ones latest first, or all
    (latest first) when `upcoming` is None."""
    now = now or clock.now()
    stmt = sa.select(Meeting).where(Meeting.team_id == team_id)
    if upcoming is True:
        stmt = stmt.where(
            Meeting.status.in_([MeetingStatus.PLANNED, MeetingStatus.IN_PROGRESS])
        ).order_by(Meeting.starts_at)
    elif upcoming is False:
        stmt = stmt.where(
            sa.or_(
                Meeting.status.in_([MeetingStatus.CLOSED, MeetingStatus.CANCELLED]),
                Meeting.starts_at < now - timedelta(days=1),
            )
        ).order_by(Meeting.starts_at.desc())
    else:
        stmt = stmt.order_by(Meeting.starts_at.desc())
    return list(db.session.scalars(stmt.limit(limit)))


def meetings_for_patient(patient_id: int, viewer: User) -> list[tuple[Meeting, MeetingAgendaItem]]:
    """Return the meetings where the patient was on the agenda that the viewer may read
    (meeting.read: their teams' meetings and those they take part in), latest first, with
    the item. Reading the patient does not open other teams' meetings about them, and a
    guest of a meeting sees its item only if invited for this patient (as visible_agenda)."""
    if not is_clinician(viewer):
        return []
    guest_not_invited = sa.exists().where(
        MeetingParticipant.meeting_id == Meeting.id,
        MeetingParticipant.user_id == viewer.id,
        MeetingParticipant.role == ParticipantRole.GUEST,
        ~sa.exists().where(
            MeetingGuestPatient.participant_id == MeetingParticipant.id,
            MeetingGuestPatient.patient_id == patient_id,
        ),
    )
    rows = db.session.execute(
        sa.select(Meeting, MeetingAgendaItem)
        .join(MeetingAgendaItem, MeetingAgendaItem.meeting_id == Meeting.id)
        .where(
            MeetingAgendaItem.patient_id == patient_id,
            Meeting.status != MeetingStatus.CANCELLED,
            sa.or_(
                Meeting.team_id.in_(access.active_team_ids(viewer.id)),
                Meeting.id.in_(participating_meeting_ids(viewer.id)),
            ),
            ~guest_not_invited,
        )
        .order_by(Meeting.starts_at.desc())
    ).all()
    return [(m, i) for m, i in rows]


def user_team_ids(user_id: int) -> list[int]:
    """Return the teams the user belongs to today."""
    return list(db.session.scalars(access.active_team_ids(user_id)))


def list_teams(team_ids: Sequence[int]) -> list[CareTeam]:
    """Return these teams by name."""
    if not team_ids:
        return []
    return list(
        db.session.scalars(
            sa.select(CareTeam).where(CareTeam.id.in_(list(team_ids))).order_by(CareTeam.name)
        )
    )


def upcoming_for_user(user_id: int, now: datetime | None = None) -> list[Meeting]:
    """Return the planned or running meetings of the user's teams or where they are invited."""
    now = now or clock.now()
    invited = participating_meeting_ids(user_id)
    return list(
        db.session.scalars(
            sa.select(Meeting)
            .where(
                sa.or_(
                    Meeting.team_id.in_(access.active_team_ids(user_id)), Meeting.id.in_(invited)
                ),
                Meeting.status.in_([MeetingStatus.PLANNED, MeetingStatus.IN_PROGRESS]),
            )
            .order_by(Meeting.starts_at)
        )
    )


def suggest_agenda(
    team: CareTeam, now: datetime | None = None, *, user: User | None = None
) -> list[AgendaSuggestion]:
    """Suggest the team's patients to discuss, most pressing first (a fixed number of queries):
    unacknowledged urgent messages, overdue actions, plans due for re-evaluation within 30 days
    or late (soonest first), new enrolments without a plan. A patient comes once, under the
    most pressing reason. With `user`, only the patients the user may see."""
    today = clock.paris_day(now or clock.now())
    enrolled = sa.select(Enrolment.patient_id).where(
        Enrolment.team_id == team.id, Enrolment.ended_at.is_(None)
    )
    if user is not None:
        enrolled = enrolled.where(
            Enrolment.patient_id.in_(access.visible_patient_ids(user.id, circle_only=True))
        )
    enrolled = enrolled.join(Patient, Patient.id == Enrolment.patient_id).where(
        Patient.merged_into_id.is_(None)
    )
    patient_ids = set(db.session.scalars(enrolled))
    if not patient_ids:
        return []
    found: dict[int, AgendaSuggestion] = {}

    def add(pid: int, reason: AgendaReason, detail: str) -> None:
        found.setdefault(pid, AgendaSuggestion(pid, reason, AGENDA_REASON_LABELS[reason], detail))

    for pid in sorted(flagged_patients(URGENT_UNACKNOWLEDGED, patient_ids)):
        add(pid, AgendaReason.URGENT_MESSAGES, "Accusé de réception attendu")
    for pid, n in db.session.execute(
        sa.select(CarePlanTask.patient_id, sa.func.count(CarePlanTask.id))
        .where(
            CarePlanTask.patient_id.in_(patient_ids),
            CarePlanTask.due_on < today,
            CarePlanTask.status.in_([str(s) for s in OPEN_STATUSES]),
        )
        .group_by(CarePlanTask.patient_id)
    ):
        add(
            pid,
            AgendaReason.OVERDUE_ACTIONS,
            _plural(int(n), "action en retard", "actions en retard"),
        )
    horizon = today + timedelta(days=REVIEW_HORIZON_DAYS)
    for pid, review in db.session.execute(
        sa.select(CarePlan.patient_id, CarePlan.next_review_on)
        .join(Enrolment, Enrolment.id == CarePlan.enrolment_id)
        .where(
            Enrolment.team_id == team.id,
            CarePlan.patient_id.in_(patient_ids),
            CarePlan.status != PlanStatus.CLOSED,
            CarePlan.next_review_on <= horizon,
        )
        .order_by(CarePlan.next_review_on)
    ):
        late = " (dépassée)" if review is not None and review < today else ""
        add(pid, AgendaReason.REVIEW_DUE, f"Réévaluation prévue le {review:%d/%m/%Y}{late}")
    with_plan = sa.select(CarePlan.enrolment_id)
    for pid, requested in db.session.execute(
        sa.select(Enrolment.patient_id, Enrolment.requested_on).where(
            Enrolment.team_id == team.id,
            Enrolment.ended_at.is_(None),
            Enrolment.patient_id.in_(patient_ids),
            Enrolment.id.not_in(with_plan),
        )
    ):
        add(pid, AgendaReason.NO_PLAN, f"Demande du {requested:%d/%m/%Y}, pas encore de plan")
    return list(found.values())
