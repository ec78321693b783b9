"""Ready-made data for the live meeting screen: the templates walk no ORM object.

Built from `live_queries.LiveState` (the reads) and the viewer's rights; every decision about
what to show (overdue, quorum, which control is offered, the next patient) is taken here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ptap.accounts.models import User
from ptap.care_plans.content import (
    ACTION_STATUS_LABELS,
    OPEN_STATUSES,
    Action,
    ActionStatus,
    PlanContent,
)
from ptap.care_plans.models import PLAN_STATUS_LABELS
from ptap.care_teams.models import Patient
from ptap.core import clock
from ptap.core.formatting import fr_date, local_datetime
from ptap.core.policy import can
from ptap.meetings.decisions import DECISIONS_NOT_ALLOWED
from ptap.meetings.live_forms import ActionFollowUp, DecisionsForm
from ptap.meetings.live_queries import AgendaEntry, CurrentPatient, LiveState
from ptap.meetings.models import (
    AGENDA_REASON_LABELS,
    ATTENDANCE_LABELS,
    DECISION_KIND_LABELS,
    ITEM_STATUS_LABELS,
    MEETING_STATUS_LABELS,
    PARTICIPANT_ROLE_LABELS,
    DecisionKind,
    ItemStatus,
    MeetingDecision,
    MeetingStatus,
    ParticipantRole,
)
from ptap.meetings.queries import QuorumCheck
from ptap.meetings.services import may_record_decisions


@dataclass(frozen=True)
class AgendaRow:
    item_id: int
    position: int
    name: str
    birth_date: str
    reason: str
    status_label: str
    discussed: bool
    current: bool
    next_review: str
    plan_status: str


@dataclass(frozen=True)
class AttendeeRow:
    participant_id: int
    name: str
    profession: str
    role_label: str
    attendance: str
    attendance_label: str
    duty: str
    guest: bool


@dataclass(frozen=True)
class ActionView:
    key: str
    what: str
    who: str
    due: str
    overdue: bool
    status_label: str
    form: ActionFollowUp | None = None


@dataclass(frozen=True)
class ObjectiveView:
    title: str
    open_actions: list[ActionView]
    closed_count: int


@dataclass(frozen=True)
class DecisionRow:
    label: str
    text: str


@dataclass
class CurrentView:
    """The patient being discussed: identity header, plan summary, what was decided."""

    item_id: int
    patient_id: int
    name: str
    born: str
    age: str
    sex: str
    reason: str
    identity_status: str
    plan_url: str
    has_plan: bool
    plan_status: str
    version: str
    #: The plan's draft differs from the version shown: a notice says so.
    draft_pending: bool
    next_review: str
    review_overdue: bool
    objectives: list[ObjectiveView]
    unmet: list[tuple[str, str]]
    discussed: bool
    summary: str
    decisions: list[DecisionRow]


@dataclass(frozen=True)
class QuorumView:
    ok: bool
    text: str
    missing: list[str]


@dataclass
class LivePage:
    """Everything the live screen shows one viewer."""

    meeting_id: int
    title: str
    when: str
    place: str
    video_url: str
    status: str
    status_label: str
    running: bool
    closed: bool
    stamp: str
    agenda: list[AgendaRow]
    hidden_count: int
    attendees: list[AttendeeRow]
    quorum: QuorumView
    current: CurrentView | None
    current_hidden: bool
    can_manage: bool
    can_start: bool
    next_item_id: int | None
    next_item_name: str
    can_close: bool
    form: DecisionsForm | None = None
    #: Why a runner of the meeting gets no decisions form for this patient (French).
    decide_refusal: str = ""
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    #: The form is for another patient than the one now discussed (kept after a refusal).
    form_item_id: int | None = None


def _age(patient: Patient, today: date) -> str:
    years = today.year - patient.birth_year
    if patient.birth_month and (today.month, today.day) < (
        patient.birth_month,
        patient.birth_day or 1,
    ):
        years -= 1
    return f"{years} ans"


SEX_LABELS = {"F": "Femme", "M": "Homme", "I": "Indéterminé", "U": "Inconnu"}
IDENTITY_LABELS = {"qualified": "Identité qualifiée (INS)", "provisional": "Identité provisoire"}


def who(action: Action, names: dict[int, str]) -> str:
    """Return who carries out an action, or "Non attribuée"."""
    parts = []
    if action.assignee_user_id:
        parts.append(names.get(action.assignee_user_id, "Professionnel inconnu"))
    if action.assignee_label:
        parts.append(action.assignee_label)
    return " · ".join(parts) or "Non attribuée"


def _objectives(
    content: PlanContent, names: dict[int, str], today: date, form: DecisionsForm | None
) -> list[ObjectiveView]:
    forms = dict(form.follow_ups) if form is not None else {}
    views = []
    for objective in content.objectives:
        open_actions = [
            ActionView(
                key=a.key,
                what=a.what,
                who=who(a, names),
                due=fr_date(a.due_on) or "Sans échéance",
                overdue=a.due_on is not None and a.due_on < today,
                status_label=ACTION_STATUS_LABELS[a.status],
                form=forms.get(a.key),
            )
            for a in objective.actions
            if a.status in OPEN_STATUSES
        ]
        closed = len(objective.actions) - len(open_actions)
        views.append(ObjectiveView(objective.title, open_actions, closed))
    return views


def describe(decision: MeetingDecision, names: dict[int, str], content: PlanContent) -> DecisionRow:
    """Say one recorded decision in French."""
    payload: dict[str, Any] = decision.payload or {}
    label = DECISION_KIND_LABELS.get(DecisionKind(decision.kind), decision.kind)
    objectives = {o.key: o.title for o in content.objectives}
    text = ""
    if decision.kind == DecisionKind.ADD_OBJECTIVE:
        text = str(payload.get("title", ""))
    elif decision.kind == DecisionKind.ADD_ACTION:
        bits = [str(payload.get("what", ""))]
        if payload.get("assignee_user_id"):
            bits.append("confiée à " + names.get(int(payload["assignee_user_id"]), "?"))
        if payload.get("due_on"):
            bits.append("pour le " + fr_date(date.fromisoformat(str(payload["due_on"]))))
        text = ", ".join(bits)
    elif decision.kind == DecisionKind.UPDATE_ACTION:
        found = content.find_action(str(payload.get("action_key", "")))
        bits = [found[1].what if found else "Action"]
        if payload.get("status"):
            bits.append(ACTION_STATUS_LABELS.get(ActionStatus(payload["status"]), "").lower())
        if payload.get("due_on"):
            bits.append("échéance " + fr_date(date.fromisoformat(str(payload["due_on"]))))
        if payload.get("assignee_user_id"):
            bits.append("confiée à " + names.get(int(payload["assignee_user_id"]), "?"))
        text = ", ".join(b for b in bits if b)
    elif decision.kind == DecisionKind.OBJECTIVE_UNMET:
        title = objectives.get(str(payload.get("objective_key", "")), "Objectif")
        text = f"{title} : {payload.get('reason', '')}"
    elif decision.kind == DecisionKind.SET_REVIEW_DATE and payload.get("next_review_on"):
        text = fr_date(date.fromisoformat(str(payload["next_review_on"])))
    return DecisionRow(label, text)


def _current(current: CurrentPatient, today: date, form: DecisionsForm | None) -> CurrentView:
    from flask import url_for

    entry, plan, content = current.entry, current.plan, current.content or PlanContent()
    patient = entry.patient
    review = plan.next_review_on if plan is not None else None
    version = current.version
    return CurrentView(
        item_id=entry.item.id,
        patient_id=patient.id,
        name=patient.display_name,
        born=f"{patient.born_on_label} {patient.birth_date_label}",
        age=_age(patient, today),
        sex=SEX_LABELS.get(patient.sex, patient.sex),
        reason=AGENDA_REASON_LABELS.get(entry.item.reason, entry.item.reason),  # type: ignore[call-overload]
        identity_status=IDENTITY_LABELS.get(patient.identity_status, patient.identity_status),
        plan_url=url_for("care_plans.show_plan", patient_id=patient.id),
        has_plan=plan is not None,
        plan_status=PLAN_STATUS_LABELS.get(plan.status, plan.status) if plan else "",  # type: ignore[call-overload]
        version=(
            f"Version {version.number} du {local_datetime(version.created_at)[:10]}"
            if version
            else "Aucune version publiée"
        ),
        draft_pending=current.draft_pending,
        next_review=fr_date(review) or "Non fixée",
        review_overdue=review is not None and review < today,
        objectives=_objectives(content, current.names, today, form),
        unmet=[(u.objective, u.reason) for u in content.unmet_objectives],
        discussed=entry.item.status == ItemStatus.DISCUSSED,
        summary=entry.item.summary,
        decisions=[describe(d, current.names, content) for d in current.decisions],
    )


def _agenda_row(entry: AgendaEntry, current_id: int | None) -> AgendaRow:
    plan_status = entry.plan_status or ""
    plan_label = PLAN_STATUS_LABELS.get(plan_status, plan_status)  # type: ignore[call-overload]
    return AgendaRow(
        item_id=entry.item.id,
        position=entry.item.position,
        name=entry.patient.display_name,
        birth_date=entry.patient.birth_date_label,
        reason=AGENDA_REASON_LABELS.get(entry.item.reason, entry.item.reason),  # type: ignore[call-overload]
        status_label=ITEM_STATUS_LABELS.get(entry.item.status, entry.item.status),  # type: ignore[call-overload]
        discussed=entry.item.status == ItemStatus.DISCUSSED,
        current=entry.item.id == current_id,
        next_review=fr_date(entry.next_review_on),
        plan_status=plan_label or "Pas de plan",
    )


def _duty(user_id: int, state: LiveState) -> str:
    if user_id == state.meeting.chair_id:
        return "Animation"
    if user_id == state.meeting.secretary_id:
        return "Secrétariat"
    return ""


def quorum_view(check: QuorumCheck) -> QuorumView:
    """Say whether the quorum is reached, in French."""
    text = (
        f"{check.present} présent{'s' if check.present > 1 else ''}, "
        f"{check.professions} profession{'s' if check.professions > 1 else ''} "
        f"(requis : {check.rule.min_present} présent{'s' if check.rule.min_present > 1 else ''} "
        f"de {check.rule.min_professions} profession{'s' if check.rule.min_professions > 1 else ''}"
        f" différente{'s' if check.rule.min_professions > 1 else ''})"
    )
    return QuorumView(check.ok, text, list(check.missing))


def next_item_id(state: LiveState) -> int | None:
    """Return the next agenda item the viewer may see after the current one (pending first)."""
    ids = [e.item.id for e in state.agenda]
    if not ids:
        return None
    current = state.meeting.current_item_id
    after = ids[ids.index(current) + 1 :] if current in ids else ids
    pending = {e.item.id for e in state.agenda if e.item.status == ItemStatus.PENDING}
    return next((i for i in after if i in pending), after[0] if after else None)


def live_page(
    user: User,
    state: LiveState,
    quorum: QuorumCheck,
    hidden_count: int,
    form: DecisionsForm | None = None,
    form_item_id: int | None = None,
) -> LivePage:
    """Return the live screen of one viewer; `form` carries refused decisions back."""
    meeting = state.meeting
    today = clock.paris_today()
    manage = can(user, "meeting.manage", meeting)
    running = meeting.status == MeetingStatus.IN_PROGRESS
    current = state.current
    # Running the meeting is not enough: the care-plans rules say who may change the plan.
    decide = (
        manage
        and running
        and current is not None
        and may_record_decisions(user, meeting, current.entry.item)
    )
    if form is None and decide and current is not None:
        form = decisions_form(current)
    next_id = next_item_id(state) if manage and running else None
    names = {e.item.id: e.patient.display_name for e in state.agenda}
    page = LivePage(
        meeting_id=meeting.id,
        title=meeting.title,
        when=local_datetime(meeting.starts_at),
        place=meeting.place,
        video_url=meeting.video_url,
        status=meeting.status,
        status_label=MEETING_STATUS_LABELS.get(meeting.status, meeting.status),  # type: ignore[call-overload]
        running=running,
        closed=meeting.status in (MeetingStatus.CLOSED, MeetingStatus.CANCELLED),
        stamp=state.stamp,
        agenda=[_agenda_row(e, meeting.current_item_id) for e in state.agenda],
        hidden_count=hidden_count,
        attendees=[
            AttendeeRow(
                a.participant.id,
                a.name,
                a.profession,
                PARTICIPANT_ROLE_LABELS.get(a.participant.role, a.participant.role),  # type: ignore[call-overload]
                a.participant.attendance,
                ATTENDANCE_LABELS.get(a.participant.attendance, a.participant.attendance),  # type: ignore[call-overload]
                _duty(a.participant.user_id, state),
                a.participant.role == ParticipantRole.GUEST,
            )
            for a in state.attendees
        ],
        quorum=quorum_view(quorum),
        current=_current(current, today, form if manage else None) if current else None,
        current_hidden=state.current_hidden,
        can_manage=manage,
        can_start=manage and meeting.status == MeetingStatus.PLANNED,
        next_item_id=next_id,
        next_item_name=names.get(next_id or 0, ""),
        can_close=manage and running,
        form=form if decide else None,
        decide_refusal=DECISIONS_NOT_ALLOWED
        if manage and running and current and not decide
        else "",
        form_item_id=form_item_id,
    )
    if page.form is not None:
        page.errors = page.form.error_items()
    return page


def decisions_form(current: CurrentPatient, **kwargs: Any) -> DecisionsForm:
    """Return the decisions form of the patient discussed (their plan's objectives, actions
    and circle), empty or as posted."""
    version = current.version
    form = DecisionsForm(content=current.content, people=current.people, **kwargs)
    if not form.is_submitted():
        form.base_version_id.data = str(version.id) if version else ""
    return form
