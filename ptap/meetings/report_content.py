"""What a meeting report says, and its PDF/A rendering (called by the job, never a request).

The snapshot (participants with their professions and attendance, decisions as French lines)
is taken when a draft is prepared and stored on the report version, so an approved report
never changes, whatever happens to the meeting, the plan or the people afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_plans.content import ACTION_STATUS_LABELS, load_content
from ptap.care_plans.models import CarePlanVersion
from ptap.care_teams.models import CareTeam, Patient
from ptap.core.formatting import fr_date, ins_format, label, local_datetime
from ptap.core.models import utcnow
from ptap.core.pdf import render_pdf
from ptap.extensions import db
from ptap.meetings.models import (
    ATTENDANCE_LABELS,
    DECISION_KIND_LABELS,
    PARTICIPANT_ROLE_LABELS,
    Attendance,
    Meeting,
    MeetingAgendaItem,
    MeetingDecision,
    MeetingParticipant,
)
from ptap.meetings.report_models import MeetingReport

REPORT_TEMPLATE = "pdf/meeting_report.html"
MINUTES_TEMPLATE = "pdf/meeting_minutes.html"
REPORT_TITLE = "Compte rendu de concertation pluriprofessionnelle"
#: PDF/A-1b: what the CI-SIS asks of a PDF embedded in a CDA R2 N1 document for the DMP.
REPORT_PDF_VARIANT = "pdf/a-1b"
#: Attendance order in the participants table: present first.
_ATTENDANCE_ORDER = {
    Attendance.PRESENT: 0,
    Attendance.EXCUSED: 1,
    Attendance.ABSENT: 2,
    Attendance.INVITED: 3,
}
#: Payload keys worth printing, in order, with their French label ("" for the main text).
#: Keys and ids (objective, action, assignee) are resolved to names by ``_names``.
_PAYLOAD_FIELDS = (
    ("title", ""),
    ("what", ""),
    ("action_key", "action"),
    ("objective_key", "objectif"),
    ("assignee_user_id", "confiée à"),
    ("assignee_label", "confiée à"),
    ("due_on", "échéance"),
    ("status", "statut"),
    ("next_review_on", ""),
    ("not_achieved_reason", "motif"),
    ("reason", "motif"),
)


def _value(key: str, raw: Any, names: Mapping[str, str]) -> str:
    if raw in (None, ""):
        return ""
    if key == "assignee_user_id":
        return names.get(f"user:{raw}", "")
    if key in ("action_key", "objective_key"):
        return names.get(f"{key}:{raw}", "")
    if key == "status":
        return ACTION_STATUS_LABELS.get(raw, str(raw))
    if key.endswith("_on") and isinstance(raw, str):
        try:
            return fr_date(date.fromisoformat(raw))
        except ValueError:
            return raw
    return str(raw)


def decision_line(
    kind: str, payload: dict[str, Any], names: Mapping[str, str] | None = None
) -> str:
    """Describe one structured decision in one French line (kind label, then its details)."""
    parts: list[str] = []
    seen: set[str] = set()
    for key, field_label in _PAYLOAD_FIELDS:
        text = _value(key, payload.get(key), names or {})
        if not text or text in seen:
            continue
        seen.add(text)
        parts.append(f"{field_label} {text}" if field_label else text)
    kind_label = label(DECISION_KIND_LABELS, kind)
    return f"{kind_label} : {', '.join(parts)}" if parts else kind_label


def _names(item: MeetingAgendaItem, decisions: Sequence[MeetingDecision]) -> dict[str, str]:
    """Names of the objectives, actions and assignees the decisions refer to by key or id."""
    names: dict[str, str] = {}
    if item.plan_version_id is not None:
        version = db.session.get(CarePlanVersion, item.plan_version_id)
        content = load_content(version.content if version is not None else None)
        for objective in content.objectives:
            names[f"objective_key:{objective.key}"] = objective.title
            for action in objective.actions:
                names[f"action_key:{action.key}"] = action.what
    user_ids = {d.payload.get("assignee_user_id") for d in decisions if d.payload}
    for user in _users(user_ids).values():
        names[f"user:{user.id}"] = f"{user.full_name} ({user.profession_label})"
    return names


def participants_of(meeting_id: int) -> list[dict[str, Any]]:
    """The meeting's participants with their profession and attendance, present first."""
    rows = sorted(
        db.session.execute(
            sa.select(MeetingParticipant, User)
            .join(User, User.id == MeetingParticipant.user_id)
            .where(MeetingParticipant.meeting_id == meeting_id)
        ).all(),
        key=lambda r: (_ATTENDANCE_ORDER.get(Attendance(r[0].attendance), 9), r[1].last_name),
    )
    return [
        {
            "name": user.full_name,
            "profession": p.profession or user.profession_label,
            "role": label(PARTICIPANT_ROLE_LABELS, p.role),
            "attendance": label(ATTENDANCE_LABELS, p.attendance),
            "present": p.attendance == Attendance.PRESENT,
        }
        for p, user in rows
    ]


def snapshot(item: MeetingAgendaItem) -> dict[str, Any]:
    """Take the participants and decisions of an agenda patient as the report states them."""
    decisions = db.session.scalars(
        sa.select(MeetingDecision)
        .where(MeetingDecision.item_id == item.id)
        .order_by(MeetingDecision.position, MeetingDecision.id)
    ).all()
    names = _names(item, decisions)
    return {
        "participants": participants_of(item.meeting_id),
        "decisions": [decision_line(d.kind, d.payload or {}, names) for d in decisions],
        "plan_version_id": item.plan_version_id,
    }


def _patient(patient: Patient) -> dict[str, Any]:
    qualified = patient.is_qualified and bool(patient.ins_matricule)
    return {
        "birth_name": patient.birth_name,
        "first_names": patient.first_names,
        "used_name": patient.used_name if patient.used_name != patient.birth_name else "",
        "birth_date": patient.birth_date_label,
        "sex": patient.sex,
        "ins": ins_format(patient.ins_matricule) if qualified else "",
    }


def _meeting(meeting: Meeting, team: CareTeam, users: dict[int, User]) -> dict[str, Any]:
    chair, secretary = users.get(meeting.chair_id), users.get(meeting.secretary_id)
    return {
        "title": meeting.title,
        "starts_at": local_datetime(meeting.starts_at),
        "date": fr_date(meeting.starts_at.date()),
        "place": meeting.place or ("Visioconférence" if meeting.video_url else ""),
        "team": team.name,
        "structure": team.structure.name if team.structure else "",
        "chair": chair.full_name if chair else "",
        "secretary": secretary.full_name if secretary else "",
    }


def _users(ids: set[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    return {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(wanted)))}


def report_context(report: MeetingReport, now: datetime | None = None) -> dict[str, Any]:
    """Build the report PDF's plain-data context (no ORM object reaches the template)."""
    meeting = db.session.get_one(Meeting, report.meeting_id)
    team = db.session.get_one(CareTeam, meeting.team_id)
    patient = db.session.get_one(Patient, report.patient_id)
    users = _users({meeting.chair_id, meeting.secretary_id, report.approved_by_id})
    approver = users.get(report.approved_by_id) if report.approved_by_id else None
    return {
        "title": REPORT_TITLE,
        "meeting": _meeting(meeting, team, users),
        "patient": _patient(patient),
        "report": {
            "version": report.version,
            "summary": report.summary,
            "correction_reason": report.correction_reason,
            "approved_by": approver.full_name if approver else "",
            "approved_at": local_datetime(report.approved_at),
        },
        "participants": report.content.get("participants", []),
        "decisions": report.content.get("decisions", []),
        "generated_at": local_datetime(now or utcnow()),
    }


def render_report_pdf(report: MeetingReport) -> bytes:
    """Render one report version as PDF/A-1b (the variant filed in the DMP)."""
    return render_pdf(REPORT_TEMPLATE, report_context(report), variant=REPORT_PDF_VARIANT)


def minutes_context(meeting: Meeting, now: datetime | None = None) -> dict[str, Any]:
    """Build the team minutes' context: every discussed patient, latest report text first."""
    team = db.session.get_one(CareTeam, meeting.team_id)
    users = _users({meeting.chair_id, meeting.secretary_id})
    items = db.session.execute(
        sa.select(MeetingAgendaItem, Patient)
        .join(Patient, Patient.id == MeetingAgendaItem.patient_id)
        .where(MeetingAgendaItem.meeting_id == meeting.id)
        .order_by(MeetingAgendaItem.position, MeetingAgendaItem.id)
    ).all()
    # The approved version in force, else the latest draft, of each patient's report.
    latest: dict[int, MeetingReport] = {}
    for version in db.session.scalars(
        sa.select(MeetingReport)
        .where(MeetingReport.meeting_id == meeting.id)
        .order_by(MeetingReport.approved_at.is_not(None), MeetingReport.version)
    ):
        latest[version.item_id] = version
    patients = []
    for item, patient in items:
        found = latest.get(item.id)
        content = found.content if found is not None else snapshot(item)
        approved = found is not None and found.approved_at is not None
        patients.append(
            {
                "patient": _patient(patient),
                "summary": found.summary if found is not None else item.summary,
                "decisions": content.get("decisions", []),
                "discussed": item.status == "discussed",
                "report_status": "Compte rendu approuvé"
                if approved
                else "Compte rendu non approuvé",
            }
        )
    return {
        "title": "Relevé de décisions de la concertation",
        "meeting": _meeting(meeting, team, users),
        "participants": participants_of(meeting.id),
        "patients": patients,
        "generated_at": local_datetime(now or utcnow()),
    }


def render_minutes_pdf(meeting: Meeting) -> bytes:
    """Render the team minutes of a meeting (PDF/A-3b: kept inside PTAP)."""
    return render_pdf(MINUTES_TEMPLATE, minutes_context(meeting))
