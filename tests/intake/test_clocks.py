"""Working days, French public holidays and request deadlines (pure functions)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ptap.core.clock import PARIS
from ptap.intake import clocks
from ptap.intake.clocks import IntakeTargets


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (2019, date(2019, 4, 21)),
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2038, date(2038, 4, 25)),
        (2285, date(2285, 3, 22)),  # the earliest possible date
    ],
)
def test_easter_sunday_matches_the_calendar(year, easter):
    assert clocks.easter_sunday(year) == easter


def test_french_public_holidays_2026_include_the_moveable_ones():
    holidays = clocks.french_public_holidays(2026)
    assert len(holidays) == 11
    assert date(2026, 4, 6) in holidays  # Easter Monday
    assert date(2026, 5, 14) in holidays  # Ascension
    assert date(2026, 5, 25) in holidays  # Whit Monday
    assert date(2026, 4, 3) not in holidays  # Good Friday: Alsace-Moselle only
    assert date(2026, 12, 26) not in holidays


def test_working_days_skip_weekends_and_holidays():
    assert clocks.is_working_day(date(2026, 12, 7))  # a Monday
    assert not clocks.is_working_day(date(2026, 12, 5))  # Saturday
    assert not clocks.is_working_day(date(2026, 12, 25))  # Christmas, a Friday
    # Thursday 24 December + 2 working days: Monday 28 and Tuesday 29.
    assert clocks.add_working_days(date(2026, 12, 24), 2) == date(2026, 12, 29)
    # 30 April 2026 (Thursday) + 1: Friday 1 May is a holiday, so Monday 4 May.
    assert clocks.add_working_days(date(2026, 4, 30), 1) == date(2026, 5, 4)
    assert clocks.add_working_days(date(2026, 4, 30), 0) == date(2026, 4, 30)
    with pytest.raises(ValueError, match="count"):
        clocks.add_working_days(date(2026, 4, 30), -1)


def test_working_days_between_counts_days_after_the_start():
    assert clocks.working_days_between(date(2026, 4, 3), date(2026, 4, 6)) == 0  # Easter Monday
    assert clocks.working_days_between(date(2026, 4, 3), date(2026, 4, 7)) == 1
    assert clocks.working_days_between(date(2026, 4, 3), date(2026, 4, 10)) == 4
    assert clocks.working_days_between(date(2026, 4, 10), date(2026, 4, 3)) == 0


def test_friday_evening_before_easter_monday_is_due_end_of_wednesday():
    received = datetime(2026, 4, 3, 17, 0, tzinfo=PARIS)
    due = clocks.working_deadline(received, 2)
    # End of Wednesday 8 April, Paris (summer time: 22:00 UTC).
    assert due == datetime(2026, 4, 8, 22, 0, tzinfo=UTC)
    assert not clocks.is_past(due, datetime(2026, 4, 8, 23, 59, tzinfo=PARIS))
    assert clocks.is_past(due, datetime(2026, 4, 9, 0, 0, tzinfo=PARIS))


def test_calendar_deadline_counts_every_day():
    received = datetime(2026, 1, 30, 23, 30, tzinfo=UTC)  # already 31 January in Paris
    assert clocks.calendar_deadline(received, 1) == datetime(2026, 2, 1, 23, 0, tzinfo=UTC)


def test_deadlines_follow_each_target():
    received = datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)  # Monday
    due = clocks.deadlines(received, IntakeTargets(1, 5, 30))
    assert due.first_answer_due_at == datetime(2026, 12, 8, 23, 0, tzinfo=UTC)  # end Tue
    assert due.evaluation_due_at == datetime(2026, 12, 14, 23, 0, tzinfo=UTC)  # end next Mon
    assert due.ppcs_due_at == datetime(2027, 1, 6, 23, 0, tzinfo=UTC)


def test_make_clock_reports_elapsed_and_lateness():
    start = datetime(2026, 4, 3, 15, 0, tzinfo=UTC)  # Friday 17:00 Paris
    due = clocks.working_deadline(start, 2)
    running = clocks.make_clock(
        "first_answer", start, due, None, target=2, working=True, now=due + timedelta(hours=1)
    )
    assert running.running and running.late and running.elapsed == 3
    stopped = clocks.make_clock(
        "first_answer",
        start,
        due,
        start + timedelta(days=4),
        target=2,
        working=True,
        now=due + timedelta(days=9),
    )
    assert not stopped.running and not stopped.late and stopped.elapsed == 1
    assert stopped.duration == timedelta(days=4)
    closed = clocks.make_clock(
        "first_answer", start, due, None, target=2, working=True, now=due, running=False
    )
    assert not closed.late
