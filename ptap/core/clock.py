"""The one clock of PTAP: every "now" and every "today" comes from here.

Instants are timezone-aware UTC; calendar days (membership dates, due dates, re-evaluation
dates) are days in Europe/Paris, where the users are, whatever the server's own timezone.
Tests move time with :func:`frozen` instead of patching module globals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

#: The users' timezone: calendar days are Paris days.
PARIS = ZoneInfo("Europe/Paris")


def _system_now() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _system_now


def now() -> datetime:
    """Return the current instant, timezone-aware, in UTC."""
    return _source().astimezone(UTC)


def paris_today() -> date:
    """Return today's calendar day in Paris (the day users live in)."""
    return now().astimezone(PARIS).date()


def paris_day(instant: datetime) -> date:
    """Return the Paris calendar day of an instant (naive instants are taken as UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(PARIS).date()


def paris_midnight(day: date) -> datetime:
    """Return the UTC instant at which a Paris calendar day starts."""
    return datetime(day.year, day.month, day.day, tzinfo=PARIS).astimezone(UTC)


def set_source(source: Callable[[], datetime] | None) -> None:
    """Replace the clock's source (tests, simulations); ``None`` restores the system clock."""
    global _source
    _source = source or _system_now


@contextmanager
def frozen(instant: datetime) -> Iterator[None]:
    """Freeze the clock at an aware instant for the duration of a ``with`` block."""
    if instant.tzinfo is None:
        raise ValueError("freeze the clock at an aware instant")
    previous = _source
    set_source(lambda: instant)
    try:
        yield
    finally:
        set_source(previous)
