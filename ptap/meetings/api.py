"""JSON API of meetings: schedule, agenda (with suggestions), participants and guests,
attendance, the session's lifecycle, decisions into the plan, quorum, a patient's meetings.

Routes declare `meetings.list` (clinicians); a meeting is loaded through `meeting.read`
(another team's meeting answers 404, like a missing one); the services check the rest.
Agenda items show patients: only those the caller may see, audited.
"""

from __future__ import annotations

from flask import Response, request
from flask_login import current_user

from ptap.accounts.models import User
from ptap.audit.context import note_patients_shown, request_context, shows_patients
from ptap.care_plans.models import CarePlanVersion
from ptap.care_teams.loaders import load_patient
from ptap.care_teams.models import CareTeam, Patient
from ptap.core.api import api_route, paginate_by_id
from ptap.core.errors import InvalidInput, NotFound
from ptap.core.policy import can, require
from ptap.extensions import db
from ptap.meetings import present, queries, services
from ptap.meetings.models import Meeting, MeetingParticipant
from ptap.meetings.schemas import (
    AgendaAdd,
    AgendaItemOut,
    AttendanceIn,
    DecisionsIn,
    DecisionsOut,
    GuestIn,
    MeetingCreate,
    MeetingFields,
    MeetingOut,
    MeetingSummaryOut,
    MembersIn,
    ParticipantList,
    ParticipantOut,
    PatientMeetingList,
    PatientMeetingOut,
    QuorumIn,
    QuorumRuleOut,
    SuggestionList,
)

TAGS = ("Concertations",)


def _load(meeting_id: int) -> Meeting:
    return queries.get_meeting_for(current_user, meeting_id)


def _out(meeting: Meeting) -> MeetingOut:
    visible = queries.visible_agenda(current_user, meeting)
    note_patients_shown(i.patient_id for i in visible)
    return present.meeting_out(
        meeting, visible, queries.hidden_agenda_count(current_user, meeting, len(visible))
    )


def _team(team_id: int, action: str = "meeting.schedule") -> CareTeam:
    team = db.session.get(CareTeam, team_id)
    if team is None or not can(current_user, action, team):
        raise NotFound("Équipe introuvable.", field="team_id")
    return team


def _patient(patient_id: int, field: str = "patient_id") -> Patient:
    patient = db.session.get(Patient, patient_id)
    if patient is None or not can(current_user, "patient.read", patient):
        raise InvalidInput("Personne introuvable ou hors de votre cercle de soins.", field=field)
    note_patients_shown([patient.id])
    return patient


@api_route(
    "/meetings",
    summary="Les concertations de mes équipes et celles où je suis invité, les plus récentes "
    "d'abord",
    access="meetings.list",
    response=MeetingSummaryOut,
    paginated=True,
    tags=TAGS,
    query=(("team_id", "Une de mes équipes"),),
)
def list_meetings():
    raw = request.args.get("team_id", "")
    if raw and not (raw.isascii() and raw.isdecimal() and len(raw) < 10):
        raise InvalidInput("team_id doit être un identifiant d'équipe.", field="team_id")
    stmt = queries.meetings_query(current_user.id, int(raw) if raw else None)
    return paginate_by_id(stmt, Meeting.id, descending=True)


@api_route(
    "/meetings",
    "POST",
    summary="Programmer une concertation de mon équipe (date et heure avec leur fuseau, lieu "
    "ou lien de visio, président et secrétaire membres de l'équipe)",
    access="meetings.list",
    body=MeetingCreate,
    response=MeetingOut,
    status=201,
    tags=TAGS,
)
def create_meeting(body: MeetingCreate):
    meeting = services.schedule_meeting(
        current_user, _team(body.team_id), body.to_data(), request_context()
    )
    db.session.commit()
    return _out(meeting)


@api_route(
    "/meetings/<int:meeting_id>",
    summary="Une concertation : participants, quorum et l'ordre du jour (les seules personnes "
    "que je peux voir ; le nombre des autres)",
    access="meetings.list",
    response=MeetingOut,
    tags=TAGS,
)
@shows_patients("meeting agenda")
def get_meeting(meeting_id: int):
    return _out(_load(meeting_id))


@api_route(
    "/meetings/<int:meeting_id>",
    "PUT",
    summary="Modifier une concertation prévue (président, secrétaire, coordinateurs)",
    access="meetings.list",
    body=MeetingFields,
    response=MeetingOut,
    tags=TAGS,
)
def update_meeting(meeting_id: int, body: MeetingFields):
    meeting = _load(meeting_id)
    services.update_meeting(current_user, meeting, body.to_data(), request_context())
    db.session.commit()
    return _out(meeting)


def _transition(meeting_id: int, action) -> MeetingOut:  # noqa: ANN001
    meeting = _load(meeting_id)
    action(current_user, meeting, request_context())
    db.session.commit()
    return _out(meeting)


@api_route(
    "/meetings/<int:meeting_id>/start",
    "POST",
    summary="Ouvrir la séance (les décisions peuvent alors être enregistrées)",
    access="meetings.list",
    response=MeetingOut,
    tags=TAGS,
)
def start_meeting(meeting_id: int):
    return _transition(meeting_id, services.start_meeting)


@api_route(
    "/meetings/<int:meeting_id>/close",
    "POST",
    summary="Clore la séance : la concertation devient non modifiable",
    access="meetings.list",
    response=MeetingOut,
    tags=TAGS,
)
def close_meeting(meeting_id: int):
    return _transition(meeting_id, services.close_meeting)


@api_route(
    "/meetings/<int:meeting_id>/cancel",
    "POST",
    summary="Annuler une concertation prévue (les invitations des invités extérieurs prennent fin)",
    access="meetings.list",
    response=MeetingOut,
    tags=TAGS,
)
def cancel_meeting(meeting_id: int):
    return _transition(meeting_id, services.cancel_meeting)


@api_route(
    "/meetings/<int:meeting_id>/suggestions",
    summary="Les personnes que les données de l'équipe suggèrent d'inscrire (réévaluation dans "
    "les 30 jours, actions en retard, message urgent sans accusé de réception, inclusion sans "
    "plan), hors celles déjà inscrites",
    access="meetings.list",
    response=SuggestionList,
    tags=TAGS,
)
@shows_patients("meeting agenda suggestions")
def list_suggestions(meeting_id: int):
    meeting = _load(meeting_id)
    # The suggestions name the team's patients with their reasons: the meeting's runners only.
    require(current_user, "meeting.manage", meeting)
    suggestions = queries.suggest_agenda(
        db.session.get_one(CareTeam, meeting.team_id), user=current_user
    )
    taken = {i.patient_id for i in queries.list_items(meeting.id)}
    suggestions = [s for s in suggestions if s.patient_id not in taken]
    note_patients_shown(s.patient_id for s in suggestions)
    return SuggestionList(items=present.suggestions_out(suggestions))


@api_route(
    "/meetings/<int:meeting_id>/agenda",
    "POST",
    summary="Inscrire une personne suivie par l'équipe à l'ordre du jour",
    access="meetings.list",
    body=AgendaAdd,
    response=AgendaItemOut,
    status=201,
    tags=TAGS,
)
def add_agenda_item(meeting_id: int, body: AgendaAdd):
    meeting = _load(meeting_id)
    item = services.add_agenda_item(
        current_user, meeting, _patient(body.patient_id), request_context(), reason=body.reason
    )
    db.session.commit()
    return present.items_out([item])[0]


@api_route(
    "/meetings/<int:meeting_id>/agenda/<int:item_id>",
    "DELETE",
    summary="Retirer une personne de l'ordre du jour (pas après des décisions)",
    access="meetings.list",
    status=204,
    tags=TAGS,
)
def remove_agenda_item(meeting_id: int, item_id: int):
    meeting = _load(meeting_id)
    item = queries.get_item(meeting, item_id)
    note_patients_shown([item.patient_id])
    services.remove_agenda_item(current_user, meeting, item, request_context())
    db.session.commit()
    return Response(status=204)


@api_route(
    "/meetings/<int:meeting_id>/participants",
    "POST",
    summary="Inviter des membres de l'équipe",
    access="meetings.list",
    body=MembersIn,
    response=ParticipantList,
    status=201,
    tags=TAGS,
)
def invite_members(meeting_id: int, body: MembersIn):
    meeting = _load(meeting_id)
    participants = services.invite_members(current_user, meeting, body.user_ids, request_context())
    db.session.commit()
    return ParticipantList(items=present.participants_out(participants))


@api_route(
    "/meetings/<int:meeting_id>/guests",
    "POST",
    summary="Inviter un professionnel extérieur pour certaines personnes de l'ordre du jour : "
    "il reçoit une invitation dans leur cercle de soins, qui expire après la concertation",
    access="meetings.list",
    body=GuestIn,
    response=ParticipantOut,
    status=201,
    tags=TAGS,
)
def invite_guest(meeting_id: int, body: GuestIn):
    meeting = _load(meeting_id)
    guest = db.session.get(User, body.user_id)
    if guest is None:
        raise InvalidInput("Professionnel introuvable.", field="user_id")
    for patient_id in body.patient_ids:
        _patient(patient_id, "patient_ids")
    participant = services.invite_guest(
        current_user, meeting, guest, body.patient_ids, request_context()
    )
    db.session.commit()
    return present.participants_out([participant])[0]


@api_route(
    "/meetings/<int:meeting_id>/participants/<int:participant_id>/attendance",
    "PUT",
    summary="Noter la présence d'un participant : present, excused, absent (ou invited)",
    access="meetings.list",
    body=AttendanceIn,
    response=ParticipantOut,
    tags=TAGS,
)
def record_attendance(meeting_id: int, participant_id: int, body: AttendanceIn):
    meeting = _load(meeting_id)
    participant = db.session.get(MeetingParticipant, participant_id)
    if participant is None or participant.meeting_id != meeting.id:
        raise NotFound("Participant introuvable.", field="participant_id")
    services.record_attendance(
        current_user, meeting, participant, body.attendance, request_context()
    )
    db.session.commit()
    return present.participants_out([participant])[0]


@api_route(
    "/meetings/<int:meeting_id>/decisions",
    "POST",
    summary="Enregistrer la synthèse et les décisions pour une personne de l'ordre du jour : "
    "elles produisent la version suivante de son plan (provenance : la concertation). 422 "
    "sans quorum ou pour une personne non inscrite ; 403 pour qui, sans être coordinateur "
    "de la personne ni responsable de son plan, ne peut pas le modifier ; 409 si le plan a "
    "changé depuis base_version_id",
    access="meetings.list",
    body=DecisionsIn,
    response=DecisionsOut,
    status=201,
    tags=TAGS,
)
def record_decisions(meeting_id: int, body: DecisionsIn):
    meeting = _load(meeting_id)
    item = queries.find_item_for_patient(meeting.id, body.patient_id)
    if item is None or item.id not in {i.id for i in queries.visible_agenda(current_user, meeting)}:
        raise InvalidInput(
            "Cette personne n'est pas à l'ordre du jour de la concertation.", field="patient_id"
        )
    note_patients_shown([item.patient_id])
    version = services.record_decisions(
        current_user, item, body.summary, body.inputs(), body.base_version_id, request_context()
    )
    db.session.commit()
    return DecisionsOut(
        item=present.items_out([item])[0],
        plan_version_id=version.id if version else None,
        plan_version_number=version.number if isinstance(version, CarePlanVersion) else None,
    )


@api_route(
    "/teams/<int:team_id>/meeting-quorum",
    summary="Le quorum des concertations de l'équipe (3 présents de 2 professions par défaut)",
    access="meetings.list",
    response=QuorumRuleOut,
    tags=TAGS,
)
def get_quorum(team_id: int):
    team = _team(team_id)
    rule = queries.get_quorum(team.id)
    return QuorumRuleOut(
        team_id=team.id, min_present=rule.min_present, min_professions=rule.min_professions
    )


@api_route(
    "/teams/<int:team_id>/meeting-quorum",
    "PUT",
    summary="Fixer le quorum des concertations de l'équipe (coordinateurs)",
    access="meetings.list",
    body=QuorumIn,
    response=QuorumRuleOut,
    tags=TAGS,
)
def set_quorum(team_id: int, body: QuorumIn):
    team = _team(team_id)
    services.set_quorum(
        current_user, team, body.min_present, body.min_professions, request_context()
    )
    db.session.commit()
    return QuorumRuleOut(
        team_id=team.id, min_present=body.min_present, min_professions=body.min_professions
    )


@api_route(
    "/patients/<int:patient_id>/meetings",
    summary="Les concertations où la personne a été discutée, avec leurs décisions",
    access="meetings.list",
    response=PatientMeetingList,
    tags=TAGS,
)
def list_patient_meetings(patient_id: int):
    patient = load_patient(patient_id, what="meetings")
    rows = queries.meetings_for_patient(patient.id, current_user)
    items = present.items_out([item for _, item in rows])
    db.session.commit()  # keep the audited read
    return PatientMeetingList(
        items=[
            PatientMeetingOut(
                meeting_id=m.id, title=m.title, starts_at=m.starts_at, status=m.status, item=out
            )
            for (m, _), out in zip(rows, items, strict=True)
        ]
    )
