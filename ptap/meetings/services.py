"""Meeting rules: scheduling, agenda, participants and guests, attendance, the meeting's
lifecycle, the quorum and the decisions that become the next version of a patient's plan.

A closed (or cancelled) meeting is read-only: every write here refuses it with a Conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.care_plans import services as plans
from ptap.care_plans.content import PlanContent, load_content
from ptap.care_plans.models import CarePlan, CarePlanVersion, PlanStatus
from ptap.care_teams import access
from ptap.care_teams.circle import invite_to_circle
from ptap.care_teams.models import CareTeam, CircleInvitation, Enrolment, Patient
from ptap.core import clock
from ptap.core.errors import Conflict, InvalidInput, NotFound, RuleDenied
from ptap.core.models import utcnow
from ptap.core.policy import can, is_clinician, require
from ptap.core.signals import (
    circle_changed,
    decisions_recorded,
    meeting_changed,
    send_after_commit,
)
from ptap.extensions import db
from ptap.meetings.decisions import (
    DECISIONS_NOT_ALLOWED,
    DecisionInput,
    apply_decisions,
    describe,
    parse_decisions,
    stored_payload,
    wants_revision,
)
from ptap.meetings.models import (
    AgendaReason,
    Attendance,
    ItemStatus,
    Meeting,
    MeetingAgendaItem,
    MeetingDecision,
    MeetingGuestPatient,
    MeetingParticipant,
    MeetingQuorum,
    MeetingStatus,
    ParticipantRole,
)
from ptap.meetings.queries import (
    QuorumCheck,
    check_quorum,
    find_item_for_patient,
    find_participant,
    guest_patient_ids,
)
from ptap.meetings.report_models import MeetingReport, ReportStatus

__all__ = [
    "DecisionInput",
    "MeetingData",
    "QuorumCheck",
    "add_agenda_item",
    "cancel_meeting",
    "check_quorum",
    "close_meeting",
    "invite_guest",
    "invite_members",
    "record_attendance",
    "record_decisions",
    "remove_agenda_item",
    "schedule_meeting",
    "set_current_item",
    "set_quorum",
    "start_meeting",
    "update_meeting",
]

MIN_DURATION, MAX_DURATION = 15, 8 * 60
PROVENANCE_KIND = "meeting"


@dataclass(frozen=True)
class MeetingData:
    """What a planner enters: `starts_at` is aware (entered in Paris time, any zone accepted)."""

    title: str
    starts_at: datetime
    duration_minutes: int
    place: str
    video_url: str
    chair_id: int
    secretary_id: int


def _audit(
    ctx: AuditContext,
    action: str,
    meeting: Meeting,
    patient_id: int | None = None,
    reason: str = "",
) -> None:
    record_event(
        ctx,
        action,
        object_type="meeting",
        object_id=meeting.id,
        patient_id=patient_id,
        reason=reason,
    )


def _changed(meeting: Meeting, what: str) -> None:
    meeting.updated_at = utcnow()
    send_after_commit(meeting_changed, "meetings", meeting_id=meeting.id, what=what)


def _require_open(meeting: Meeting) -> None:
    if meeting.status == MeetingStatus.CLOSED:
        raise Conflict(
            "Cette concertation est close : elle ne peut plus être modifiée.", field="status"
        )
    if meeting.status == MeetingStatus.CANCELLED:
        raise Conflict(
            "Cette concertation est annulée : elle ne peut plus être modifiée.", field="status"
        )


def _team_member(user_id: int, team_id: int, field: str) -> User:
    person = db.session.get(User, user_id)
    if (
        person is None
        or not person.active
        or not is_clinician(person)
        or not access.is_team_member(person.id, team_id)
    ):
        raise InvalidInput("Ce professionnel n'est pas membre de l'équipe.", field=field)
    return person


def _check_data(data: MeetingData, team_id: int) -> None:
    if not data.title.strip():
        raise InvalidInput("Donnez un titre à la concertation.", field="title")
    if data.starts_at.tzinfo is None:
        raise InvalidInput("Indiquez la date et l'heure de la concertation.", field="starts_at")
    if not MIN_DURATION <= data.duration_minutes <= MAX_DURATION:
        raise InvalidInput(
            f"La durée va de {MIN_DURATION} minutes à {MAX_DURATION // 60} heures.",
            field="duration_minutes",
        )
    if not data.place.strip() and not data.video_url.strip():
        raise InvalidInput("Indiquez un lieu ou un lien de visioconférence.", field="place")
    if data.video_url.strip() and not data.video_url.strip().startswith("https://"):
        raise InvalidInput(
            "Le lien de visioconférence doit commencer par https://.", field="video_url"
        )
    _team_member(data.chair_id, team_id, "chair_id")
    _team_member(data.secretary_id, team_id, "secretary_id")


def _add_participant(
    meeting: Meeting, person: User, role: str = ParticipantRole.MEMBER
) -> MeetingParticipant:
    existing = find_participant(meeting.id, person.id)
    if existing is not None:
        return existing
    participant = MeetingParticipant(
        meeting_id=meeting.id,
        user_id=person.id,
        role=role,
        profession=person.profession_label,
        profession_code=person.profession,
    )
    db.session.add(participant)
    db.session.flush()
    return participant


def schedule_meeting(user: User, team: CareTeam, data: MeetingData, ctx: AuditContext) -> Meeting:
    """Schedule a meeting of the team; its chair and secretary are invited."""
    require(user, "meeting.schedule", team)
    _check_data(data, team.id)
    if data.starts_at < clock.now() - timedelta(hours=1):
        raise InvalidInput("La concertation doit avoir lieu dans le futur.", field="starts_at")
    meeting = Meeting(
        team_id=team.id,
        title=data.title.strip(),
        starts_at=data.starts_at,
        duration_minutes=data.duration_minutes,
        place=data.place.strip(),
        video_url=data.video_url.strip(),
        chair_id=data.chair_id,
        secretary_id=data.secretary_id,
        created_by_id=user.id,
    )
    db.session.add(meeting)
    db.session.flush()
    for person_id in dict.fromkeys((data.chair_id, data.secretary_id)):
        _add_participant(meeting, db.session.get_one(User, person_id))
    _audit(ctx, "meeting.schedule", meeting)
    _changed(meeting, "schedule")
    return meeting


def meeting_end(meeting: Meeting) -> datetime:
    """Return when the meeting is planned to end."""
    return meeting.starts_at + timedelta(minutes=meeting.duration_minutes)


def guest_access_end(meeting: Meeting) -> datetime:
    """Return when a guest's circle invitation expires: the end of the meeting's day (Paris),
    and never before the meeting's planned end (a meeting running late keeps its guests)."""
    end = meeting_end(meeting)
    next_midnight = clock.paris_midnight(clock.paris_day(end) + timedelta(days=1))
    return max(end, next_midnight)


def update_meeting(user: User, meeting: Meeting, data: MeetingData, ctx: AuditContext) -> Meeting:
    """Change the meeting's details (planned meetings); a new date re-dates guests' access."""
    require(user, "meeting.manage", meeting)
    _require_open(meeting)
    _check_data(data, meeting.team_id)
    moved = (data.starts_at, data.duration_minutes) != (meeting.starts_at, meeting.duration_minutes)
    if moved and meeting.status != MeetingStatus.PLANNED:
        raise Conflict("La concertation a commencé : sa date ne change plus.", field="starts_at")
    if moved or data.place.strip() != meeting.place or data.video_url.strip() != meeting.video_url:
        meeting.ical_sequence += 1
    meeting.title = data.title.strip()
    meeting.starts_at = data.starts_at
    meeting.duration_minutes = data.duration_minutes
    meeting.place = data.place.strip()
    meeting.video_url = data.video_url.strip()
    meeting.chair_id = data.chair_id
    meeting.secretary_id = data.secretary_id
    for person_id in dict.fromkeys((data.chair_id, data.secretary_id)):
        _add_participant(meeting, db.session.get_one(User, person_id))
    if moved:
        _redate_guest_invitations(meeting)
    _audit(ctx, "meeting.update", meeting)
    _changed(meeting, "update")
    db.session.flush()
    return meeting


def _guest_invitations(meeting: Meeting, patient_id: int | None = None) -> list[CircleInvitation]:
    stmt = (
        sa.select(CircleInvitation)
        .join(MeetingGuestPatient, MeetingGuestPatient.invitation_id == CircleInvitation.id)
        .join(MeetingParticipant, MeetingParticipant.id == MeetingGuestPatient.participant_id)
        .where(MeetingParticipant.meeting_id == meeting.id)
    )
    if patient_id is not None:
        stmt = stmt.where(MeetingGuestPatient.patient_id == patient_id)
    return list(db.session.scalars(stmt))


def _end_guest_access(invitations: list[CircleInvitation]) -> None:
    """End the circle invitations made for this meeting's guests now; the circle changed
    (messaging cuts the guests' live sockets off those patients' conversations)."""
    now = utcnow()
    for invitation in invitations:
        if invitation.revoked_at is None:
            invitation.revoked_at = now
            send_after_commit(circle_changed, "meetings", patient_id=invitation.patient_id)


def _redate_guest_invitations(meeting: Meeting) -> None:
    # The invitations exist only for this meeting: they follow its date.
    for invitation in _guest_invitations(meeting):
        if invitation.revoked_at is None:
            invitation.expires_at = guest_access_end(meeting)


def cancel_meeting(user: User, meeting: Meeting, ctx: AuditContext) -> Meeting:
    """Cancel a planned meeting; the guests' circle invitations end now."""
    require(user, "meeting.manage", meeting)
    _require_open(meeting)
    if meeting.status != MeetingStatus.PLANNED:
        raise Conflict("Seule une concertation prévue peut être annulée.", field="status")
    meeting.status = MeetingStatus.CANCELLED
    meeting.ical_sequence += 1
    _end_guest_access(_guest_invitations(meeting))
    _audit(ctx, "meeting.cancel", meeting)
    _changed(meeting, "cancel")
    db.session.flush()
    return meeting


def _active_enrolment(patient_id: int, team_id: int) -> Enrolment | None:
    return db.session.scalar(
        sa.select(Enrolment).where(
            Enrolment.patient_id == patient_id,
            Enrolment.team_id == team_id,
            Enrolment.ended_at.is_(None),
        )
    )


def add_agenda_item(
    user: User,
    meeting: Meeting,
    patient: Patient,
    ctx: AuditContext,
    *,
    reason: str = AgendaReason.MANUAL,
) -> MeetingAgendaItem:
    """Put a patient followed by the team on the agenda (once), at the end."""
    require(user, "meeting.manage", meeting)
    _require_open(meeting)
    require(user, "patient.read", patient)
    if reason not in AgendaReason.__members__.values():
        raise InvalidInput("Motif d'inscription inconnu.", field="reason")
    if _active_enrolment(patient.id, meeting.team_id) is None:
        raise InvalidInput("Cette personne n'est pas suivie par l'équipe.", field="patient_id")
    if find_item_for_patient(meeting.id, patient.id) is not None:
        raise Conflict("Cette personne est déjà à l'ordre du jour.", field="patient_id")
    position = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(MeetingAgendaItem.position), 0)).where(
            MeetingAgendaItem.meeting_id == meeting.id
        )
    )
    item = MeetingAgendaItem(
        meeting_id=meeting.id,
        patient_id=patient.id,
        position=int(position or 0) + 1,
        reason=reason,
        added_by_id=user.id,
    )
    db.session.add(item)
    db.session.flush()
    _audit(ctx, "meeting.agenda_add", meeting, patient.id, reason)
    _changed(meeting, "agenda")
    return item


def remove_agenda_item(
    user: User, meeting: Meeting, item: MeetingAgendaItem, ctx: AuditContext
) -> None:
    """Take a patient off the agenda (not once decisions were recorded for them)."""
    require(user, "meeting.manage", meeting)
    _require_open(meeting)
    if item.meeting_id != meeting.id:
        raise NotFound("Ce point ne figure pas à l'ordre du jour de cette concertation.")
    if item.status == ItemStatus.DISCUSSED:
        raise Conflict(
            "Des décisions ont été enregistrées pour cette personne : "
            "elle reste à l'ordre du jour.",
            field="item_id",
        )
    if meeting.current_item_id == item.id:
        meeting.current_item_id = None
    # Guests invited for this patient only for this meeting lose that access now.
    _end_guest_access(_guest_invitations(meeting, item.patient_id))
    db.session.execute(
        sa.delete(MeetingGuestPatient).where(
            MeetingGuestPatient.patient_id == item.patient_id,
            MeetingGuestPatient.participant_id.in_(
                sa.select(MeetingParticipant.id).where(MeetingParticipant.meeting_id == meeting.id)
            ),
        )
    )
    _audit(ctx, "meeting.agenda_remove", meeting, item.patient_id)
    db.session.delete(item)
    _changed(meeting, "agenda")
    db.session.flush()


def invite_members(
    user: User, meeting: Meeting, user_ids: list[int], ctx: AuditContext
) -> list[MeetingParticipant]:
    """Invite team members (already invited ones are left as they are)."""
    require(user, "meeting.manage", meeting)
    _require_open(meeting)
    people = [_team_member(uid, meeting.team_id, "user_ids") for uid in dict.fromkeys(user_ids)]
    participants = [_add_participant(meeting, person) for person in people]
    _audit(ctx, "meeting.invite", meeting, reason=",".join(str(p.id) for p in people))
    _changed(meeting, "participants")
    return participants


def _access_lasts(guest: User, patient: Patient, until: datetime) -> bool:
    """Tell whether the guest's own access to the patient lasts until the meeting's access
    would end: as a member of a following team, or by an invitation expiring no sooner (one
    ending earlier - say last week's meeting's - is not reused)."""
    basis = access.access_basis(guest.id, patient)
    if basis == access.AccessBasis.MEMBER:
        return True
    if basis != access.AccessBasis.INVITED:
        return False
    lasting = db.session.scalar(
        sa.select(CircleInvitation.id)
        .where(
            CircleInvitation.user_id == guest.id,
            CircleInvitation.patient_id == patient.id,
            CircleInvitation.revoked_at.is_(None),
            CircleInvitation.expires_at >= until,
        )
        .limit(1)
    )
    return lasting is not None


def invite_guest(
    user: User, meeting: Meeting, guest: User, patient_ids: list[int], ctx: AuditContext
) -> MeetingParticipant:
    """Invite an outside professional for some agenda patients only: each gets a circle
    invitation (care_teams) expiring after the meeting; the guest sees no other patient."""
    require(user, "meeting.manage", meeting)
    _require_open(meeting)
    if not guest.active or not is_clinician(guest):
        raise InvalidInput("Seul un professionnel actif peut être invité.", field="user_id")
    if access.is_team_member(guest.id, meeting.team_id):
        raise InvalidInput(
            "Ce professionnel est membre de l'équipe : invitez-le comme membre.", field="user_id"
        )
    if not patient_ids:
        raise InvalidInput(
            "Choisissez les personnes pour lesquelles il est invité.", field="patient_ids"
        )
    existing = find_participant(meeting.id, guest.id)
    if existing is not None and existing.role != ParticipantRole.GUEST:
        raise InvalidInput("Ce professionnel participe déjà comme membre.", field="user_id")
    participant = existing or _add_participant(meeting, guest, ParticipantRole.GUEST)
    already = guest_patient_ids(participant.id)
    expires_at = guest_access_end(meeting)
    label = f"Concertation du {clock.paris_day(meeting.starts_at):%d/%m/%Y}"
    for patient_id in dict.fromkeys(patient_ids):
        if patient_id in already:
            continue
        if find_item_for_patient(meeting.id, patient_id) is None:
            raise InvalidInput(
                "Cette personne n'est pas à l'ordre du jour de la concertation.",
                field="patient_ids",
            )
        patient = db.session.get_one(Patient, patient_id)
        invitation = None
        if not _access_lasts(guest, patient, expires_at):
            invitation = invite_to_circle(user, patient, guest, expires_at, label, ctx, extend=True)
        db.session.add(
            MeetingGuestPatient(
                participant_id=participant.id,
                patient_id=patient_id,
                invitation_id=invitation.id if invitation else None,
            )
        )
        if invitation is not None and participant.invitation_id is None:
            participant.invitation_id = invitation.id
    db.session.flush()
    _audit(ctx, "meeting.invite_guest", meeting, reason=f"user {guest.id}")
    _changed(meeting, "participants")
    return participant


def record_attendance(
    user: User,
    meeting: Meeting,
    participant: MeetingParticipant,
    attendance: str,
    ctx: AuditContext,
) -> MeetingParticipant:
    """Mark a participant present, excused or absent (or invited again)."""
    require(user, "meeting.manage", meeting)
    _require_open(meeting)
    if participant.meeting_id != meeting.id:
        raise NotFound("Participant introuvable.")
    if attendance not in Attendance.__members__.values():
        raise InvalidInput("Présence inconnue.", field="attendance")
    if participant.attendance != attendance:
        participant.attendance = attendance
        _audit(ctx, "meeting.attendance", meeting, reason=f"{participant.user_id}: {attendance}")
        _changed(meeting, "attendance")
    db.session.flush()
    return participant


def start_meeting(user: User, meeting: Meeting, ctx: AuditContext) -> Meeting:
    """Open the session of a planned meeting (decisions may then be recorded)."""
    require(user, "meeting.manage", meeting)
    _require_open(meeting)
    if meeting.status != MeetingStatus.PLANNED:
        raise Conflict("La concertation est déjà ouverte.", field="status")
    meeting.status = MeetingStatus.IN_PROGRESS
    meeting.ical_sequence += 1
    _audit(ctx, "meeting.start", meeting)
    _changed(meeting, "start")
    db.session.flush()
    return meeting


def set_current_item(
    user: User, meeting: Meeting, item: MeetingAgendaItem | None, ctx: AuditContext
) -> Meeting:
    """Name the patient being discussed (None: between two patients)."""
    require(user, "meeting.manage", meeting)
    _require_open(meeting)
    if meeting.status != MeetingStatus.IN_PROGRESS:
        raise Conflict("Ouvrez d'abord la séance.", field="status")
    if item is not None and item.meeting_id != meeting.id:
        raise NotFound("Ce point ne figure pas à l'ordre du jour de cette concertation.")
    meeting.current_item_id = item.id if item else None
    _changed(meeting, "current_item")
    db.session.flush()
    return meeting


def close_meeting(user: User, meeting: Meeting, ctx: AuditContext) -> Meeting:
    """Close a running meeting: from now on it is read-only."""
    require(user, "meeting.manage", meeting)
    _require_open(meeting)
    if meeting.status != MeetingStatus.IN_PROGRESS:
        raise Conflict("Seule une concertation en cours peut être close.", field="status")
    meeting.status = MeetingStatus.CLOSED
    meeting.closed_at = utcnow()
    meeting.current_item_id = None
    meeting.ical_sequence += 1
    _audit(ctx, "meeting.close", meeting)
    _changed(meeting, "close")
    db.session.flush()
    return meeting


def set_quorum(
    user: User, team: CareTeam, min_present: int, min_professions: int, ctx: AuditContext
) -> MeetingQuorum:
    """Set the team's quorum (its coordinators)."""
    require(user, "meeting.quorum", team)
    if not 1 <= min_present <= 50:
        raise InvalidInput("Le nombre de présents requis va de 1 à 50.", field="min_present")
    if not 1 <= min_professions <= min_present:
        raise InvalidInput(
            "Le nombre de professions requises va de 1 au nombre de présents requis.",
            field="min_professions",
        )
    row = db.session.scalar(sa.select(MeetingQuorum).where(MeetingQuorum.team_id == team.id))
    if row is None:
        row = MeetingQuorum(team_id=team.id)
        db.session.add(row)
    row.min_present = min_present
    row.min_professions = min_professions
    row.updated_by_id = user.id
    row.updated_at = utcnow()
    db.session.flush()
    record_event(
        ctx,
        "meeting.quorum",
        object_type="care_team",
        object_id=team.id,
        reason=f"{min_present} present, {min_professions} professions",
    )
    return row


# --- Decisions into the plan ------------------------------------------------------------------


def may_record_decisions(user: User, meeting: Meeting, item: MeetingAgendaItem) -> bool:
    """Tell whether the user may record this item's decisions: they run the meeting AND the
    care-plans rules let them publish the patient's plan (or open it, when there is none)."""
    if not can(user, "meeting.manage", meeting):
        return False
    enrolment = _active_enrolment(item.patient_id, meeting.team_id)
    if enrolment is None:
        return True  # refused later with its own reason (no longer followed)
    plan = db.session.scalar(sa.select(CarePlan).where(CarePlan.enrolment_id == enrolment.id))
    if plan is None:
        return can(user, "patient.manage", db.session.get(Patient, item.patient_id))
    return can(user, "care_plan.publish", plan)


def _plan_for(user: User, patient_id: int, team_id: int, ctx: AuditContext) -> CarePlan:
    """Return the plan of the patient's enrolment in the team (opened now if it has none)."""
    enrolment = _active_enrolment(patient_id, team_id)
    if enrolment is None:
        raise InvalidInput("Cette personne n'est plus suivie par l'équipe.", field="patient_id")
    plan = db.session.scalar(sa.select(CarePlan).where(CarePlan.enrolment_id == enrolment.id))
    if plan is None:
        plan = plans.create_plan(user, enrolment, ctx)
    if plan.status == PlanStatus.CLOSED:
        raise Conflict("Le plan de cette personne est clos.", field="patient_id")
    return plan


_UNPUBLISHED_DRAFT = (
    "Le brouillon du plan contient des modifications non publiées : publiez-les ou "
    "annulez-les avant d'enregistrer les décisions de la concertation."
)


def _report_approved(item_id: int) -> bool:
    """Tell whether the item's report was approved (decisions would never reach it)."""
    return bool(
        db.session.scalar(
            sa.select(MeetingReport.id)
            .where(
                MeetingReport.item_id == item_id,
                MeetingReport.status.in_([ReportStatus.APPROVED, ReportStatus.REPLACED]),
            )
            .limit(1)
        )
    )


def _base_content(plan: CarePlan, base_version_id: int | None) -> PlanContent:
    """Return the content the decisions start from; refuse a stale base or a pending draft."""
    current: CarePlanVersion | None = plan.current_version
    if (current.id if current else None) != base_version_id:
        by = db.session.get(User, current.created_by_id) if current else None
        raise Conflict(
            f"Le plan a changé depuis l'ouverture de ce dossier (version {current.number} "
            f"publiée par {by.full_name if by else 'un autre professionnel'}). "
            "Rechargez le plan : vos décisions ne sont pas enregistrées."
            if current
            else "Le plan a changé depuis l'ouverture de ce dossier : rechargez-le.",
            field="base_version_id",
        )
    draft = load_content(plan.draft)
    if current is None:
        # Never published: a colleague's unfinished draft must not be published by a meeting.
        if draft.model_copy(update={"lead_user_id": None}).digest() != PlanContent().digest():
            raise Conflict(_UNPUBLISHED_DRAFT, field="base_version_id")
        return draft
    if draft.digest() != current.content_hash:
        raise Conflict(_UNPUBLISHED_DRAFT, field="base_version_id")
    return load_content(current.content)


def record_decisions(
    user: User,
    item: MeetingAgendaItem,
    summary: str,
    decisions: list[DecisionInput],
    base_version_id: int | None,
    ctx: AuditContext,
) -> CarePlanVersion | None:
    """Record the discussion of one agenda patient and its decisions, which become the next
    version of the patient's plan through the care-plans services (same rules, conflict
    detection), with the meeting and item as provenance. None when the plan did not change.

    The quorum is checked first; the caller rolls back on any error (nothing half-stored).
    """
    meeting = db.session.get_one(Meeting, item.meeting_id)
    require(user, "meeting.manage", meeting)
    _require_open(meeting)
    if meeting.status != MeetingStatus.IN_PROGRESS:
        raise Conflict("Ouvrez la séance avant d'enregistrer des décisions.", field="status")
    if not may_record_decisions(user, meeting, item):
        raise RuleDenied(DECISIONS_NOT_ALLOWED)
    quorum = check_quorum(meeting)
    if not quorum.ok:
        raise InvalidInput(quorum.message(), field="quorum")
    if _report_approved(item.id):
        raise Conflict(
            "Le compte rendu de cette personne est déjà approuvé : une nouvelle décision n'y "
            "figurerait pas. Rédigez une correction du compte rendu.",
            field="item_id",
        )
    day = clock.paris_day(meeting.starts_at)
    payloads = parse_decisions(decisions, day)
    version: CarePlanVersion | None = None
    stored: list[dict[str, Any]] = []
    if payloads:
        version, stored = _decide(user, meeting, item, payloads, decisions, base_version_id, ctx)
    position = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(MeetingDecision.position), 0)).where(
            MeetingDecision.item_id == item.id
        )
    )
    for offset, (decision, payload) in enumerate(zip(decisions, stored, strict=True), 1):
        db.session.add(
            MeetingDecision(
                item_id=item.id,
                position=int(position or 0) + offset,
                kind=decision.kind,
                payload=payload,
                plan_version_id=version.id if version else None,
                recorded_by_id=user.id,
            )
        )
    item.summary = summary.strip()
    item.status = ItemStatus.DISCUSSED
    item.decided_at = utcnow()
    item.decided_by_id = user.id
    if version is not None:
        item.plan_version_id = version.id
    try:
        db.session.flush()
    except IntegrityError as exc:  # another request numbered its decisions at the same time
        raise Conflict(
            "D'autres décisions ont été enregistrées en même temps pour cette personne : "
            "rechargez la page, les vôtres ne sont pas enregistrées.",
            field="decisions",
        ) from exc
    _audit(
        ctx,
        "meeting.decide",
        meeting,
        item.patient_id,
        f"item {item.id}: {len(payloads)} decisions"
        + (f", version {version.number}" if version else ""),
    )
    _changed(meeting, "decisions")
    send_after_commit(
        decisions_recorded,
        "meetings",
        meeting_id=meeting.id,
        item_id=item.id,
        patient_id=item.patient_id,
        plan_version_id=version.id if version else None,
    )
    return version


def provenance_label(meeting: Meeting) -> str:
    """Return what plan history shows for versions decided in this meeting."""
    return f"Décidé en concertation du {clock.paris_day(meeting.starts_at):%d/%m/%Y}"


def _decide(
    user: User,
    meeting: Meeting,
    item: MeetingAgendaItem,
    payloads: list[Any],
    decisions: list[DecisionInput],
    base_version_id: int | None,
    ctx: AuditContext,
) -> tuple[CarePlanVersion | None, list[dict[str, Any]]]:
    """Apply the decisions to the plan through the care-plans services; return the version and
    the payloads to store (with the texts they refer to)."""
    plan = _plan_for(user, item.patient_id, meeting.team_id, ctx)
    # Lock the plan before comparing the base: a decision recorded meanwhile is then seen.
    db.session.refresh(plan, with_for_update=True)
    content = apply_decisions(_base_content(plan, base_version_id), payloads)
    # A decision about an objective added in the same batch reads it from the new content.
    stored = [stored_payload(content, p) for p in payloads]
    if wants_revision(payloads) and plan.status == PlanStatus.ACTIVE:
        plans.start_revision(user, plan, ctx)
    plans.save_draft(user, plan, content, plan.draft_revision, ctx)
    # The provenance says where it comes from; the summary says what changed.
    summary = " ; ".join(describe(d.kind, p) for d, p in zip(decisions, stored, strict=True))
    label = provenance_label(meeting)
    try:
        version = plans.publish_version(
            user,
            plan,
            summary[:2000],
            ctx,
            provenance=plans.VersionProvenance(
                kind=PROVENANCE_KIND, ref=f"meeting:{meeting.id}/item:{item.id}", label=label
            ),
        )
    except InvalidInput as exc:
        if exc.field == "next_review_on":
            raise InvalidInput(
                "Le plan n'a pas de date de prochaine réévaluation : ajoutez la décision "
                "« Prochaine réévaluation ».",
                field="decisions",
            ) from exc
        raise
    except Conflict as exc:
        if exc.field == "status" and plan.status == PlanStatus.ACTIVE:
            raise Conflict(
                "Le plan est en vigueur : ces décisions le modifient au-delà du suivi des "
                "actions. Ajoutez la décision « Révision du plan demandée ».",
                field="decisions",
            ) from exc
        raise
    return version, stored
