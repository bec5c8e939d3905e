"""Time-zone period edges: a period is the calendar month in the client's zone, DST-safe."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.periods import (
    Period,
    contract_year_start,
    local_midnight_utc,
    period_bounds,
    period_of_instant,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_new_york_march_spans_the_dst_change_and_is_one_hour_short() -> None:
    start, end = period_bounds("2025-03", "America/New_York")
    assert start == utc(2025, 3, 1, 5)  # EST, UTC-5
    assert end == utc(2025, 4, 1, 4)  # EDT, UTC-4
    assert end - start == timedelta(days=31, hours=-1)


def test_sydney_april_ends_daylight_saving_and_is_one_hour_long() -> None:
    start, end = period_bounds(Period(2025, 4), "Australia/Sydney")
    assert start == utc(2025, 3, 31, 13)  # AEDT, UTC+11
    assert end == utc(2025, 4, 30, 14)  # AEST, UTC+10
    assert end - start == timedelta(days=30, hours=1)


def test_half_and_quarter_hour_offsets() -> None:
    assert period_bounds("2025-01", "Asia/Kolkata")[0] == utc(2024, 12, 31, 18, 30)
    assert period_bounds("2025-01", "Asia/Kathmandu")[0] == utc(2024, 12, 31, 18, 15)
    assert period_bounds("2025-01", "Pacific/Kiritimati")[0] == utc(2024, 12, 31, 10)


def test_a_skipped_local_midnight_starts_the_day_at_the_transition_instant() -> None:
    # Chile springs forward at 00:00 on 7 Sep 2025: local midnight does not exist, the day starts at 01:00
    # local = 04:00 UTC, which is also where 00:00 in the old offset (-04) lands.
    assert local_midnight_utc(date(2025, 9, 7), "America/Santiago") == utc(2025, 9, 7, 4)


def test_event_one_second_before_local_midnight_belongs_to_the_earlier_period() -> None:
    assert period_of_instant(utc(2025, 4, 1, 3, 59, 59), "America/New_York") == Period(2025, 3)
    assert period_of_instant(utc(2025, 4, 1, 4, 0, 0), "America/New_York") == Period(2025, 4)
    # Sydney is ahead of UTC: 13:00 UTC on 28 Feb is already 1 March there
    assert period_of_instant(utc(2025, 2, 28, 13, 0), "Australia/Sydney") == Period(2025, 3)
    assert period_of_instant(utc(2025, 2, 28, 12, 59, 59), "Australia/Sydney") == Period(2025, 2)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError):
        period_of_instant(datetime(2025, 1, 1), "UTC")


def test_period_parsing_and_arithmetic() -> None:
    assert str(Period.parse("2025-12").shift(1)) == "2026-01"
    assert Period.parse("2024-02").days == 29
    assert Period.parse("2025-02").days == 28
    for bad in ("2025-13", "2025-1", "25-01", "2025-01-01"):
        with pytest.raises(ValueError):
            Period.parse(bad)


def test_contract_years_run_twelve_periods_from_the_anchor() -> None:
    anchor = Period(2025, 4)
    assert contract_year_start(Period(2025, 4), anchor) == Period(2025, 4)
    assert contract_year_start(Period(2026, 3), anchor) == Period(2025, 4)
    assert contract_year_start(Period(2026, 4), anchor) == Period(2026, 4)
    assert contract_year_start(Period(2025, 3), anchor) == Period(2024, 4)


ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/Santiago",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "Africa/Casablanca",
    "Pacific/Apia",
    "Asia/Tokyo",
]


@settings(max_examples=150, deadline=None)
@given(zone=st.sampled_from(ZONES), index=st.integers(min_value=2000 * 12, max_value=2040 * 12))
def test_periods_tile_time_without_gaps_or_overlaps(zone: str, index: int) -> None:
    p = Period.from_index(index)
    start, end = period_bounds(p, zone)
    nxt_start, _ = period_bounds(p.shift(1), zone)
    assert end == nxt_start
    assert timedelta(days=27) < end - start < timedelta(days=32)
    assert period_of_instant(start, zone) == p
    assert period_of_instant(end - timedelta(microseconds=1), zone) == p
    assert period_of_instant(end, zone) == p.shift(1)
