"""iCalendar (RFC 5545) files of meetings, and each user's private, revocable feed.

Produced with the ``icalendar`` library. What leaves the platform in a calendar never names a
patient: an event carries the meeting's date and duration, neutral wording in place of its
title and place (free text may name anyone: "RCP Mme Ly" - no deny-list can tell), the video
link when it is a plain web address naming no patient of the meeting or of its team, and a
link back to PTAP. Neither the free text nor the team's name nor the agenda is ever written.

The feed is reached by a URL holding a random token (calendar clients cannot log in); only
its SHA-256 is stored, creating a new feed revokes the previous one, and revoking it makes
the URL answer 404.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import timedelta

import icalendar
import sqlalchemy as sa
from flask import current_app

from ptap.accounts.models import User
from ptap.audit.services import AuditContext, record_event
from ptap.care_teams import access
from ptap.care_teams.models import Enrolment, Patient
from ptap.core.errors import PermissionDenied
from ptap.core.models import utcnow
from ptap.core.policy import is_clinician
from ptap.extensions import db
from ptap.meetings.models import Meeting, MeetingAgendaItem, MeetingStatus
from ptap.meetings.permissions import participating_meeting_ids
from ptap.meetings.report_models import CalendarFeed

PRODID = "-//PTAP//Concertations pluriprofessionnelles//FR"
GENERIC_TITLE = "Réunion de concertation pluriprofessionnelle"
GENERIC_PLACE = "Lieu indiqué dans PTAP"
TOKEN_PREFIX = "ptapcal_"  # noqa: S105 - a prefix, not a secret
#: Past meetings kept in the feed (calendar clients keep what they already have).
FEED_PAST_DAYS = 90
_WORD = re.compile(r"[A-Z0-9]+")
#: Long digit runs look like an INS / NIR (13 digits + key): never written.
_DIGITS = re.compile(r"\d[\d .]{11,}\d")
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def _words(text: str) -> set[str]:
    return set(_WORD.findall(_fold(text)))


def patient_words(team_ids: Iterable[int], meeting_ids: Iterable[int]) -> set[str]:
    """The name words (3 letters and more) and INS of the patients of these meetings and teams."""
    on_agenda = sa.select(MeetingAgendaItem.patient_id).where(
        MeetingAgendaItem.meeting_id.in_(set(meeting_ids))
    )
    followed = sa.select(Enrolment.patient_id).where(Enrolment.team_id.in_(set(team_ids)))
    rows = db.session.execute(
        sa.select(
            Patient.birth_name,
            Patient.used_name,
            Patient.first_names,
            Patient.used_first_name,
            Patient.ins_matricule,
        ).where(sa.or_(Patient.id.in_(on_agenda), Patient.id.in_(followed)))
    )
    words: set[str] = set()
    for row in rows:
        for value in row:
            words |= {w for w in _words(value or "") if len(w) >= 3}
    return words


def is_safe(text: str, words: set[str]) -> bool:
    """Tell whether a free text names none of these patients and holds no INS-like number."""
    return not (_words(text) & words) and not _DIGITS.search(text)


def is_video_link(url: str, words: set[str]) -> bool:
    """Tell whether the video link is a plain http(s) address naming no patient."""
    return bool(_URL.fullmatch(url)) and is_safe(url, words)


def meeting_uid(meeting: Meeting) -> str:
    """The event's UID: the same for the meeting's whole life, unique across installations."""
    host = current_app.config["PUBLIC_URL"].split("://")[-1].split("/")[0].split(":")[0]
    return f"meeting-{meeting.id}-{int(meeting.created_at.timestamp())}@{host or 'ptap'}"


def _organizer(chair: User | None) -> icalendar.vCalAddress | None:
    """The chair as ORGANIZER (iTIP wants one on a CANCEL): a professional, never a patient."""
    if chair is None:
        return None
    organizer = icalendar.vCalAddress(f"mailto:{chair.email}")
    organizer.params["cn"] = icalendar.vText(chair.full_name)
    return organizer


def _event(meeting: Meeting, words: set[str], chair: User | None) -> icalendar.Event:
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    link = f"{base}/meetings/{meeting.id}"
    event = icalendar.Event()
    event.add("uid", meeting_uid(meeting))
    event.add("dtstamp", utcnow())
    event.add("dtstart", meeting.starts_at)
    event.add("dtend", meeting.starts_at + timedelta(minutes=meeting.duration_minutes))
    event.add("sequence", meeting.ical_sequence)
    event.add("summary", GENERIC_TITLE)  # free text never leaves PTAP
    cancelled = meeting.status == MeetingStatus.CANCELLED
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("location", GENERIC_PLACE)
    video = meeting.video_url.strip()
    lines = [
        "Réunion annulée." if cancelled else "Concertation pluriprofessionnelle.",
        f"Visioconférence : {video}" if is_video_link(video, words) else "",
        f"Ordre du jour et documents dans PTAP (connexion requise) : {link}",
    ]
    event.add("description", "\n".join(line for line in lines if line))
    event.add("url", link)
    event.add("class", "CONFIDENTIAL")
    organizer = _organizer(chair)
    if organizer is not None:
        event.add("organizer", organizer)
    return event


def build_calendar(meetings: Sequence[Meeting], *, method: str | None = None) -> bytes:
    """Return an iCalendar file of these meetings (patients named nowhere)."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    team_ids = {m.team_id for m in meetings}
    words = patient_words(team_ids, [m.id for m in meetings]) if meetings else set()
    chair_ids = {m.chair_id for m in meetings}
    chairs = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(chair_ids)))}
    for meeting in meetings:
        cal.add_component(_event(meeting, words, chairs.get(meeting.chair_id)))
    return cal.to_ical()


def meeting_ics(meeting: Meeting) -> bytes:
    """The file of one meeting: METHOD:PUBLISH, or METHOD:CANCEL once it is cancelled."""
    cancelled = meeting.status == MeetingStatus.CANCELLED
    return build_calendar([meeting], method="CANCEL" if cancelled else "PUBLISH")


# --- the private feed ------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_feed(user_id: int) -> CalendarFeed | None:
    """Return the user's feed, if they created one."""
    return db.session.scalar(sa.select(CalendarFeed).where(CalendarFeed.user_id == user_id))


def create_calendar_feed(user: User, ctx: AuditContext) -> str:
    """Create the user's feed (revoking the previous one); return its token, shown once."""
    if not is_clinician(user):
        raise PermissionDenied()
    db.session.execute(sa.delete(CalendarFeed).where(CalendarFeed.user_id == user.id))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(CalendarFeed(user_id=user.id, token_hash=_hash(token), prefix=token[:14]))
    db.session.flush()
    record_event(ctx, "calendar_feed.create", object_type="user", object_id=user.id)
    return token


def revoke_calendar_feed(user: User, ctx: AuditContext) -> bool:
    """Revoke the user's feed: its URL answers 404 from now on. Tell whether one existed."""
    done = db.session.execute(sa.delete(CalendarFeed).where(CalendarFeed.user_id == user.id))
    revoked = bool(done.rowcount)  # type: ignore[attr-defined]
    if revoked:
        record_event(ctx, "calendar_feed.revoke", object_type="user", object_id=user.id)
    return revoked


def feed_owner(token: str) -> User | None:
    """Return the active user whose feed this token opens, or None (unknown or revoked)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    return db.session.scalar(
        sa.select(User)
        .join(CalendarFeed, CalendarFeed.user_id == User.id)
        .where(CalendarFeed.token_hash == _hash(token), User.active)
    )


def user_meetings(user: User) -> list[Meeting]:
    """The meetings the user takes part in (invited, chair or secretary), recent and upcoming."""
    since = utcnow() - timedelta(days=FEED_PAST_DAYS)
    # Only while taking part: a former member or a guest whose access ended drops out.
    invited = participating_meeting_ids(user.id)
    runs = sa.and_(
        sa.or_(Meeting.chair_id == user.id, Meeting.secretary_id == user.id),
        Meeting.team_id.in_(access.active_team_ids(user.id)),
    )
    return list(
        db.session.scalars(
            sa.select(Meeting)
            .where(Meeting.starts_at >= since, sa.or_(Meeting.id.in_(invited), runs))
            .order_by(Meeting.starts_at, Meeting.id)
        )
    )


def feed_ics(user: User) -> bytes:
    """The user's feed: each of their meetings, a cancelled one with STATUS:CANCELLED."""
    return build_calendar(user_meetings(user))
