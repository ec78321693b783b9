"""Filters' defaults, duration buckets and the protected duration table."""

from datetime import UTC, date, datetime

from ptap.core import clock
from ptap.monitoring import queries
from ptap.monitoring.indicators import BY_KEY, duration_bucket
from ptap.monitoring.permissions import Scope


def test_default_period_is_the_last_twelve_months(db):
    with clock.frozen(datetime(2026, 12, 7, 9, tzinfo=UTC)):
        filters = queries.parse_filters({}, Scope(None))
    assert (filters.first, filters.last) == (date(2026, 1, 1), date(2026, 12, 1))
    with clock.frozen(datetime(2026, 3, 7, 9, tzinfo=UTC)):
        filters = queries.parse_filters({}, Scope(None))
    assert (filters.first, filters.last) == (date(2025, 4, 1), date(2026, 3, 1))


def test_duration_buckets_and_labels():
    assert duration_bucket(0.5) == "00000"
    assert duration_bucket(13) == "00012"
    assert duration_bucket(5000) == "01440"
    assert queries.duration_label(12, 24) == "12 à 24 h"
    assert queries.duration_label(72, 96) == "3 j à 4 j"
    assert queries.duration_label(1440, None) == "60 j ou plus"


def test_median_and_p90_come_from_the_summed_histogram_and_hide_small_groups():
    ind = BY_KEY["first_answer_hours"]
    months = [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    counts = {
        ("first_answer_hours", months[0], "00004"): 3,
        ("first_answer_hours", months[0], "00024"): 4,
        ("first_answer_hours", months[1], "00024"): 9,
        ("first_answer_hours", months[1], "00096"): 6,
    }
    table = queries._duration_table(ind, months, counts, whole_quarter=True)
    january, february, march, period = table.durations
    assert march.people.value == 0 and period.label == "T1 2026"
    assert january.people.suppressed and january.median is None and january.p90 is None
    # 15 people: the statistics are shown, but the count is hidden too (secondary
    # suppression), or the quarter's 22 minus 15 would give January's 7.
    assert february.people.suppressed
    assert february.median == "24 à 36 h" and february.p90 == "4 j à 5 j"
    assert period.people.value == 22
    assert period.median == "24 à 36 h" and period.p90 == "4 j à 5 j"
