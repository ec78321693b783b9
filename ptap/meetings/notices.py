"""The meeting notices job: invitations, changes, cancellations and the day-before reminder.

Each participant of an upcoming meeting is told, in PTAP and by an e-mail that carries no
health data (``notify_all``: "a notification awaits you" and a link), when they are invited,
when the date, place or status changes (the meeting's ``ical_sequence`` moved past the last
one they were told about), when it is cancelled, and the day before (Paris days; again if
the meeting moved). Every
notice is claimed by inserting its ``meeting_notices`` row (unique key, ON CONFLICT DO
NOTHING) before it is sent: a second run or a second scheduler process sends nothing again.
Whatever wrote the change (a page, the API, the live screen), the job finds it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa

from ptap.accounts.notifications import NotificationDraft, notify_all
from ptap.core import clock
from ptap.core.formatting import local_datetime
from ptap.core.sql import insert_many_if_absent
from ptap.extensions import db
from ptap.meetings.models import Meeting, MeetingParticipant, MeetingStatus
from ptap.meetings.report_models import MeetingNotice, NoticeKind

#: Meetings looked at per run (the soonest first).
NOTICE_BATCH = 500
_KEY = ("meeting_id", "user_id", "kind", "sequence")
_TITLES = {
    NoticeKind.INVITED: "Invitation à la réunion « {title} » du {when}",
    NoticeKind.CHANGED: "Réunion « {title} » modifiée : désormais le {when}",
    NoticeKind.CANCELLED: "Réunion « {title} » du {when} annulée",
    NoticeKind.REMINDER: "Rappel : réunion « {title} » demain, le {when}",
}


def _draft(meeting: Meeting, user_id: int, kind: NoticeKind) -> NotificationDraft:
    title = _TITLES[kind].format(title=meeting.title, when=local_datetime(meeting.starts_at))
    return NotificationDraft(user_id, f"meeting_{kind}", title[:300], f"/meetings/{meeting.id}")


def _due_notices(
    meeting: Meeting, user_id: int, told: dict[str, list[int]], tomorrow: bool
) -> list[NoticeKind]:
    """Which notices one participant is owed now (``told``: sequences by kind already sent)."""
    cancelled = meeting.status == MeetingStatus.CANCELLED
    about = told.get(NoticeKind.INVITED, []) + told.get(NoticeKind.CHANGED, [])
    about += told.get(NoticeKind.CANCELLED, [])
    owed: list[NoticeKind] = []
    if not about:
        if not cancelled:  # never told of it: nothing to cancel
            owed.append(NoticeKind.INVITED)
    elif meeting.ical_sequence > max(about):
        owed.append(NoticeKind.CANCELLED if cancelled else NoticeKind.CHANGED)
    if (
        tomorrow
        and not cancelled
        and meeting.ical_sequence not in told.get(NoticeKind.REMINDER, [])
    ):
        owed.append(NoticeKind.REMINDER)
    return owed


def send_meeting_notices(now: datetime | None = None) -> int:
    """Send the notices owed to participants of upcoming meetings; return how many were sent."""
    now = now or clock.now()
    tomorrow = clock.paris_day(now) + timedelta(days=1)
    meetings = {
        m.id: m
        for m in db.session.scalars(
            sa.select(Meeting)
            .where(
                Meeting.starts_at > now,
                Meeting.status.in_([MeetingStatus.PLANNED, MeetingStatus.CANCELLED]),
            )
            .order_by(Meeting.starts_at)
            .limit(NOTICE_BATCH)
        )
    }
    if not meetings:
        return 0
    told: dict[tuple[int, int], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for meeting_id, user_id, kind, sequence in db.session.execute(
        sa.select(
            MeetingNotice.meeting_id,
            MeetingNotice.user_id,
            MeetingNotice.kind,
            MeetingNotice.sequence,
        ).where(MeetingNotice.meeting_id.in_(meetings))
    ):
        told[(meeting_id, user_id)][kind].append(sequence)
    candidates: list[tuple[dict[str, object], NotificationDraft]] = []
    for meeting_id, user_id in db.session.execute(
        sa.select(MeetingParticipant.meeting_id, MeetingParticipant.user_id).where(
            MeetingParticipant.meeting_id.in_(meetings)
        )
    ):
        meeting = meetings[meeting_id]
        is_tomorrow = clock.paris_day(meeting.starts_at) == tomorrow
        for kind in _due_notices(meeting, user_id, told[(meeting_id, user_id)], is_tomorrow):
            row = {
                "meeting_id": meeting_id,
                "user_id": user_id,
                "kind": str(kind),
                "sequence": meeting.ical_sequence,
                "sent_at": now,
            }
            candidates.append((row, _draft(meeting, user_id, kind)))
    claimed = insert_many_if_absent(MeetingNotice, [row for row, _ in candidates], _KEY)
    drafts = [note for row, note in candidates if tuple(row[k] for k in _KEY) in claimed]
    notify_all(drafts)
    return len(drafts)
