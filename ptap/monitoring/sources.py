"""What the aggregates are computed from: one month of raw activity, grouped by team, in SQL.

Each ``count_*`` function reads one family of indicators for the month [start, end), for every
team or only some, and returns ``(team_id, indicator, dimension, value)`` rows. They are the
single definition of each indicator: the incremental refresh and the full rebuild both call
them, on whole months, so both give the same numbers by construction (tested).
``touched_partitions`` says which past months changed since an instant (rows whose month is
not the month of the change, e.g. a filing requested last month and filed today).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from ptap.accounts.models import User
from ptap.care_events.models import BREAK_KINDS, CareEvent
from ptap.care_plans.models import ApprovalKind, CarePlan, CarePlanVersion, PlanApproval
from ptap.care_teams.models import Enrolment, Patient
from ptap.core import clock
from ptap.dmp_bridge import DmpSubmission, SubmissionStatus
from ptap.extensions import db
from ptap.intake.models import SupportRequest
from ptap.messaging.models import Conversation, ConversationKind, Message
from ptap.monitoring.indicators import UNTRIAGED, age_band, duration_bucket
from ptap.monitoring.models import MonitoringStaleMonth

Row = tuple[int, str, str, int]
Teams = Collection[int] | None

FILING_STATUSES = (SubmissionStatus.FILED, SubmissionStatus.FAILED, SubmissionStatus.BLOCKED)


def _teams(stmt: Any, column: Any, teams: Teams) -> Any:
    return stmt if teams is None else stmt.where(column.in_(list(teams)))


def _rows(stmt: Any, indicator: str) -> list[Row]:
    return [(team, indicator, str(dim or ""), int(n)) for team, dim, n in db.session.execute(stmt)]


def count_file(start: datetime, end: datetime, teams: Teams) -> list[Row]:
    """Active file: inclusions of the month, people followed at its end, exits by reason."""
    e = Enrolment
    n = sa.func.count()
    new = sa.select(e.team_id, sa.literal("new"), n).where(
        e.enrolled_at >= start, e.enrolled_at < end
    )
    ongoing = sa.select(e.team_id, sa.literal("ongoing"), n).where(
        e.enrolled_at < end, sa.or_(e.ended_at.is_(None), e.ended_at >= end)
    )
    closed = sa.select(e.team_id, e.end_reason, n).where(e.ended_at >= start, e.ended_at < end)
    rows: list[Row] = []
    for stmt in (new, ongoing):
        rows += _rows(_teams(stmt, e.team_id, teams).group_by(e.team_id), "file")
    by_reason = _rows(_teams(closed, e.team_id, teams).group_by(e.team_id, e.end_reason), "x")
    totals: Counter[int] = Counter()
    for team, _, reason, value in by_reason:
        rows.append((team, "file_closed_reason", reason or "other", value))
        totals[team] += value
    rows += [(team, "file", "closed", value) for team, value in totals.items()]
    return rows


def count_mix(start: datetime, end: datetime, teams: Teams) -> list[Row]:
    """Patient mix of the month's inclusions: age band (in the year of inclusion) and sex."""
    e, p = Enrolment, Patient
    stmt = (
        sa.select(e.team_id, p.sex, p.birth_year, sa.func.count())
        .join(p, p.id == e.patient_id)
        .where(e.enrolled_at >= start, e.enrolled_at < end)
        .group_by(e.team_id, p.sex, p.birth_year)
    )
    ages: Counter[tuple[int, str]] = Counter()
    sexes: Counter[tuple[int, str]] = Counter()
    for team, sex, birth_year, n in db.session.execute(_teams(stmt, e.team_id, teams)):
        ages[(team, age_band(clock.paris_day(start).year - birth_year))] += n
        sexes[(team, sex)] += n
    return [(t, "mix_age", d, v) for (t, d), v in ages.items()] + [
        (t, "mix_sex", d, v) for (t, d), v in sexes.items()
    ]


def count_plans(start: datetime, end: datetime, teams: Teams) -> list[Row]:
    """PPCS created, validated by the physician, revised (a version after the first), closed."""
    e, cp, v, a = Enrolment, CarePlan, CarePlanVersion, PlanApproval
    n = sa.func.count()
    base = sa.select(e.team_id, sa.literal(""), n).select_from(cp).join(e, e.id == cp.enrolment_id)
    created = base.where(cp.created_at >= start, cp.created_at < end)
    closed = base.where(cp.closed_at >= start, cp.closed_at < end)
    revised = (
        sa.select(e.team_id, sa.literal(""), n)
        .select_from(v)
        .join(cp, cp.id == v.plan_id)
        .join(e, e.id == cp.enrolment_id)
        .where(v.number > 1, v.created_at >= start, v.created_at < end)
    )
    validated = (
        sa.select(e.team_id, sa.literal(""), n)
        .select_from(a)
        .join(v, v.id == a.version_id)
        .join(cp, cp.id == v.plan_id)
        .join(e, e.id == cp.enrolment_id)
        .where(
            a.kind == ApprovalKind.GP_VALIDATION,
            a.recorded_at >= start,
            a.recorded_at < end,
        )
    )
    rows: list[Row] = []
    for dim, stmt in (
        ("created", created),
        ("validated", validated),
        ("revised", revised),
        ("closed", closed),
    ):
        found = _rows(_teams(stmt, e.team_id, teams).group_by(e.team_id), "plans")
        rows += [(team, "plans", dim, value) for team, _, _, value in found]
    return rows


def count_plan_reviews(start: datetime, end: datetime, today: date, teams: Teams) -> list[Row]:
    """Versions whose re-evaluation falls in the month: revised by then, late, or not yet due.

    A version is revised on time when the plan's next version was published on or before its
    re-evaluation day (Paris days). A plan closed before that day without a new version does
    not count.
    """
    e, cp, v = Enrolment, CarePlan, CarePlanVersion
    nxt = aliased(CarePlanVersion)
    first, last = clock.paris_day(start), clock.paris_day(end)
    stmt = (
        sa.select(e.team_id, v.next_review_on, nxt.created_at, cp.closed_at)
        .select_from(v)
        .join(cp, cp.id == v.plan_id)
        .join(e, e.id == cp.enrolment_id)
        .outerjoin(nxt, sa.and_(nxt.plan_id == v.plan_id, nxt.number == v.number + 1))
        .where(v.next_review_on >= first, v.next_review_on < last)
    )
    counts: Counter[tuple[int, str]] = Counter()
    for team, due, revised_at, closed_at in db.session.execute(_teams(stmt, e.team_id, teams)):
        if revised_at is not None and clock.paris_day(revised_at) <= due:
            counts[(team, "on_time")] += 1
        elif revised_at is None and closed_at is not None and clock.paris_day(closed_at) <= due:
            continue
        elif due < today:
            counts[(team, "late")] += 1
        else:
            counts[(team, "pending")] += 1
    return [(t, "plan_reviews", d, n) for (t, d), n in counts.items()]


def count_messages(start: datetime, end: datetime, teams: Teams) -> list[Row]:
    """Messages of team and patient conversations, and whether each answers another profession.

    A message answers when the previous message of its conversation is by another author; a
    patient conversation's message counts for every team following the patient at that time.
    Direct conversations between two professionals belong to no team and are not counted.
    """
    m, c = Message, Conversation
    prev = aliased(Message)
    author, prev_author = aliased(User), aliased(User)
    dim = sa.case(
        (sa.or_(prev.author_id.is_(None), prev.author_id == m.author_id), "other"),
        (author.profession != prev_author.profession, "inter_profession"),
        else_="same_profession",
    )

    def base(team_col: Any) -> sa.Select[Any]:
        return (
            sa.select(team_col, dim, sa.func.count())
            .select_from(m)
            .join(c, c.id == m.conversation_id)
            .join(author, author.id == m.author_id)
            .outerjoin(
                prev, sa.and_(prev.conversation_id == m.conversation_id, prev.seq == m.seq - 1)
            )
            .outerjoin(prev_author, prev_author.id == prev.author_id)
            .where(m.created_at >= start, m.created_at < end)
        )

    e = Enrolment
    team_conv = base(c.team_id).where(c.kind == ConversationKind.TEAM)
    patient_conv = (
        base(e.team_id)
        .join(e, e.patient_id == c.patient_id)
        .where(
            c.kind == ConversationKind.PATIENT,
            e.enrolled_at <= m.created_at,
            sa.or_(e.ended_at.is_(None), e.ended_at > m.created_at),
        )
    )
    rows = _rows(_teams(team_conv, c.team_id, teams).group_by(c.team_id, dim), "messages")
    rows += _rows(_teams(patient_conv, e.team_id, teams).group_by(e.team_id, dim), "messages")
    merged: Counter[tuple[int, str]] = Counter()
    for team, _, d, n in rows:
        merged[(team, d)] += n
    return [(t, "messages", d, n) for (t, d), n in merged.items()]


def count_filings(start: datetime, end: datetime, teams: Teams) -> list[Row]:
    """Documents to file in the DMP requested in the month, by their current state."""
    s = DmpSubmission
    stmt = (
        sa.select(s.team_id, s.status, sa.func.count())
        .where(
            s.operation == "file",
            s.team_id.is_not(None),
            s.status.in_([str(x) for x in FILING_STATUSES]),
            s.requested_at >= start,
            s.requested_at < end,
        )
        .group_by(s.team_id, s.status)
    )
    return _rows(_teams(stmt, s.team_id, teams), "dmp_filings")


def count_requests(start: datetime, end: datetime, teams: Teams) -> list[Row]:
    """Requests received in the month by requester type, channel and mission type, and the
    histogram of their time to first answer (hours, buckets of indicators.DURATION_BUCKETS)."""
    r = SupportRequest
    n = sa.func.count()
    in_month = (r.received_at >= start, r.received_at < end)
    rows: list[Row] = []
    for indicator, column in (
        ("requests_requester", r.requester_kind),
        ("requests_channel", r.channel),
        ("requests_mission", sa.func.coalesce(r.mission_type, UNTRIAGED)),
    ):
        stmt = sa.select(r.team_id, column, n).where(*in_month).group_by(r.team_id, column)
        rows += _rows(_teams(stmt, r.team_id, teams), indicator)
    answered = sa.select(r.team_id, r.received_at, r.first_answer_at).where(
        *in_month, r.first_answer_at.is_not(None)
    )
    buckets: Counter[tuple[int, str]] = Counter()
    for team, received, answered_at in db.session.execute(_teams(answered, r.team_id, teams)):
        hours = max(0.0, (answered_at - received).total_seconds() / 3600)
        buckets[(team, duration_bucket(hours))] += 1
    rows += [(t, "first_answer_hours", b, v) for (t, b), v in buckets.items()]
    return rows


def count_breaks(start: datetime, end: datetime, teams: Teams) -> list[Row]:
    """Care-pathway breaks that occurred in the month, by kind (withdrawn records excluded)."""
    ev = CareEvent
    stmt = (
        sa.select(ev.team_id, ev.kind, sa.func.count())
        .where(
            ev.occurred_on >= clock.paris_day(start),
            ev.occurred_on < clock.paris_day(end),
            ev.withdrawn_at.is_(None),
            ev.kind.in_([str(k) for k in BREAK_KINDS]),
        )
        .group_by(ev.team_id, ev.kind)
    )
    return _rows(_teams(stmt, ev.team_id, teams), "breaks")


def count_month(start: datetime, end: datetime, today: date, teams: Teams) -> list[Row]:
    """Every indicator of one month, for every team or only `teams`."""
    return [
        *count_requests(start, end, teams),
        *count_breaks(start, end, teams),
        *count_file(start, end, teams),
        *count_mix(start, end, teams),
        *count_plans(start, end, teams),
        *count_plan_reviews(start, end, today, teams),
        *count_messages(start, end, teams),
        *count_filings(start, end, teams),
    ]


def touched_partitions(since: datetime) -> set[tuple[int, datetime | date]]:
    """Return (team id, instant or day) pairs of rows changed since `since` whose month is
    not the month of the change: a filing changes state in its request month, a request is
    triaged or answered in its reception month, a break is recorded (or withdrawn) in the
    month it occurred, a request's reception date is corrected (its former month), a patient's
    sex or birth year is corrected (the months of their inclusions)."""
    s, r, ev, e, p = DmpSubmission, SupportRequest, CareEvent, Enrolment, Patient
    filings = sa.select(s.team_id, s.requested_at).where(
        s.operation == "file", s.team_id.is_not(None), s.updated_at >= since
    )
    requests = sa.select(r.team_id, r.received_at).where(r.updated_at >= since)
    breaks = sa.select(ev.team_id, ev.occurred_on).where(
        sa.or_(ev.recorded_at >= since, ev.withdrawn_at >= since)
    )
    # A request moved to another month left its former one (noted by note_moved_request).
    stale = sa.select(MonitoringStaleMonth.team_id, MonitoringStaleMonth.at).where(
        MonitoringStaleMonth.noted_at >= since
    )
    # A corrected sex or birth year changes the patient mix of the inclusions' months.
    patients = (
        sa.select(e.team_id, e.enrolled_at)
        .join(p, p.id == e.patient_id)
        .where(p.updated_at >= since)
    )
    found: set[tuple[int, datetime | date]] = set()
    for stmt in (filings, requests, breaks, stale, patients):
        found |= {(team, at) for team, at in db.session.execute(stmt) if team is not None}
    return found


@sa.event.listens_for(SupportRequest.received_at, "set", active_history=True)
def note_moved_request(target: SupportRequest, value: Any, oldvalue: Any, _initiator: Any) -> None:
    """Remember the former month of a request whose reception date is corrected.

    The refresh finds a changed request by its current reception date only; the month it left
    would keep counting it until a full rebuild. The note is added to the request's session,
    so it is committed (or rolled back) with the correction itself.
    """
    if not isinstance(oldvalue, datetime) or target.team_id is None or oldvalue == value:
        return
    session = sa.orm.object_session(target)
    if session is not None:
        session.add(MonitoringStaleMonth(team_id=target.team_id, at=oldvalue, noted_at=clock.now()))


def earliest_activity() -> datetime | None:
    """Return the instant of the oldest activity the indicators count, or None."""
    candidates = [
        db.session.scalar(sa.select(sa.func.min(Enrolment.enrolled_at))),
        db.session.scalar(sa.select(sa.func.min(Message.created_at))),
        db.session.scalar(sa.select(sa.func.min(CarePlan.created_at))),
        db.session.scalar(sa.select(sa.func.min(DmpSubmission.requested_at))),
        db.session.scalar(sa.select(sa.func.min(SupportRequest.received_at))),
    ]
    first_break = db.session.scalar(sa.select(sa.func.min(CareEvent.occurred_on)))
    if first_break is not None:
        candidates.append(datetime(first_break.year, first_break.month, 1, tzinfo=UTC))
    found = [_aware(c) for c in candidates if c is not None]
    return min(found) if found else None


def _aware(value: datetime | str) -> datetime:
    # min() over a UTCDateTime column comes back untyped on SQLite (a string).
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
