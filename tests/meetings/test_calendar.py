"""iCalendar files and private feeds: parsed back by icalendar, and never naming a patient."""

from __future__ import annotations

from datetime import timedelta

import icalendar
import pytest

from ptap.meetings import calendar
from ptap.meetings.models import MeetingStatus
from tests.meetings.report_world import ReportWorld, build_report_world, ctx


@pytest.fixture
def w(db) -> ReportWorld:
    world = build_report_world()
    world.meeting.status = MeetingStatus.PLANNED
    return world


def events(data: bytes) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(data).walk("VEVENT"))


def patient_traits(w: ReportWorld) -> list[str]:
    p = w.patient
    return [p.birth_name, *p.first_names.split(), p.ins_matricule, p.birth_date_label]


def assert_names_no_patient(data: bytes, w: ReportWorld) -> None:
    text = data.decode().upper()
    unfolded = text.replace("\r\n ", "")
    for trait in patient_traits(w):
        assert trait.upper() not in unfolded, trait


def test_meeting_file_is_parsed_back_with_a_stable_uid_and_growing_sequence(db, w):
    first = calendar.meeting_ics(w.meeting)
    cal = icalendar.Calendar.from_ical(first)
    assert cal["METHOD"] == "PUBLISH" and cal["VERSION"] == "2.0"
    [event] = events(first)
    uid = str(event["UID"])
    assert event["SEQUENCE"] == 0 and event["STATUS"] == "CONFIRMED"
    assert event.decoded("DTSTART") == w.meeting.starts_at
    assert event.decoded("DTEND") == w.meeting.starts_at + timedelta(minutes=90)
    assert str(event["SUMMARY"]) == calendar.GENERIC_TITLE
    assert f"/meetings/{w.meeting.id}" in str(event["URL"])
    assert str(event["ORGANIZER"]) == f"mailto:{w.chair.email}"

    w.meeting.starts_at += timedelta(days=1)
    w.meeting.ical_sequence += 1
    [moved] = events(calendar.meeting_ics(w.meeting))
    assert str(moved["UID"]) == uid and moved["SEQUENCE"] == 1

    w.meeting.status = MeetingStatus.CANCELLED
    w.meeting.ical_sequence += 1
    cancelled = calendar.meeting_ics(w.meeting)
    assert icalendar.Calendar.from_ical(cancelled)["METHOD"] == "CANCEL"
    [gone] = events(cancelled)
    assert str(gone["UID"]) == uid and gone["SEQUENCE"] == 2 and gone["STATUS"] == "CANCELLED"


def test_no_patient_is_named_even_when_typed_in_free_text(db, w):
    w.meeting.title = f"RCP {w.patient.birth_name.title()}"
    w.meeting.place = f"Domicile de Mme {w.patient.first_names.split()[0]}"
    w.meeting.video_url = f"https://visio.example.test/{w.patient.birth_name.lower()}"
    data = calendar.meeting_ics(w.meeting)
    assert_names_no_patient(data, w)
    [event] = events(data)
    assert str(event["SUMMARY"]) == calendar.GENERIC_TITLE
    assert str(event["LOCATION"]) == calendar.GENERIC_PLACE
    assert "Visioconférence" not in str(event["DESCRIPTION"])
    w.meeting.title = f"Point INS {w.patient.ins_matricule}"
    assert_names_no_patient(calendar.meeting_ics(w.meeting), w)


def test_free_text_never_leaves_ptap_only_a_plain_video_link_does(db, w):
    data = calendar.meeting_ics(w.meeting)
    assert_names_no_patient(data, w)
    [event] = events(data)
    assert str(event["SUMMARY"]) == calendar.GENERIC_TITLE
    assert str(event["LOCATION"]) == calendar.GENERIC_PLACE
    assert "https://visio.example.test/rcp-42" in str(event["DESCRIPTION"])
    assert w.team.name not in data.decode().replace("\r\n ", "")
    # A name no deny-list knows (two letters, someone outside the team) stays inside too.
    w.meeting.title, w.meeting.place = "RCP Mme Ly", "Chez Mme Ly, 4 rue Neuve"
    w.meeting.video_url = "Salle visio de Mme Ly"  # not a link: not written
    text = calendar.meeting_ics(w.meeting).decode().replace("\r\n ", "")
    assert "Mme Ly" not in text and "RCP" not in text and "Neuve" not in text
    assert "Visioconférence" not in text


def test_feed_lists_the_users_meetings_and_a_revoked_token_opens_nothing(db, w):
    token = calendar.create_calendar_feed(w.nurse, ctx(w.nurse))
    assert token.startswith(calendar.TOKEN_PREFIX)
    feed = calendar.find_feed(w.nurse.id)
    assert feed is not None and token not in (feed.token_hash, feed.prefix)
    assert calendar.feed_owner(token).id == w.nurse.id
    data = calendar.feed_ics(w.nurse)
    assert [str(e["UID"]) for e in events(data)] == [calendar.meeting_uid(w.meeting)]
    assert_names_no_patient(data, w)
    assert events(calendar.feed_ics(w.outsider)) == []
    # A new feed revokes the previous one; revoking leaves nothing.
    second = calendar.create_calendar_feed(w.nurse, ctx(w.nurse))
    assert calendar.feed_owner(token) is None and calendar.feed_owner(second) is not None
    assert calendar.revoke_calendar_feed(w.nurse, ctx(w.nurse))
    assert calendar.feed_owner(second) is None
    assert calendar.feed_owner("ptapcal_guess") is None
