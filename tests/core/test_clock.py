"""The one clock: aware UTC instants, Paris calendar days, injectable in tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from ptap.core import clock
from ptap.core.models import utcnow


def test_now_is_aware_utc():
    value = clock.now()
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


def test_frozen_clock_drives_now_utcnow_and_today():
    instant = datetime(2026, 6, 30, 22, 15, tzinfo=UTC)  # 00:15 on 1 July in Paris (CEST)
    with clock.frozen(instant):
        assert clock.now() == instant
        assert utcnow() == instant
        assert clock.paris_today() == date(2026, 7, 1)
    assert clock.now() != instant


def test_winter_offset_is_one_hour():
    with clock.frozen(datetime(2026, 1, 15, 22, 59, tzinfo=UTC)):
        assert clock.paris_today() == date(2026, 1, 15)
    with clock.frozen(datetime(2026, 1, 15, 23, 0, tzinfo=UTC)):
        assert clock.paris_today() == date(2026, 1, 16)


def test_frozen_clock_given_another_offset_still_answers_utc():
    instant = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=5)))
    with clock.frozen(instant):
        assert clock.now().tzinfo == UTC
        assert clock.now() == instant


def test_paris_midnight_and_day_round_trip():
    start = clock.paris_midnight(date(2026, 7, 1))
    assert start == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
    assert clock.paris_day(start) == date(2026, 7, 1)
    assert clock.paris_day(start - timedelta(seconds=1)) == date(2026, 6, 30)


def test_naive_freeze_is_refused():
    with pytest.raises(ValueError, match="aware"), clock.frozen(datetime(2026, 1, 1)):  # noqa: DTZ001
        pass
