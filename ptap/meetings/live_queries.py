"""Reads of the live meeting screen, in a fixed number of queries whatever the agenda's size.

`load_live(user, meeting)` gathers what the screen shows: the participants (one query), the
agenda items the viewer may see with their patients (one query: the need-to-know subquery of
ptap.care_teams.access, never one check per item), the plans of those patients (one query),
and for the patient being discussed only: the plan, its current (published) version, the
circle that may be named, the names the plan uses and the decisions already recorded (a few
queries). The live socket's `join_meeting` runs the same loader, so its stamp matches the page's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_plans.content import PlanContent, load_content
from ptap.care_plans.models import CarePlan, CarePlanVersion
from ptap.care_teams import queries as team_queries
from ptap.care_teams.models import Enrolment, Patient
from ptap.extensions import db
from ptap.meetings.models import (
    Meeting,
    MeetingAgendaItem,
    MeetingDecision,
    MeetingParticipant,
)
from ptap.meetings.queries import visible_agenda


@dataclass(frozen=True)
class AgendaEntry:
    """An agenda item the viewer may see, with its patient and plan at a glance."""

    item: MeetingAgendaItem
    patient: Patient
    plan_status: str | None
    next_review_on: date | None


@dataclass(frozen=True)
class Attendee:
    """A participant with the name and profession shown."""

    participant: MeetingParticipant
    name: str
    profession: str


@dataclass
class CurrentPatient:
    """The patient being discussed, if the viewer may see them: plan, people, decisions."""

    entry: AgendaEntry
    plan: CarePlan | None
    version: CarePlanVersion | None
    #: The content of the version in force (published), never the working draft.
    content: PlanContent | None
    #: The plan's draft holds changes not yet published (shown as a notice).
    draft_pending: bool = False
    #: Professionals who may be named as assignees: (user id, label).
    people: list[tuple[int, str]] = field(default_factory=list)
    #: Every user id the plan names -> full name.
    names: dict[int, str] = field(default_factory=dict)
    decisions: list[MeetingDecision] = field(default_factory=list)


@dataclass
class LiveState:
    """Everything the live screen shows one viewer."""

    meeting: Meeting
    agenda: list[AgendaEntry]
    attendees: list[Attendee]
    #: The item being discussed is one the viewer may not see.
    current_hidden: bool
    current: CurrentPatient | None

    @property
    def stamp(self) -> str:
        """A digest of what this viewer sees: equal stamps, nothing to catch up."""
        return state_stamp(self)


def visible_items(user: User, meeting: Meeting) -> list[tuple[MeetingAgendaItem, Patient]]:
    """Return the agenda items whose patient the user may see, in order, with the patients
    (need-to-know as `queries.visible_agenda` decides it: a guest sees only the patients they
    are invited for; three queries whatever the agenda's size)."""
    items = visible_agenda(user, meeting)
    if not items:
        return []
    patients = {
        p.id: p
        for p in db.session.scalars(
            sa.select(Patient).where(Patient.id.in_([i.patient_id for i in items]))
        )
    }
    return [(item, patients[item.patient_id]) for item in items if item.patient_id in patients]


def attendees(meeting_id: int) -> list[Attendee]:
    """Return the participants with their names, members first (one query)."""
    rows = db.session.execute(
        sa.select(MeetingParticipant, User)
        .join(User, User.id == MeetingParticipant.user_id)
        .where(MeetingParticipant.meeting_id == meeting_id)
        .order_by(MeetingParticipant.role.desc(), User.last_name, User.first_name)
    ).all()
    return [Attendee(p, u.full_name, p.profession or u.profession_label) for p, u in rows]


def _plans_by_patient(patient_ids: list[int]) -> dict[int, tuple[str, date | None]]:
    """Map each patient to the status and next review of their current plan (one query)."""
    if not patient_ids:
        return {}
    rows = db.session.execute(
        sa.select(CarePlan.patient_id, CarePlan.status, CarePlan.next_review_on)
        .join(Enrolment, Enrolment.id == CarePlan.enrolment_id)
        .where(CarePlan.patient_id.in_(patient_ids))
        # The plan of the current enrolment, the newest first (as find_plan_for_patient).
        .order_by(Enrolment.ended_at.is_not(None).desc(), CarePlan.created_at)
    ).all()
    return {pid: (status, review) for pid, status, review in rows}


def _current_patient(entry: AgendaEntry) -> CurrentPatient:
    """Load the discussed patient's plan, circle, names and decisions (fixed queries)."""
    from ptap.care_plans.queries import find_plan_for_patient

    plan = find_plan_for_patient(entry.patient.id)
    version = (
        db.session.get(CarePlanVersion, plan.current_version_id)
        if plan is not None and plan.current_version_id
        else None
    )
    # What is in force is the published version: the draft may hold unpublished work, and
    # the decisions apply to the version (record_decisions refuses draft-only actions).
    content = load_content(version.content) if version is not None else None
    draft_pending = plan is not None and (
        version.content_hash != load_content(plan.draft).digest()
        if version is not None
        else bool(plan.draft)
    )
    people = {m.user_id: f"{m.name} ({m.profession})" for m in team_queries.circle(entry.patient)}
    named: set[int] = set()
    if content is not None:
        named = {a.assignee_user_id for _, a in content.actions() if a.assignee_user_id}
        named |= {content.lead_user_id} if content.lead_user_id else set()
    missing = sorted(named - set(people))
    names = {uid: label.rsplit(" (", 1)[0] for uid, label in people.items()}
    names.update(team_queries.user_names(missing))
    decisions = list(
        db.session.scalars(
            sa.select(MeetingDecision)
            .where(MeetingDecision.item_id == entry.item.id)
            .order_by(MeetingDecision.position, MeetingDecision.id)
        )
    )
    return CurrentPatient(
        entry, plan, version, content, draft_pending, list(people.items()), names, decisions
    )


def load_live(user: User, meeting: Meeting, focus_item_id: int | None = None) -> LiveState:
    """Return the live state of a meeting as `user` may see it (a fixed number of queries);
    `focus_item_id` shows another patient than the one discussed (refused decisions kept)."""
    rows = visible_items(user, meeting)
    plans = _plans_by_patient([p.id for _, p in rows])
    agenda = [
        AgendaEntry(item, patient, *plans.get(patient.id, (None, None))) for item, patient in rows
    ]
    focus = focus_item_id or meeting.current_item_id
    current_entry = next((e for e in agenda if e.item.id == focus), None)
    return LiveState(
        meeting=meeting,
        agenda=agenda,
        attendees=attendees(meeting.id),
        current_hidden=focus is not None and current_entry is None,
        current=_current_patient(current_entry) if current_entry is not None else None,
    )


def state_stamp(state: LiveState) -> str:
    """Digest what a viewer sees of the meeting (not of the patients they may not see)."""
    meeting = state.meeting
    shape: list[Any] = [
        meeting.status,
        # The header: every viewer sees it, and it refreshes with the state.
        [meeting.title, meeting.starts_at, meeting.place, meeting.video_url],
        state.meeting.current_item_id if not state.current_hidden else "hidden",
        [(a.participant.id, a.participant.attendance) for a in state.attendees],
        [(e.item.id, e.item.position, e.item.status, e.item.plan_version_id) for e in state.agenda],
    ]
    if state.current is not None:
        current = state.current
        version_id = current.version.id if current.version is not None else None
        shape.append([version_id, current.draft_pending, len(current.decisions)])
    text = json.dumps(shape, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
