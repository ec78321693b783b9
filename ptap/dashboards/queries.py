"""Reads of a team's dashboard: the caseload, one aggregated query per alert type, workload.

The number of statements is fixed whatever the caseload: each alert type is one grouped query
over the whole caseload (never one per patient), and the alerts that are states of the patient
or of the plan (identity, consent, re-evaluation, no plan) come with the caseload itself.
Need-to-know: the caseload is the team's active enrolments whose patient the viewer may see
(the circle, not break-the-glass); every alert query is restricted to its ids, read once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ptap.accounts.models import User
from ptap.care_events.models import BREAK_KINDS, CareEvent
from ptap.care_plans.content import OPEN_STATUSES
from ptap.care_plans.models import CarePlan, CarePlanTask, PlanStatus
from ptap.care_teams.access import visible_patient_ids
from ptap.care_teams.models import (
    BreakGlassAccess,
    ConsentKind,
    ConsentRecord,
    Enrolment,
    IdentityStatus,
    Patient,
    TeamMembership,
)
from ptap.core import clock
from ptap.dashboards.alerts import (
    NO_PLAN_AFTER_DAYS,
    RECENT_BREAK_DAYS,
    REVIEW_NOTICE_DAYS,
    Alert,
    AlertKind,
)
from ptap.dmp_bridge import DmpSubmission, SubmissionStatus
from ptap.extensions import db
from ptap.intake.clocks import elapsed_working_days
from ptap.intake.models import OPEN_STATUSES as OPEN_REQUESTS
from ptap.intake.models import SupportRequest
from ptap.messaging.models import Acknowledgement, Conversation, Message, Priority
from ptap.pathways import queries as pathway_queries

#: Waiting requests listed on the dashboard (the intake pages list them all).
SHOWN_REQUESTS = 6


@dataclass(frozen=True)
class CaseloadRow:
    """A patient of the team's caseload, with the enrolment and plan facts alerts read."""

    patient_id: int
    enrolment_id: int
    display_name: str
    birth_date: str
    sex: str
    identity_status: str
    sharing_consent: bool
    postal_code: str
    city: str
    enrolled_at: datetime
    plan_id: int | None
    plan_status: str | None
    plan_published: bool
    next_review_on: date | None


@dataclass(frozen=True)
class PatientRow:
    """One line of the dashboard: a patient and what needs attention now."""

    patient: CaseloadRow
    alerts: tuple[Alert, ...]
    #: Professionals with open actions for this patient (the "professional" filter).
    assignee_ids: frozenset[int] = frozenset()

    @cached_property
    def kinds(self) -> frozenset[str]:
        return frozenset(a.kind for a in self.alerts)

    @cached_property
    def severity(self) -> int:
        return min((a.severity for a in self.alerts), default=len(AlertKind))


@dataclass(frozen=True)
class Workload:
    """Open and overdue actions of one professional on the team's caseload."""

    user_id: int
    name: str
    profession: str
    #: The team role, or "" for a professional outside the team (invited into a circle).
    team_role: str
    open_actions: int
    overdue: int


@dataclass(frozen=True)
class WaitingRequest:
    """A support request of the team still waiting for its first answer, and its clock."""

    request_id: int
    received_at: datetime
    requester_kind: str
    requester_name: str
    channel: str
    categories: tuple[str, ...]
    urgent: bool
    patient_id: int | None
    #: Working days elapsed since reception, against the team's target.
    elapsed: int
    target: int
    due_at: datetime
    late: bool


@dataclass(frozen=True)
class WaitingRequests:
    """A team's requests waiting for a first answer, as the dashboard shows them."""

    #: How many are waiting.
    total: int
    #: The first ones: urgent, then late, then the oldest.
    first: list[WaitingRequest]
    #: Every one about the patients asked for, in the same order (their rows' alerts).
    of_patients: list[WaitingRequest]


@dataclass
class TeamDashboard:
    """Everything the page and the API show of one team."""

    rows: list[PatientRow]
    workload: list[Workload]
    today: date
    counts: dict[str, int] = field(default_factory=dict)
    #: The first SHOWN_REQUESTS requests waiting for a first answer, urgent, late and oldest
    #: first; `requests_total` of them are waiting.
    requests: list[WaitingRequest] = field(default_factory=list)
    requests_total: int = 0


def _among(column: Any, ids: Sequence[int]) -> sa.ColumnElement[bool]:
    """`column IN ids`; on PostgreSQL `= ANY(:ids)`, one array parameter instead of hundreds
    (the driver parses a statement's placeholders on every execution)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.literal(list(ids), type_=postgresql.ARRAY(sa.Integer)))
    return column.in_(list(ids))


def _in_caseload(team_id: int, viewer_id: int) -> sa.ColumnElement[bool]:
    """Conditions on Enrolment: the team's active enrolments of patients the viewer sees."""
    return sa.and_(
        Enrolment.team_id == team_id,
        Enrolment.ended_at.is_(None),
        Enrolment.patient_id.in_(visible_patient_ids(viewer_id, circle_only=True)),
    )


def list_caseload(
    team_id: int, viewer_id: int, only: Collection[int] | None = None
) -> list[CaseloadRow]:
    """List the team's patients the viewer sees, with their enrolment and plan (one query)."""
    stmt = (
        sa.select(
            Enrolment.id,
            Enrolment.enrolled_at,
            Patient.id,
            Patient.birth_name,
            Patient.used_name,
            Patient.first_names,
            Patient.used_first_name,
            Patient.birth_year,
            Patient.birth_month,
            Patient.birth_day,
            Patient.sex,
            Patient.identity_status,
            Patient.sharing_consent,
            Patient.postal_code,
            Patient.city,
            CarePlan.id,
            CarePlan.status,
            CarePlan.current_version_id,
            CarePlan.next_review_on,
        )
        .join(Patient, Patient.id == Enrolment.patient_id)
        .outerjoin(CarePlan, CarePlan.enrolment_id == Enrolment.id)
        .where(_in_caseload(team_id, viewer_id))
    )
    if only is not None:
        stmt = stmt.where(Enrolment.patient_id.in_(list(only)))
    rows = []
    for r in db.session.execute(stmt):
        name = (r[4] or r[3]).upper()
        first = r[6] or r[5].split(" ")[0]
        day = f"{r[9]:02d}" if r[9] else "00"
        month = f"{r[8]:02d}" if r[8] else "00"
        rows.append(
            CaseloadRow(
                patient_id=r[2],
                enrolment_id=r[0],
                display_name=f"{name} {first}",
                birth_date=f"{day}/{month}/{r[7]}",
                sex=r[10],
                identity_status=r[11],
                sharing_consent=bool(r[12]),
                postal_code=r[13] or "",
                city=r[14] or "",
                enrolled_at=r[1],
                plan_id=r[15],
                plan_status=r[16],
                plan_published=r[17] is not None,
                next_review_on=r[18],
            )
        )
    return rows


# --- one query per alert type ---------------------------------------------------------------


@dataclass(frozen=True)
class TaskCounts:
    """Open actions grouped by patient and assignee."""

    patient_id: int
    assignee_id: int
    assignee_name: str
    profession: str
    open_actions: int
    overdue: int
    oldest_overdue: date | None


def task_counts(team_id: int, today: date, ids: Sequence[int]) -> list[TaskCounts]:
    """Count the open and overdue actions of the team's plans, per patient and assignee."""
    overdue = sa.and_(CarePlanTask.due_on.is_not(None), CarePlanTask.due_on < today)
    stmt = (
        sa.select(
            CarePlanTask.patient_id,
            User.id,
            User.first_name,
            User.last_name,
            User.profession,
            sa.func.count(),
            sa.func.count().filter(overdue),
            sa.func.min(sa.case((overdue, CarePlanTask.due_on))),
        )
        .join(CarePlan, CarePlan.id == CarePlanTask.plan_id)
        .join(Enrolment, Enrolment.id == CarePlan.enrolment_id)
        .join(User, User.id == CarePlanTask.assignee_id)
        .where(
            Enrolment.team_id == team_id,
            Enrolment.ended_at.is_(None),
            _among(CarePlanTask.patient_id, ids),
            CarePlanTask.status.in_([s.value for s in OPEN_STATUSES]),
        )
        .group_by(
            CarePlanTask.patient_id, User.id, User.first_name, User.last_name, User.profession
        )
    )
    return [
        TaskCounts(pid, uid, f"{first} {last}", prof, int(n), int(late), oldest)
        for pid, uid, first, last, prof, n, late, oldest in db.session.execute(stmt)
    ]


def urgent_message_alerts(ids: Sequence[int]) -> list[Alert]:
    """Unacknowledged urgent messages of the patients' conversations (one query)."""
    acknowledged = sa.exists().where(Acknowledgement.message_id == Message.id)
    stmt = (
        sa.select(
            Conversation.patient_id,
            Conversation.id,
            sa.func.count(Message.id),
            sa.func.min(Message.created_at),
        )
        .join(Message, Message.conversation_id == Conversation.id)
        .where(
            _among(Conversation.patient_id, ids),
            Message.priority == Priority.URGENT,
            Message.retracted_at.is_(None),
            ~acknowledged,
        )
        .group_by(Conversation.patient_id, Conversation.id)
    )
    return [
        Alert(AlertKind.URGENT_MESSAGES, pid, int(n), since, target_id=cid)
        for pid, cid, n, since in db.session.execute(stmt)
        if pid is not None
    ]


def dmp_alerts(team_id: int, ids: Sequence[int]) -> list[Alert]:
    """The team's DMP filings that failed or are blocked, per patient (one query)."""
    stuck = [SubmissionStatus.FAILED, SubmissionStatus.BLOCKED]
    stmt = (
        sa.select(
            DmpSubmission.patient_id,
            DmpSubmission.status,
            sa.func.count(),
            sa.func.min(DmpSubmission.requested_at),
        )
        .where(
            DmpSubmission.team_id == team_id,
            DmpSubmission.status.in_(stuck),
            _among(DmpSubmission.patient_id, ids),
        )
        .group_by(DmpSubmission.patient_id, DmpSubmission.status)
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    since: dict[int, datetime] = {}
    for pid, status, n, first in db.session.execute(stmt):
        counts[pid][status] = int(n)
        since[pid] = min(since.get(pid, first), first)
    return [
        Alert(
            AlertKind.DMP_FILINGS,
            pid,
            by_status.get(SubmissionStatus.FAILED, 0),
            since[pid],
            detail="failed" if by_status.get(SubmissionStatus.FAILED) else "blocked",
            other_count=by_status.get(SubmissionStatus.BLOCKED, 0),
        )
        for pid, by_status in counts.items()
    ]


def withdrawn_consents(ids: Sequence[int]) -> dict[int, datetime]:
    """When each patient without sharing consent withdrew it (absent: never given)."""
    stmt = (
        sa.select(ConsentRecord.patient_id, sa.func.max(ConsentRecord.recorded_at))
        .join(Patient, Patient.id == ConsentRecord.patient_id)
        .where(
            _among(ConsentRecord.patient_id, ids),
            Patient.sharing_consent.is_(False),
            ConsentRecord.kind == ConsentKind.SHARING,
            ConsentRecord.given.is_(False),
        )
        .group_by(ConsentRecord.patient_id)
    )
    return {pid: at for pid, at in db.session.execute(stmt)}


def break_glass_alerts(viewer_id: int, ids: Sequence[int]) -> list[Alert]:
    """Emergency accesses to the patients not reviewed yet, except the viewer's own (one
    query): the viewer may review every one listed."""
    stmt = (
        sa.select(
            BreakGlassAccess.patient_id,
            BreakGlassAccess.id,
            BreakGlassAccess.created_at,
            User.first_name,
            User.last_name,
        )
        .join(User, User.id == BreakGlassAccess.user_id)
        .where(
            _among(BreakGlassAccess.patient_id, ids),
            BreakGlassAccess.reviewed_at.is_(None),
            BreakGlassAccess.user_id != viewer_id,
        )
        .order_by(BreakGlassAccess.id)
    )
    grants: dict[int, list[tuple[int, datetime, str]]] = defaultdict(list)
    for pid, gid, at, first, last in db.session.execute(stmt):
        grants[pid].append((gid, at, f"{first} {last}"))
    return [
        Alert(AlertKind.BREAK_GLASS, pid, len(g), g[0][1], target_id=g[0][0], detail=g[0][2])
        for pid, g in grants.items()
    ]


def care_break_alerts(ids: Sequence[int], today: date) -> list[Alert]:
    """Care-pathway breaks of the patients within the last RECENT_BREAK_DAYS, whichever team
    recorded them (one query): the latest one names the alert."""
    since = today - timedelta(days=RECENT_BREAK_DAYS)
    stmt = (
        sa.select(CareEvent.patient_id, CareEvent.occurred_on, CareEvent.kind)
        .where(
            _among(CareEvent.patient_id, ids),
            CareEvent.kind.in_(list(BREAK_KINDS)),
            CareEvent.withdrawn_at.is_(None),
            CareEvent.occurred_on >= since,
        )
        .order_by(CareEvent.occurred_on.desc(), CareEvent.id.desc())
    )
    found: dict[int, list[tuple[date, str]]] = defaultdict(list)
    for pid, occurred_on, kind in db.session.execute(stmt):
        found[pid].append((occurred_on, kind))
    return [
        Alert(AlertKind.CARE_BREAKS, pid, len(events), events[0][0], detail=events[0][1])
        for pid, events in found.items()
    ]


def waiting_requests(
    team_id: int,
    now: datetime,
    *,
    limit: int = SHOWN_REQUESTS,
    patient_ids: Sequence[int] = (),
) -> WaitingRequests:
    """The team's open requests without a first answer: how many, the `limit` first (urgent,
    then late, then the oldest), and every one about `patient_ids` (their alerts), each
    against the first-answer target it was received under. One query, whatever the number
    waiting: the order, the count and the cut are done in SQL."""
    late = SupportRequest.first_answer_due_at <= now
    order = (
        SupportRequest.urgent.desc(),
        sa.case((late, 0), else_=1),
        SupportRequest.received_at,
        SupportRequest.id,
    )
    ranked = (
        sa.select(
            SupportRequest.id.label("id"),
            sa.func.row_number().over(order_by=order).label("rank"),
            sa.func.count().over().label("total"),
        )
        .where(
            SupportRequest.team_id == team_id,
            SupportRequest.status.in_(list(OPEN_REQUESTS)),
            SupportRequest.first_answer_at.is_(None),
        )
        .subquery()
    )
    wanted = ranked.c.rank <= limit
    if patient_ids:
        wanted = sa.or_(wanted, _among(SupportRequest.patient_id, patient_ids))
    stmt = (
        sa.select(SupportRequest, ranked.c.rank, ranked.c.total)
        .join(ranked, ranked.c.id == SupportRequest.id)
        .where(wanted)
        .order_by(ranked.c.rank)
    )
    total = 0
    first: list[WaitingRequest] = []
    of_patients: list[WaitingRequest] = []
    concerned = set(patient_ids)
    for r, rank, count in db.session.execute(stmt):
        total = count
        waiting = WaitingRequest(
            request_id=r.id,
            received_at=r.received_at,
            requester_kind=r.requester_kind,
            requester_name=r.requester_name,
            channel=r.channel,
            categories=tuple(r.categories),
            urgent=r.urgent,
            patient_id=r.patient_id,
            elapsed=elapsed_working_days(r.received_at, now),
            target=r.first_answer_target_days,
            due_at=r.first_answer_due_at,
            late=now >= r.first_answer_due_at,
        )
        if rank <= limit:
            first.append(waiting)
        if r.patient_id in concerned:
            of_patients.append(waiting)
    return WaitingRequests(total, first, of_patients)


def _request_alerts(requests: list[WaitingRequest]) -> list[Alert]:
    """A patient concerned by a waiting request gets the alert on their row too."""
    by_patient: dict[int, list[WaitingRequest]] = defaultdict(list)
    for r in requests:
        if r.patient_id is not None:
            by_patient[r.patient_id].append(r)
    return [
        Alert(
            AlertKind.WAITING_REQUESTS,
            pid,
            len(reqs),
            reqs[0].received_at,
            target_id=reqs[0].request_id,
            detail="late" if any(r.late for r in reqs) else "waiting",
        )
        for pid, reqs in by_patient.items()
    ]


def team_members(team_id: int) -> list[tuple[int, str, str, str]]:
    """The team's current members: id, name, profession, team role (one query)."""
    today = clock.paris_today()
    stmt = (
        sa.select(User.id, User.first_name, User.last_name, User.profession, TeamMembership.role)
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .where(
            TeamMembership.team_id == team_id,
            TeamMembership.starts_on <= today,
            sa.or_(TeamMembership.ends_on.is_(None), TeamMembership.ends_on >= today),
            User.active.is_(True),
        )
        .order_by(User.last_name, User.first_name)
    )
    members: dict[int, tuple[int, str, str, str]] = {}
    for uid, first, last, prof, role in db.session.execute(stmt):
        # A coordinator holding two memberships shows once, as coordinator.
        if uid not in members or role == "coordinator":
            members[uid] = (uid, f"{first} {last}", prof, role)
    return list(members.values())


# --- assembly -------------------------------------------------------------------------------


def _state_alerts(row: CaseloadRow, today: date, withdrawn: dict[int, datetime]) -> list[Alert]:
    """The alerts read from the caseload row itself: plan, consent, identity."""
    pid = row.patient_id
    alerts = []
    if (
        row.plan_id is not None
        and row.plan_status != PlanStatus.CLOSED
        and row.next_review_on is not None
        and row.next_review_on <= today + timedelta(days=REVIEW_NOTICE_DAYS)
    ):
        late = "overdue" if row.next_review_on < today else "soon"
        alerts.append(Alert(AlertKind.REVIEW_DUE, pid, since=row.next_review_on, detail=late))
    enrolled_on = clock.paris_day(row.enrolled_at)
    if not row.plan_published and enrolled_on <= today - timedelta(days=NO_PLAN_AFTER_DAYS):
        kind = "draft" if row.plan_id is not None else "none"
        alerts.append(Alert(AlertKind.NO_PLAN, pid, since=enrolled_on, detail=kind))
    if not row.sharing_consent:
        at = withdrawn.get(pid)
        detail = "withdrawn" if at is not None else "missing"
        alerts.append(Alert(AlertKind.CONSENT, pid, since=at, detail=detail))
    if row.identity_status != IdentityStatus.QUALIFIED:
        alerts.append(Alert(AlertKind.IDENTITY, pid, detail=row.identity_status))
    return alerts


def build_dashboard(
    team_id: int,
    viewer_id: int,
    *,
    today: date | None = None,
    now: datetime | None = None,
    only: Collection[int] | None = None,
) -> TeamDashboard:
    """Compute a team's dashboard for the viewer in a fixed number of queries.

    :param only: restrict to these patients (the live refresh of a few rows).
    """
    now = now or clock.now()
    today = today or clock.paris_day(now)
    caseload = list_caseload(team_id, viewer_id, only)
    # The caseload's ids, read once: every alert query takes them as a list rather than
    # computing need-to-know again (4 branches of a union) in each statement.
    ids = [row.patient_id for row in caseload]
    tasks = task_counts(team_id, today, ids)
    found: dict[int, list[Alert]] = defaultdict(list)
    for alert in [*urgent_message_alerts(ids), *break_glass_alerts(viewer_id, ids)]:
        found[alert.patient_id].append(alert)
    requests = waiting_requests(team_id, now, patient_ids=ids)
    for alert in [
        *dmp_alerts(team_id, ids),
        *care_break_alerts(ids, today),
        *_request_alerts(requests.of_patients),
    ]:
        found[alert.patient_id].append(alert)
    assignees: dict[int, set[int]] = defaultdict(set)
    overdue: dict[int, tuple[int, date | None]] = {}
    for t in tasks:
        assignees[t.patient_id].add(t.assignee_id)
        if t.overdue:
            n, oldest = overdue.get(t.patient_id, (0, None))
            first = min(d for d in (oldest, t.oldest_overdue) if d is not None)
            overdue[t.patient_id] = (n + t.overdue, first)
    for pid, (n, oldest) in overdue.items():
        found[pid].append(Alert(AlertKind.OVERDUE_ACTIONS, pid, n, oldest))
    for pid, (n, due, step) in pathway_queries.late_steps_by_patient(ids, today).items():
        found[pid].append(Alert(AlertKind.LATE_STEPS, pid, n, due, detail=step))
    withdrawn = withdrawn_consents(ids)
    rows = []
    for row in caseload:
        alerts = found.get(row.patient_id, []) + _state_alerts(row, today, withdrawn)
        alerts.sort(key=lambda a: a.severity)
        rows.append(PatientRow(row, tuple(alerts), frozenset(assignees.get(row.patient_id, ()))))
    counts: dict[str, int] = {kind: 0 for kind in AlertKind}
    for r in rows:
        for kind in r.kinds:
            counts[kind] += 1
    counts[AlertKind.WAITING_REQUESTS] = requests.total  # requests, with a patient or not
    workload = [] if only is not None else _workload(team_id, tasks)
    return TeamDashboard(rows, workload, today, counts, requests.first, requests.total)


def team_workload(team_id: int, viewer_id: int, today: date | None = None) -> list[Workload]:
    """Return a team's workload per professional (the live refresh of that table): the open
    and overdue actions of the plans of the caseload the viewer sees."""
    today = today or clock.paris_today()
    ids = [row.patient_id for row in list_caseload(team_id, viewer_id, None)]
    return _workload(team_id, task_counts(team_id, today, ids))


def _workload(team_id: int, tasks: list[TaskCounts]) -> list[Workload]:
    """Sum the actions per professional; every team member is listed, even with none."""
    totals: dict[int, list[Any]] = {}
    for t in tasks:
        entry = totals.setdefault(t.assignee_id, [t.assignee_name, t.profession, "", 0, 0])
        entry[3] += t.open_actions
        entry[4] += t.overdue
    for uid, name, prof, role in team_members(team_id):
        entry = totals.setdefault(uid, [name, prof, role, 0, 0])
        entry[2] = role
    rows = [Workload(uid, e[0], e[1], e[2], e[3], e[4]) for uid, e in totals.items()]
    return sorted(rows, key=lambda w: (-w.overdue, -w.open_actions, w.name))
