from datetime import UTC, date, datetime

from ptap.core.formatting import fr_date, ins_format, label, local_date, local_datetime


def test_ins_is_grouped_as_on_the_carte_vitale_and_odd_values_are_left_alone():
    assert ins_format("240056938100142") == "2 40 05 69 381 001 42"
    assert ins_format("12345") == "12345"
    assert ins_format(None) == ""


def test_times_are_shown_in_paris_time_across_daylight_saving():
    assert local_datetime(datetime(2026, 7, 1, 12, 5, tzinfo=UTC)) == "01/07/2026 à 14:05"
    assert local_datetime(datetime(2026, 12, 1, 12, 5, tzinfo=UTC)) == "01/12/2026 à 13:05"
    # 23:30 UTC on 31 December is already the next day in Paris.
    assert local_date(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "01/01/2027"
    assert local_datetime(None) == local_date(None) == ""


def test_days_and_labels():
    assert fr_date(date(2026, 3, 5)) == "05/03/2026"
    assert label({"a": "Alpha"}, "a") == "Alpha"
    assert label({"a": "Alpha"}, "zz") == "zz"
