"""Request clocks: working days in France, deadlines, elapsed time against a team's target.

A working day is Monday to Friday, except the eleven national public holidays (computed, the
moveable ones from Easter: no network, no table to update). Days are Paris calendar days. A
target of *n* working days means: by the end of the *n*-th working day after the day of
reception. A request received on Friday at 17:00 before Easter Monday with a 2-day target is
due by the end of Wednesday (Tuesday and Wednesday being the two working days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from ptap.core import clock


def easter_sunday(year: int) -> date:
    """Return Easter Sunday of a Gregorian year (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def french_public_holidays(year: int) -> frozenset[date]:
    """Return the national public holidays (jours fériés) of a year in mainland France.

    Alsace-Moselle's two extra days (Good Friday, 26 December) and overseas abolition days are
    local: they are not counted.
    """
    easter = easter_sunday(year)
    return frozenset(
        {
            date(year, 1, 1),
            easter + timedelta(days=1),  # Easter Monday
            date(year, 5, 1),
            date(year, 5, 8),
            easter + timedelta(days=39),  # Ascension Thursday
            easter + timedelta(days=50),  # Whit Monday
            date(year, 7, 14),
            date(year, 8, 15),
            date(year, 11, 1),
            date(year, 11, 11),
            date(year, 12, 25),
        }
    )


def is_working_day(day: date) -> bool:
    """Tell whether a day is worked: Monday to Friday and not a public holiday."""
    return day.weekday() < 5 and day not in french_public_holidays(day.year)


def add_working_days(day: date, count: int) -> date:
    """Return the `count`-th working day after `day` (`day` itself when count is 0)."""
    if count < 0:
        raise ValueError("count must be >= 0")
    current = day
    remaining = count
    while remaining:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Count the working days after `start` up to and including `end` (0 if end <= start)."""
    if end <= start:
        return 0
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count


def working_deadline(received_at: datetime, working_days: int) -> datetime:
    """Return the instant a target of `working_days` expires: the end of that working day."""
    last_day = add_working_days(clock.paris_day(received_at), working_days)
    return clock.paris_midnight(last_day + timedelta(days=1))


def calendar_deadline(received_at: datetime, days: int) -> datetime:
    """Return the end of the `days`-th calendar day after the day of reception (Paris)."""
    last_day = clock.paris_day(received_at) + timedelta(days=days)
    return clock.paris_midnight(last_day + timedelta(days=1))


def elapsed_working_days(start: datetime, end: datetime) -> int:
    """Return the working days elapsed between two instants (Paris days after the start's)."""
    return working_days_between(clock.paris_day(start), clock.paris_day(end))


@dataclass(frozen=True)
class Clock:
    """One clock of a request: when it started, its deadline, and where it stands at `now`."""

    name: str
    started_at: datetime
    due_at: datetime
    #: When the clock stopped (the step happened), or None while it runs.
    stopped_at: datetime | None
    #: The target, in its unit (working days, or calendar days when `working` is False).
    target: int
    working: bool
    #: Elapsed time in the target's unit, up to the stop or to `now`.
    elapsed: int
    #: Elapsed wall-clock time, up to the stop or to `now`.
    duration: timedelta
    late: bool

    @property
    def running(self) -> bool:
        return self.stopped_at is None


def make_clock(
    name: str,
    started_at: datetime,
    due_at: datetime,
    stopped_at: datetime | None,
    *,
    target: int,
    working: bool,
    now: datetime,
    running: bool = True,
) -> Clock:
    """Build a clock; a clock not `running` (request closed) and never stopped is not late.

    A stopped clock is late when it stopped after its deadline; a running one when `now` is
    past the deadline.
    """
    end = stopped_at or now
    if working:
        elapsed = elapsed_working_days(started_at, end)
    else:
        elapsed = max(0, (clock.paris_day(end) - clock.paris_day(started_at)).days)
    late = stopped_at >= due_at if stopped_at is not None else running and now >= due_at
    return Clock(
        name=name,
        started_at=started_at,
        due_at=due_at,
        stopped_at=stopped_at,
        target=target,
        working=working,
        elapsed=elapsed,
        duration=max(timedelta(0), end - started_at),
        late=late,
    )


def is_past(due_at: datetime, now: datetime | None = None) -> bool:
    """Tell whether a deadline has passed at `now` (the clock's now by default)."""
    return (now or clock.now()) >= due_at


@dataclass(frozen=True)
class IntakeTargets:
    """A team's intake targets (the defaults when it set none)."""

    first_answer_working_days: int = 2
    evaluation_working_days: int = 10
    ppcs_days: int = 60


@dataclass(frozen=True)
class Deadlines:
    """The three deadlines of a request received at a given instant."""

    first_answer_due_at: datetime
    evaluation_due_at: datetime
    ppcs_due_at: datetime


def deadlines(received_at: datetime, targets: IntakeTargets) -> Deadlines:
    """Compute a request's deadlines from its reception and the team's targets."""
    return Deadlines(
        first_answer_due_at=working_deadline(received_at, targets.first_answer_working_days),
        evaluation_due_at=working_deadline(received_at, targets.evaluation_working_days),
        ppcs_due_at=calendar_deadline(received_at, targets.ppcs_days),
    )
